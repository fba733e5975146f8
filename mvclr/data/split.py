"""The split of the usable videos into train / val / test (data/split.csv, stage `split`): by
video, seeded, stratified by genre; its own stage so that changing `data.split` re-runs neither
probing nor decoding."""
from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

import numpy as np

SPLITS = ("train", "val", "test")
COLUMNS = ("video_id", "split")


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
        raise ValueError("data.split must be three non-negative fractions summing to 1, got "
                         f"{[float(x) for x in fractions]}")
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


def write_split(assigned: dict[str, str], path: str | Path, order: list[str]) -> None:
    """data/split.csv: video_id,split for the videos of `assigned`, in `order` (index order)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(COLUMNS)
        w.writerows((v, assigned[v]) for v in order if v in assigned)


def read_split(path: str | Path) -> dict[str, str]:
    """video_id -> train|val|test from data/split.csv."""
    with open(path, newline="", encoding="utf-8") as f:
        return {r["video_id"]: r["split"] for r in csv.DictReader(f)}


def split_of(video_ids, path: str | Path) -> np.ndarray:
    """The split of each of `video_ids` (e.g. every segment's) from data/split.csv; an error
    naming the first video the file lacks."""
    split = read_split(path)
    missing = next((v for v in video_ids if v not in split), None)
    if missing is not None:
        raise ValueError(f"{path} has no split for video {str(missing)!r} of the segment store; "
                         "run `dvc repro` (stage split)")
    return np.array([split[v] for v in video_ids], dtype=object)
