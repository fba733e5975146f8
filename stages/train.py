"""Stage `train` (and `train_config@NAME`): the projection heads of one configuration on the
cached backbone vectors (mvclr.contrastive.configuration).

    python -m stages.train --config NAME      (NAME: main, or a key of `configs` in params.yaml)

Reads features/audio.zarr, features/video.zarr (by blocks) and the split and video ids of
data/segments.h5; writes models/NAME.pt and the per-epoch curves reports/train/NAME.csv.
"""
from __future__ import annotations

import argparse
import csv

from mvclr import paths
from mvclr.config import load_params
from mvclr.contrastive import heads
from mvclr.contrastive.configuration import train
from mvclr.contrastive.fitting import HISTORY_COLUMNS
from mvclr.features.paired import PairedStores


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="main",
                        help="main (the top-level knobs) or a key of `configs` in params.yaml")
    name = parser.parse_args(argv).config
    trained = train(name, load_params(), PairedStores())

    heads.save(trained.model, paths.model(name), **trained.meta)
    curve = paths.curve(name)
    curve.parent.mkdir(parents=True, exist_ok=True)
    with open(curve, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=HISTORY_COLUMNS)
        writer.writeheader()
        writer.writerows(trained.result.history)
    result = trained.result
    best = result.history[result.best_epoch - 1]
    print(f"{name}: {len(result.history)} epochs, best epoch {result.best_epoch}: val loss "
          f"{best['val_loss']:.4f}, val median rank {best['val_median_rank']:.1f} "
          f"of {trained.meta['n_val']}, tau {best['tau']:.3f}")


if __name__ == "__main__":
    main()
