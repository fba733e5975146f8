"""The videos that have segments, in segment-store order, with their genre and tags from the
index."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Videos:
    """The videos that have segments, in segment-store order, with their labels."""
    ids: np.ndarray        # str [n]
    split: np.ndarray      # str [n]: train | val | test
    genre: list[str]       # "" when unknown
    tags: list[list[str]]  # [] when unknown


def video_table(segment_video_ids: np.ndarray, segment_splits: np.ndarray,
                index_rows: list[dict], source: str = "data/index.csv") -> Videos:
    """Videos in order of first appearance in the segment store, labels from the index's
    usable (status ok) rows."""
    ids, first = np.unique(segment_video_ids, return_index=True)
    order = np.argsort(first)
    ids, first = ids[order], first[order]
    split = np.asarray(segment_splits)[first]
    by_id = {row["video_id"]: row for row in index_rows if row.get("status", "ok") == "ok"}
    missing = [v for v in ids if v not in by_id]
    if missing:
        raise ValueError(f"{source}: no row for video ids {missing[:5]} found in the segment store")
    mixed = {v for v, s in zip(segment_video_ids, segment_splits) if by_id[v].get("split", s) != s}
    if mixed:
        raise ValueError(f"{source}: split differs from the segment store for videos {sorted(mixed)[:5]}")
    return Videos(ids=ids, split=split,
                  genre=[by_id[v].get("genre") or "" for v in ids],
                  tags=[list(by_id[v].get("tags") or []) for v in ids])
