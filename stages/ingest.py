"""Ingest: validate the rows and files of a data set and split it by video.

A data set is a folder holding `metadata.csv` with columns video_id,path,genre,tags
(`path` relative to the folder, tags separated by '|', genre and tags may be empty,
extra columns ignored). Every row ends with status `ok` or `skipped` and a reason.
The index (`data/index.csv`) has one row per metadata row:
video_id,path,genre,tags,duration,status,reason,split.
"""
from __future__ import annotations

import csv
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

from stages import media

METADATA = "metadata.csv"
REQUIRED = ("video_id", "path")
INDEX_COLUMNS = ("video_id", "path", "genre", "tags", "duration", "status", "reason", "split")
SPLITS = ("train", "val", "test")
MALFORMED, DUPLICATE_ID, DUPLICATE_PATH, TOO_SHORT = (
    "malformed row", "duplicate id", "duplicate path", "too short")


def read_metadata(folder: str | Path) -> list[dict]:
    """Rows of `folder`/metadata.csv as dicts (video_id, path, genre, tags: list, line).
    A malformed row gets `reason` and `detail`; a file without the required columns
    is an error for the whole data set."""
    path = Path(folder) / METADATA
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file; data.source must be a folder holding {METADATA}")
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f)
        header = [h.strip() for h in next(reader, [])]
        missing = [c for c in REQUIRED if c not in header]
        if missing:
            raise ValueError(f"{path}: header lacks column(s) {', '.join(missing)} "
                             f"(expected video_id,path,genre,tags)")
        rows = []
        for fields in reader:
            if not any(x.strip() for x in fields):
                continue  # blank line
            line = reader.line_num
            values = dict(zip(header, (x.strip() for x in fields)))
            row = {
                "video_id": values.get("video_id", ""),
                "path": values.get("path", ""),
                "genre": values.get("genre", ""),
                "tags": [t.strip() for t in values.get("tags", "").split("|") if t.strip()],
                "line": line,
            }
            if len(fields) != len(header):
                row.update(reason=MALFORMED,
                           detail=f"line {line}: {len(fields)} fields, header has {len(header)}")
            elif not row["video_id"] or not row["path"]:
                row.update(reason=MALFORMED, detail=f"line {line}: empty video_id or path")
            rows.append(row)
    return rows


def validate(rows: list[dict], folder: str | Path, segment_seconds: float,
             progress=None) -> list[dict]:
    """Probe every file and give each row status/reason/detail/duration. Later rows
    repeating a video_id or a file are skipped; the first one stands."""
    folder = Path(folder)
    seen_ids, seen_paths = {}, {}
    out = []
    for row in rows:
        row = {**row, "duration": None, "status": "skipped", "split": ""}
        row.setdefault("reason", "")
        row.setdefault("detail", "")
        if not row["reason"]:
            file = (folder / row["path"]).resolve()
            if row["video_id"] in seen_ids:
                row.update(reason=DUPLICATE_ID, detail=f"first on line {seen_ids[row['video_id']]}")
            elif file in seen_paths:
                row.update(reason=DUPLICATE_PATH, detail=f"same file as line {seen_paths[file]}")
            else:
                seen_ids[row["video_id"]] = seen_paths[file] = row["line"]
                try:
                    info = media.probe(file)
                except media.MediaError as e:
                    row.update(reason=e.reason, detail=e.detail)
                else:
                    row["duration"] = round(info.duration, 3)
                    if info.duration < segment_seconds:
                        row.update(reason=TOO_SHORT,
                                   detail=f"{info.duration:.2f} s < one segment of {segment_seconds} s")
                    else:
                        row["status"] = "ok"
        out.append(row)
        if progress is not None:
            progress(row)
    return out


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


def build_index(folder: str | Path, segment_seconds: float, fractions, seed: int,
                progress=None) -> list[dict]:
    """Validated and split rows of the data set in `folder`."""
    rows = validate(read_metadata(folder), folder, segment_seconds, progress)
    splits = split_videos(rows, fractions, seed)
    for row in rows:
        if row["status"] == "ok":
            row["split"] = splits[row["video_id"]]
    return rows


def summary(rows: list[dict]) -> dict:
    """The ingest report: counts per status, reason and split, and every skipped row."""
    return {
        "rows": len(rows),
        "status": dict(Counter(r["status"] for r in rows)),
        "reasons": dict(Counter(r["reason"] for r in rows if r["status"] != "ok")),
        "splits": {s: sum(r["split"] == s for r in rows) for s in SPLITS},
        "skipped": [{"video_id": r["video_id"], "path": r["path"], "line": r["line"],
                     "reason": r["reason"], "detail": r["detail"]}
                    for r in rows if r["status"] != "ok"],
    }


def write_index(rows: list[dict], path: str | Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(INDEX_COLUMNS)
        for r in rows:
            w.writerow([r["video_id"], r["path"], r["genre"], "|".join(r["tags"]),
                        "" if r["duration"] is None else r["duration"],
                        r["status"], r["reason"], r["split"]])


def read_index(path: str | Path) -> list[dict]:
    """Rows of data/index.csv: tags as list[str], duration as float (None if unknown)."""
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        r["tags"] = [t for t in r["tags"].split("|") if t]
        r["duration"] = float(r["duration"]) if r["duration"] else None
    return rows
