"""Ingest: the rows of a data set's metadata.csv validated and its files probed; the result is
the index (mvclr.data.index).

A data set is a folder holding `metadata.csv` with columns video_id,path,genre,tags
(`path` relative to the folder, tags separated by '|', genre and tags may be empty,
extra columns ignored). Every row ends with status `ok` or `skipped` and a reason.
"""
from __future__ import annotations

import csv
from pathlib import Path

from mvclr.data import media, supervise

METADATA = "metadata.csv"
REQUIRED = ("video_id", "path")
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
             progress=None, probe=media.probe) -> list[dict]:
    """Probe every file (`probe`: a path -> media.Probe, or MediaError) and give each row
    status/reason/detail/duration. Later rows repeating a video_id or a file are skipped;
    the first one stands."""
    folder = Path(folder)
    seen_ids, seen_paths = {}, {}
    out = []
    for row in rows:
        row = {**row, "duration": None, "status": "skipped"}
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
                    info = probe(file)
                except (media.MediaError, supervise.Failed) as e:
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


def build_index(folder: str | Path, segment_seconds: float, progress=None,
                probe=media.probe) -> list[dict]:
    """Validated rows of the data set in `folder`, each file probed with `probe`."""
    return validate(read_metadata(folder), folder, segment_seconds, progress, probe)
