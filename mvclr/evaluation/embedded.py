"""Per-segment vectors computed in one pass over the stores and kept on disk
(mvclr.evaluation.rowfile): trained models' embeddings, or the frozen features themselves, of
the rows of one split (or of every row), several at once, so that later steps read them by
blocks or gather rows (a pool of the paper's way, a batch of videos) without holding them.
Rows keep store order: videos consecutive, as the layout's counts of the split's videos say.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from mvclr.contrastive import heads
from mvclr.evaluation.rowfile import RowFile
from mvclr.features.paired import Layout, PairedStores

# (audio block, video block) -> the pair of vectors kept; None keeps the features as they are
Transform = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]] | None


def split_counts(layout: Layout, split: str | None) -> np.ndarray:
    """Segments per video of `split` (None: every video), in store order."""
    return layout.count if split is None else layout.count[layout.videos_of(split)]


def embedder(model: heads.ProjectionModel) -> Transform:
    """The transform giving a trained model's (za, zv)."""
    return lambda a, v: heads.embed(model, a, v)


def spill(stores: PairedStores, jobs: dict[str, tuple[Transform, str | None]],
          directory: str | Path) -> dict[str, tuple[RowFile, RowFile]]:
    """For each job name -> (transform, split): the pair of vectors of the split's rows (None:
    all rows) as RowFiles name_a.npy, name_b.npy in `directory`, from one pass over the stores."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    out = {name: tuple(RowFile(directory / f"{name}_{side}.npy",
                               int(split_counts(stores.layout, split).sum())) for side in "ab")
           for name, (_, split) in jobs.items()}
    for rows, a, v in stores.blocks():
        masks = {}
        for name, (transform, split) in jobs.items():
            if split not in masks:
                masks[split] = slice(None) if split is None else stores.layout.split_rows(rows, split)
            pair = a[masks[split]], v[masks[split]]
            if len(pair[0]) == 0:
                continue
            for target, x in zip(out[name], pair if transform is None else transform(*pair)):
                target.append(x)
    return out
