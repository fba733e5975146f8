import csv
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from fixtures_train import synthetic_pairs, video_layout, write_features, write_workspace

from mvclr.contrastive import fitting as training
from mvclr.contrastive import heads
from mvclr.contrastive.sources import Pairs, standardisation
from mvclr.contrastive.autoencoder import initialise_from_autoencoders
from mvclr.contrastive.configuration import FIT_KEYS
from mvclr.evaluation import retrieval
from stages import train
from mvclr.contrastive.batching import epoch_batches
from mvclr.config import load_params, train_config
from mvclr.contrastive.losses import contrastive_loss

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def splits():
    video_ids, split = video_layout(60)
    audio, video = synthetic_pairs(video_ids, noise=3.0)
    return {s: Pairs(audio[split == s], video[split == s], video_ids[split == s])
            for s in ("train", "val")}


def config(**overrides):
    cfg = train_config(load_params(REPO / "params.yaml"), "cl_base")
    cfg.update(hidden_dim=32, embed_dim=16, **overrides)
    return cfg


def fitted(splits, cfg, seed=0):
    torch.manual_seed(seed)
    model = heads.build(cfg, splits["train"].audio.shape[1], splits["train"].video.shape[1])
    model.set_standardisation(*standardisation(splits["train"]))
    result = training.fit(model, splits["train"], splits["val"], **{k: cfg[k] for k in FIT_KEYS},
                          seed=seed, device=torch.device("cpu"), progress=False)
    return model, result


def val_median_rank(model, pairs):
    return retrieval.median_rank(*heads.embed(model, pairs.audio, pairs.video))


@pytest.mark.parametrize("overrides", [{}, {"loss": "clip", "head_activation": "none",
                                            "learn_tau": True, "tau": 0.1}])
def test_fit_aligns_pairs_restores_best_epoch_and_decays_lr(splits, overrides):
    cfg = config(patience=2, **overrides)
    torch.manual_seed(0)
    untrained = heads.build(cfg, 24, 16)
    untrained.set_standardisation(*standardisation(splits["train"]))
    chance = (len(splits["val"].video_ids) + 1) / 2
    assert val_median_rank(untrained, splits["val"]) > chance / 2

    model, result = fitted(splits, cfg)
    history = result.history
    assert [h["epoch"] for h in history] == list(range(1, len(history) + 1))
    assert result.best_epoch < len(history) <= result.best_epoch + cfg["patience"]  # stopped early
    val_losses = [h["val_loss"] for h in history]
    assert result.best_epoch == int(np.argmin(val_losses)) + 1
    assert val_losses[-1] > result.best_val_loss
    # the returned weights are the best epoch's
    best = history[result.best_epoch - 1]
    assert val_median_rank(model, splits["val"]) == best["val_median_rank"] < chance / 2
    assert model.tau.item() == pytest.approx(best["tau"])
    assert not model.training
    val_batches = epoch_batches(splits["val"].video_ids, cfg["batch_size"],
                                np.random.default_rng(0))
    a, v = (torch.from_numpy(x) for x in (splits["val"].audio, splits["val"].video))
    loss_fn = contrastive_loss(cfg["loss"])
    with torch.no_grad():
        per_batch = [float(loss_fn(*model(a[i], v[i]), model.tau)) for i in map(torch.as_tensor, val_batches)]
    assert np.mean(per_batch) == pytest.approx(result.best_val_loss, rel=1e-5)
    np.testing.assert_allclose([h["lr"] for h in history],
                               cfg["lr"] * cfg["lr_gamma"] ** np.arange(len(history)))
    if cfg["learn_tau"]:
        assert len({h["tau"] for h in history}) > 1


def test_no_improvement_stops_after_patience(splits):
    # lr 0 and no BatchNorm: the validation loss never changes, so never improves after epoch 1
    _, result = fitted(splits, config(lr=0.0, batchnorm=False, patience=3))
    assert len(result.history) == 4 and result.best_epoch == 1


def test_fit_is_deterministic_in_the_seed(splits):
    cfg = config(max_epochs=3, patience=5)
    first, again, other = (fitted(splits, cfg, seed)[1].history for seed in (0, 0, 1))
    assert first == again
    assert first != other


def test_fit_rejects_a_validation_split_without_negatives(splits):
    one_video = Pairs(splits["val"].audio[:6], splits["val"].video[:6],
                               np.array(["v"] * 6))
    model = heads.build(config(), 24, 16)
    with pytest.raises(ValueError, match="validation split"):
        training.fit(model, splits["train"], one_video, **{k: config()[k] for k in FIT_KEYS},
                     seed=0, progress=False)


def test_autoencoder_initialisation(splits):
    cfg = config(head_layers=3)
    torch.manual_seed(0)
    model = heads.build(cfg, 24, 16)
    model.set_standardisation(*standardisation(splits["train"]))
    before = model.audio_head[0].weight.detach().clone()
    curves = initialise_from_autoencoders(model, splits["train"], epochs=8, lr=0.01,
                                                   batch_size=64, seed=0,
                                                   device=torch.device("cpu"), progress=False)
    assert set(curves) == {"audio", "video"}
    for curve in curves.values():
        assert len(curve) == 8 and curve[-1] < 0.8 * curve[0]
    assert not torch.equal(before, model.audio_head[0].weight)

    single = heads.build(config(single_head=True), 24, 16)
    curves = initialise_from_autoencoders(single, splits["train"], epochs=1, lr=0.01,
                                                   batch_size=64, seed=0,
                                                   device=torch.device("cpu"), progress=False)
    assert set(curves) == {"video"}


