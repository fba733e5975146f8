"""Stage `train`: projection heads of one configuration on the cached backbone vectors.

    python -m stages.train --config NAME      (NAME: main, or a key of `configs` in params.yaml)

Reads features/audio.zarr, features/video.zarr and the split and video ids of
data/segments.h5; writes models/NAME.pt and the per-epoch curves reports/train/NAME.csv.
"""
from __future__ import annotations

import argparse
import csv
from pathlib import Path

import torch

from stages import feature_store, heads, paths, training
from stages.config import load_params, train_config
from stages.paths import AUDIO, SEGMENTS, VIDEO
from stages.segment_store import read_meta

FIT_KEYS = ("loss", "batch_size", "lr", "lr_gamma", "patience", "max_epochs")


def write_history(path: Path, history: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=training.HISTORY_COLUMNS)
        writer.writeheader()
        writer.writerows(history)


def run(name: str, params: dict) -> None:
    cfg = train_config(params, name)
    seed = params["seed"]
    meta = read_meta(SEGMENTS)
    audio = feature_store.load(AUDIO, rows=len(meta))
    video = feature_store.load(VIDEO, rows=len(meta))
    splits = {}
    for split in ("train", "val"):
        rows = meta.split == split
        splits[split] = training.Pairs(audio[rows], video[rows], meta.video_id[rows])
    train, val = splits["train"], splits["val"]

    torch.manual_seed(seed)
    model = heads.build(cfg, audio.shape[1], video.shape[1])
    if cfg["standardise"]:
        model.set_standardisation(train.audio, train.video)
    autoencoder_loss = {}
    if cfg["ae_init"]:
        autoencoder_loss = training.initialise_from_autoencoders(
            model, train, **params["autoencoder"], seed=seed)
    result = training.fit(model, train, val, **{k: cfg[k] for k in FIT_KEYS}, seed=seed,
                          rank_pool=params["eval"]["rank_pool"])

    heads.save(model, paths.model(name), name=name, train_config=cfg, seed=seed,
               best_epoch=result.best_epoch, best_val_loss=result.best_val_loss,
               epochs=len(result.history), n_train=len(train.video_ids), n_val=len(val.video_ids),
               autoencoder_loss=autoencoder_loss)
    write_history(paths.curve(name), result.history)
    best = result.history[result.best_epoch - 1]
    print(f"{name}: {len(result.history)} epochs, best epoch {result.best_epoch}: val loss "
          f"{best['val_loss']:.4f}, val median rank {best['val_median_rank']:.1f} "
          f"of {len(val.video_ids)}, tau {best['tau']:.3f}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="main",
                        help="main (the top-level knobs) or a key of `configs` in params.yaml")
    args = parser.parse_args(argv)
    run(args.config, load_params())


if __name__ == "__main__":
    main()
