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


def video_table(video_ids: np.ndarray, video_split: np.ndarray, index_rows: list[dict],
                source: str = "data/index.csv") -> Videos:
    """The videos `video_ids` (one per video, e.g. the layout's: store order) with their split
    and their labels from the index's usable (status ok) rows; a ValueError names videos the
    index lacks or whose split differs."""
    by_id = {row["video_id"]: row for row in index_rows if row.get("status", "ok") == "ok"}
    missing = [str(v) for v in video_ids if v not in by_id]
    if missing:
        raise ValueError(f"{source}: no row for video ids {missing[:5]} found in the segment store")
    mixed = sorted(str(v) for v, s in zip(video_ids, video_split) if by_id[v].get("split", s) != s)
    if mixed:
        raise ValueError(f"{source}: split differs from the segment store for videos {mixed[:5]}")
    return Videos(ids=np.asarray(video_ids), split=np.asarray(video_split),
                  genre=[by_id[v].get("genre") or "" for v in video_ids],
                  tags=[list(by_id[v].get("tags") or []) for v in video_ids])
