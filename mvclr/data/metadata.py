"""Reading a data set's metadata.csv: the rows the stages scan (mvclr.data.scan) and validate
(mvclr.data.ingest).

A data set is a folder holding `metadata.csv` with columns video_id,path,genre,tags (`path`
relative to the folder, tags separated by '|', genre and tags may be empty, extra columns
ignored). A row that cannot name a file gets reason `malformed row`; a file that cannot be read
as such a table at all is a MetadataError naming the file (and the line, where there is one).
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

METADATA = "metadata.csv"
REQUIRED = ("video_id", "path")
MALFORMED = "malformed row"


class MetadataError(ValueError):
    """metadata.csv is missing or unreadable as a whole: the message names the file."""


@dataclass(frozen=True)
class Metadata:
    path: Path
    columns: tuple[str, ...]
    rows: list[dict]       # video_id, path, genre, tags (list), line; reason, detail when malformed


def read_metadata(folder: str | Path) -> Metadata:
    """The rows of `folder`/metadata.csv, blank lines left out. A row with the wrong number of
    fields, an empty video_id or path, or a NUL character gets reason MALFORMED and a detail
    naming its line. The file is decoded as UTF-8 (a BOM allowed) before parsing, so a stray
    byte of another encoding is one MetadataError naming its line and its byte position there
    (1-based), not a traceback."""
    path = Path(folder) / METADATA
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise MetadataError(f"{path}: no such file; data.source must be a folder holding "
                            f"{METADATA}") from None
    except OSError as e:
        raise MetadataError(f"{path}: {e.strerror}") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line, start = data.count(b"\n", 0, e.start) + 1, data.rfind(b"\n", 0, e.start) + 1
        raise MetadataError(f"{path} line {line}: not UTF-8 (byte 0x{data[e.start]:02x} at "
                            f"position {e.start - start + 1})") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    header = tuple(h.strip() for h in next(reader, []))
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise MetadataError(f"{path}: header lacks column(s) {', '.join(missing)} "
                            f"(expected video_id,path,genre,tags)")
    rows, nul = [], "\0" in text            # NUL bytes are rare: look for them only then
    for fields in reader:
        values = [x.strip() for x in fields]
        if not any(values):
            continue  # blank line
        line = reader.line_num
        named = dict(zip(header, values))
        row = {
            "video_id": named.get("video_id", ""),
            "path": named.get("path", ""),
            "genre": named.get("genre", ""),
            "tags": [t for t in map(str.strip, named.get("tags", "").split("|")) if t],
            "line": line,
        }
        if len(fields) != len(header):
            row.update(reason=MALFORMED,
                       detail=f"line {line}: {len(fields)} fields, header has {len(header)}")
        elif not row["video_id"] or not row["path"]:
            row.update(reason=MALFORMED, detail=f"line {line}: empty video_id or path")
        elif nul and (where := [c for c, x in zip(header, fields) if "\0" in x]):
            row.update(reason=MALFORMED, detail=f"line {line}: a NUL byte in {where[0]}")
        rows.append(row)
    return Metadata(path, header, rows)