def test_train_stage(tmp_path, monkeypatch):
    write_workspace(tmp_path, n_videos=30)
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params.update(max_epochs=2, hidden_dim=16, embed_dim=8)
    params["paper_base"].update(max_epochs=2, hidden_dim=16)
    params["autoencoder"]["epochs"] = 1
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    monkeypatch.chdir(tmp_path)

    for name in ("main", "ae_init", "single_head"):
        train.main(["--config", name])
        model = heads.load(f"models/{name}.pt")
        assert model.meta["name"] == name and model.meta["n_train"] == 24 * 6
        rows = list(csv.DictReader(open(f"reports/train/{name}.csv")))
        assert list(rows[0]) == list(training.HISTORY_COLUMNS) and len(rows) == 2
    za, zv = heads.embed(model, np.zeros((3, 24), np.float32), np.zeros((3, 16), np.float32))
    assert za.shape == zv.shape == (3, 24)                          # single head: audio's size
    assert heads.load("models/main.pt").config["embed_dim"] == 8
    assert heads.load("models/ae_init.pt").meta["autoencoder_loss"]["audio"]

    # a feature store that does not match the segment store is named
    shutil.rmtree("features/video.zarr")
    write_features(Path("features/video.zarr"), np.zeros((10, 16), np.float32))
    with pytest.raises(ValueError, match="video.zarr"):
        train.main(["--config", "main"])


def test_losses_relative_to_chance_compare_batches_of_different_sizes(splits):
    """Validation batches of 6 pairs and training batches of 40: the raw losses differ by
    their chance scale alone, the losses relative to chance do not (lr 0: no learning)."""
    _, result = fitted(splits, config(lr=0.0, batchnorm=False, dropout=0.0, batch_size=40,
                                      max_epochs=1))
    first = result.history[0]
    assert first["train_loss"] > 1.5 * first["val_loss"]
    assert first["train_loss_vs_chance"] == pytest.approx(first["val_loss_vs_chance"], abs=0.05)
    assert first["val_loss_vs_chance"] == pytest.approx(1.0, abs=0.05)


def test_the_aligned_configuration_learns_a_tau_well_above_the_clamp():
    """Well-aligned pairs (validation median rank 1): with the printed loss a learned tau keeps
    falling towards its clamp (0.01) while the loss falls without bound, so early stopping on
    the validation loss follows 1/tau; the `aligned` configuration's loss has a finite optimum
    in tau, where tau settles. Small batches and lr 0.01 give tau hundreds of steps to move."""
    video_ids, split = video_layout(60)
    audio, video = synthetic_pairs(video_ids, noise=1.0)
    pairs = {s: Pairs(audio[split == s], video[split == s], video_ids[split == s])
             for s in ("train", "val")}
    cfg = train_config(load_params(REPO / "params.yaml"), "aligned")
    cfg.update(hidden_dim=32, embed_dim=16, max_epochs=40, patience=40, lr=0.01, batch_size=32)
    model, result = fitted(pairs, cfg)
    taus = [h["tau"] for h in result.history]
    assert val_median_rank(model, pairs["val"]) == 1                        # aligned
    assert min(taus) > 5 * heads.MIN_TAU and abs(taus[-1] - taus[-10]) < 0.01   # settled
    _, printed = fitted(pairs, {**cfg, "loss": "paper"})                   # the refused choice
    printed_taus = [h["tau"] for h in printed.history]
    assert printed_taus[-1] < 0.4 * min(taus) and printed.best_epoch == len(printed_taus)
    # the printed loss with a learned tau is refused, naming the configuration and the fix
    params = load_params(REPO / "params.yaml")
    params["configs"]["aligned"]["loss"] = "paper"
    with pytest.raises(ValueError, match="'aligned': learn_tau with loss paper .* use loss: clip"):
        train_config(params, "aligned")


def test_the_printed_loss_falls_without_bound_as_tau_shrinks_on_aligned_pairs():
    """Why it is refused: on perfectly aligned unit vectors the printed loss keeps falling
    as tau falls (no optimum), CLIP's cross-entropy does not (it tends to 0)."""
    za = torch.nn.functional.normalize(torch.randn(256, 16, generator=torch.Generator().manual_seed(0)), dim=1)
    paper, clip = contrastive_loss("paper"), contrastive_loss("clip")
    taus = [0.3, 0.1, 0.03, 0.01, 0.003]
    assert all(paper(za, za, a) > paper(za, za, b) + 1 for a, b in zip(taus, taus[1:]))
    assert paper(za, za, 0.003) < -50
    assert all(0 <= clip(za, za, t) < 2 * math.log(256) for t in taus)
