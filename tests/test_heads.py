import numpy as np
import pytest
import torch
from torch import nn

from mvclr.contrastive import heads

BASE = dict(head_layers=2, hidden_dim=16, embed_dim=8, head_activation="sigmoid", batchnorm=True,
            dropout=0.3, single_head=False, tau=1.0, learn_tau=False)


def model(**overrides):
    torch.manual_seed(0)
    return heads.ProjectionModel(audio_dim=12, video_dim=10, **{**BASE, **overrides})


def data(n=20, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.normal(5, 3, size=(n, 12)).astype(np.float32),
            rng.normal(size=(n, 10)).astype(np.float32))


def kinds(head):
    return [type(m).__name__ for m in head]


def test_paper_head_layout():
    m = model()
    assert kinds(m.audio_head) == ["Linear", "BatchNorm1d", "ReLU", "Dropout", "Linear", "Sigmoid"]
    assert [l.out_features for l in m.video_head if isinstance(l, nn.Linear)] == [16, 8]
    assert m.audio_head[3].p == 0.3


def test_four_layers_no_batchnorm_no_activation():
    m = model(head_layers=4, batchnorm=False, head_activation="none")
    assert kinds(m.video_head) == ["Linear", "ReLU", "Dropout"] * 3 + ["Linear"]
    assert [l.out_features for l in m.video_head if isinstance(l, nn.Linear)] == [16, 16, 16, 8]


def test_embeddings_unit_norm_and_sigmoid_positive():
    audio, video = data()
    za, zv = heads.embed(model(), audio, video)
    assert za.dtype == zv.dtype == np.float32 and za.shape == zv.shape == (20, 8)
    np.testing.assert_allclose(np.linalg.norm(za, axis=1), 1, rtol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(zv, axis=1), 1, rtol=1e-5)
    assert (za > 0).all() and (zv > 0).all()
    za, _ = heads.embed(model(head_activation="none"), audio, video)
    assert (za < 0).any()


def test_single_head_projects_video_onto_frozen_audio():
    audio, video = data()
    m = model(single_head=True)
    m.set_standardisation(heads.mean_std([audio]), heads.mean_std([video]))
    assert m.audio_head is None
    za, zv = heads.embed(m, audio, video)
    np.testing.assert_allclose(za, audio / np.linalg.norm(audio, axis=1, keepdims=True), rtol=1e-6)
    assert zv.shape == (20, 12)


def test_standardisation_from_training_vectors():
    audio, video = data()
    audio[:, 3] = 7.0                                       # a constant dimension
    m = model().eval()
    m.set_standardisation(heads.mean_std([audio]), heads.mean_std([video]))
    x = torch.from_numpy(audio)
    expected = (audio - audio.mean(0)) / np.where(audio.std(0) > 0, audio.std(0), 1)
    np.testing.assert_allclose(m.standardise_audio(x).numpy(), expected, rtol=1e-4, atol=1e-5)
    assert m.audio_scale[3] == 1
    with torch.no_grad():
        direct = torch.nn.functional.normalize(m.audio_head(torch.from_numpy(expected)), dim=1)
    np.testing.assert_allclose(m.embed_audio(x).detach().numpy(), direct.numpy(),
                               rtol=1e-4, atol=1e-5)


def test_tau_log_space_learned_and_clamped():
    fixed = model(tau=0.3)
    assert "logit_scale" not in dict(fixed.named_parameters())
    assert fixed.tau.item() == pytest.approx(0.3)
    learned = model(tau=0.3, learn_tau=True)
    assert "logit_scale" in dict(learned.named_parameters())
    with torch.no_grad():
        learned.logit_scale.fill_(10.0)                       # tau = e^-10
    learned.clamp_tau_()
    assert learned.tau.item() == pytest.approx(heads.MIN_TAU)
    with pytest.raises(ValueError, match="tau"):
        model(tau=0.001)


def test_save_load_round_trip(tmp_path):
    audio, video = data()
    m = model(learn_tau=True, head_layers=3)
    m.set_standardisation(heads.mean_std([audio]), heads.mean_std([video]))
    m.train()
    m(torch.from_numpy(audio), torch.from_numpy(video))      # moves BatchNorm running stats
    with torch.no_grad():
        m.logit_scale.fill_(1.5)
    path = tmp_path / "models" / "x.pt"
    heads.save(m, path, name="x", best_epoch=3, curve=[1.0, 0.5])
    loaded = heads.load(path)
    assert not loaded.training
    assert loaded.config == m.config
    assert loaded.meta == {"name": "x", "best_epoch": 3, "curve": [1.0, 0.5]}
    assert loaded.tau.item() == pytest.approx(np.exp(-1.5))
    for got, want in zip(heads.embed(loaded, audio, video), heads.embed(m, audio, video)):
        np.testing.assert_array_equal(got, want)
    assert m.training                                        # embed restores the mode


def test_load_rejects_other_files(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a model")
    with pytest.raises(ValueError, match="bad.pt"):
        heads.load(bad)
    with pytest.raises(ValueError, match="missing.pt"):
        heads.load(tmp_path / "missing.pt")


def test_embed_in_blocks_and_checks_dimensions(monkeypatch):
    audio, video = data(n=11)
    m = model()
    whole = heads.embed(m, audio, video)
    monkeypatch.setattr(heads, "EMBED_ROWS", 3)
    for got, want in zip(heads.embed(m, audio, video), whole):
        np.testing.assert_allclose(got, want, rtol=1e-6)
    with pytest.raises(ValueError, match=r"video \[n, 10\]"):
        heads.embed(m, audio, video[:, :5])


def test_build_from_training_config():
    cfg = {**BASE, "embed_dim": 4, "loss": "paper", "lr": 0.01}
    m = heads.build(cfg, audio_dim=12, video_dim=10)
    assert m.config["embed_dim"] == 4 and m.config["audio_dim"] == 12


def test_standardisation_statistics_in_blocks():
    x = np.random.default_rng(3).normal(1e4, 2.0, size=(50, 4)).astype(np.float32)
    mean, std = heads.mean_std(x[i:i + 7] for i in range(0, 50, 7))
    np.testing.assert_allclose(mean, x.astype(np.float64).mean(0), rtol=1e-12)
    np.testing.assert_allclose(std, x.astype(np.float64).std(0), rtol=1e-9)
    with pytest.raises(ValueError, match="at least one"):
        heads.mean_std([x[:0]])
