"""The index (data/index.csv): one row per metadata row of the data set,
video_id,path,genre,tags,duration,fingerprint,status,reason,detail,line (fingerprint: the
BLAKE2b-128 of the file's content the scan found, mvclr.data.scan; empty where it found no
usable file); and the ingest report (reports/ingest.json): what became of every row, through
probing (prepare) and decoding."""
from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

INDEX_COLUMNS = ("video_id", "path", "genre", "tags", "duration", "fingerprint", "status", "reason",
                 "detail", "line")


def summary(rows: list[dict], failed: list[dict] = (), decode: dict | None = None) -> dict:
    """The ingest report: counts per final status and reason, and every row that yields no
    segments, skipped by prepare or failed in decode (`failed`: video_id, reason, detail);
    `decode` adds the decode stage's own figures."""
    failed = {f["video_id"]: f for f in failed}
    out, skipped = Counter(), []
    for r in rows:
        stage = "prepare" if r["status"] != "ok" else "decode" if r["video_id"] in failed else None
        out["ok" if stage is None else "skipped"] += 1
        if stage is not None:
            why = r if stage == "prepare" else failed[r["video_id"]]
            skipped.append({"video_id": r["video_id"], "path": r["path"], "line": r.get("line"),
                            "stage": stage, "reason": why["reason"], "detail": why.get("detail", "")})
    report = {"rows": len(rows), "status": dict(out),
              "reasons": dict(Counter(s["reason"] for s in skipped)), "skipped": skipped}
    if decode is not None:
        report["decode"] = decode
    return report


def write_index(rows: list[dict], path: str | Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(INDEX_COLUMNS)
        for r in rows:
            w.writerow([r["video_id"], r["path"], r["genre"], "|".join(r["tags"]),
                        "" if r["duration"] is None else r["duration"], r.get("fingerprint", ""),
                        r["status"], r["reason"], r.get("detail", ""), r.get("line", "")])


def read_index(path: str | Path) -> list[dict]:
    """Rows of data/index.csv: tags as list[str], duration as float (None if unknown), line as
    int (None if unknown), fingerprint as str ('' if none)."""
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        r["tags"] = [t for t in r["tags"].split("|") if t]
        r["duration"] = float(r["duration"]) if r["duration"] else None
        r["line"] = int(r["line"]) if r.get("line") else None
    return rows
