"""The index (data/index.csv): one row per metadata row of the data set,
video_id,path,genre,tags,duration,status,reason,split; and its summary, the ingest report."""
from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

SPLITS = ("train", "val", "test")
INDEX_COLUMNS = ("video_id", "path", "genre", "tags", "duration", "status", "reason", "split")


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
