"""The files of stage `index` beside the FAISS indexes (mvclr.evaluation.indexing writes them,
`mvclr similar` reads them without importing the models): labels.csv (video_id, split, genre,
tags; row r is row r of every index) and manifest.json (what the indexes were built from)."""
from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import numpy as np

from mvclr.evaluation.videos import Videos

LABELS, MANIFEST = "labels.csv", "manifest.json"


def file_digest(path: str | Path) -> str:
    """SHA-256 (first 16 hex digits) of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:16]


def write_labels(path: Path, videos: Videos) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(("video_id", "split", "genre", "tags"))
        w.writerows(zip(videos.ids, videos.split, videos.genre, ("|".join(t) for t in videos.tags)))


def read_labels(path: Path) -> Videos:
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return Videos(ids=np.array([r["video_id"] for r in rows], dtype=str),
                  split=np.array([r["split"] for r in rows], dtype=str),
                  genre=[r["genre"] for r in rows],
                  tags=[[t for t in r["tags"].split("|") if t] for r in rows])
