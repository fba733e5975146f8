"""The split of the usable videos into train / val / test: by video, seeded, stratified by genre."""
from __future__ import annotations

from collections import defaultdict

import numpy as np

from mvclr.data.index import SPLITS


def _allocate(n: int, fractions) -> np.ndarray:
    """Largest-remainder split of n items into len(fractions) parts."""
    exact = n * np.asarray(fractions, float)
    counts = np.floor(exact).astype(int)
    order = np.argsort(-(exact - counts), kind="stable")
    counts[order[: n - counts.sum()]] += 1
    return counts


def split_videos(rows: list[dict], fractions, seed: int) -> dict[str, str]:
    """video_id -> train|val|test for the ok rows, by video, seeded, stratified by genre:
    each genre contributes floor(n_genre * fraction) videos to each split, and the
    remainder fills the splits up to their overall sizes at random."""
    fractions = np.asarray(fractions, float)
    if len(fractions) != len(SPLITS) or np.any(fractions < 0) or not np.isclose(fractions.sum(), 1):
        raise ValueError(f"data.split must be three non-negative fractions summing to 1, got {list(fractions)}")
    rng = np.random.default_rng(seed)
    by_genre = defaultdict(list)
    for row in rows:
        if row["status"] == "ok":
            by_genre[row["genre"]].append(row["video_id"])
    n = sum(len(v) for v in by_genre.values())
    target = _allocate(n, fractions)
    assigned, leftover = {}, []
    filled = np.zeros(len(SPLITS), int)
    for genre in sorted(by_genre):
        ids = sorted(by_genre[genre])
        rng.shuffle(ids)
        counts = np.floor(len(ids) * fractions).astype(int)
        first = 0
        for s, c in enumerate(counts):
            for vid in ids[first: first + c]:
                assigned[vid] = SPLITS[s]
            first += c
        filled += counts
        leftover += ids[first:]
    slots = [SPLITS[s] for s in range(len(SPLITS)) for _ in range(target[s] - filled[s])]
    rng.shuffle(leftover)
    assigned.update(zip(leftover, slots))
    return assigned
