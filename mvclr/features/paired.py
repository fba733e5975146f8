"""The catalogue's stores opened together: the segment metadata and both feature stores, row i
of each being segment i."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mvclr.data.segment_store import SegmentMeta, read_meta
from mvclr.data.split import split_of
from mvclr.features import store
from mvclr.paths import AUDIO, SEGMENTS, SPLIT, VIDEO


@dataclass
class PairedFeatures:
    meta: SegmentMeta       # video id, segment index, start, split of every segment
    audio: np.ndarray       # musicnn vectors [n_segments, audio dim]
    video: np.ndarray       # R(2+1)D vectors [n_segments, video dim]

    def rows(self, split: str) -> np.ndarray:
        """Boolean mask of the segments of `split`."""
        return self.meta.split == split


def load_paired(root: str | Path = ".") -> PairedFeatures:
    """The stores under `root`, each segment's split from data/split.csv; an error when a
    feature store is incomplete or does not match the segment store's length, or a video
    has no split."""
    root = Path(root)
    meta = read_meta(root / SEGMENTS)
    meta.split = split_of(meta.video_id, root / SPLIT)
    return PairedFeatures(meta, store.load(root / AUDIO, rows=len(meta)),
                          store.load(root / VIDEO, rows=len(meta)))
