"""Ingest: the rows of a data set's metadata.csv (mvclr.data.metadata) with what the scan found
at each path (mvclr.data.scan) validated and their files probed; the result is the index
(mvclr.data.index). Every row ends with status `ok` or `skipped` and a reason.

A probe's outcome (a duration, or why the file cannot be used) depends only on the file's
content and the probing code, so `Probes` remembers it by the scan's fingerprint under
`probe_version()` (mvclr.data.memo): an edit of metadata.csv, a moved or copied folder or new
videos re-probe only files whose content was never probed. Outcomes of the run rather than of
the file (timed out, the probe process crashed: mvclr.data.supervise.Failed) are not kept.
"""
from __future__ import annotations

import os
from pathlib import Path

import av

from mvclr.data import media, scan, supervise
from mvclr.data.code_digest import code_digest
from mvclr.data.metadata import read_metadata

DUPLICATE_ID, DUPLICATE_PATH, TOO_SHORT = "duplicate id", "duplicate path", "too short"
MEMO_FORMAT = 1          # how Probes writes an outcome


def probe_version() -> str:
    """Digest of what decides a remembered probe outcome: mvclr/data/media.py's behaviour
    (mvclr.data.code_digest), PyAV's version (whose wheel bundles FFmpeg) and MEMO_FORMAT."""
    return code_digest(media, extra=f"{av.__version__} {MEMO_FORMAT}")


class Probes:
    """Each file's probe outcome by `probe` (a path -> media.Probe, or MediaError), once per
    content: outcomes are remembered by fingerprint in `memo` (a mvclr.data.memo.Memo; None:
    this run only), as the duration's repr or "reason<TAB>detail". A remembered outcome calls
    no `probe` at all (a supervised probe then starts no child process). `probed` counts the
    calls."""

    def __init__(self, probe=media.probe, memo=None):
        self.probe, self.memo = probe, memo
        self.known = memo.load() if memo is not None else {}
        self.probed = 0

    def outcome(self, file: str, fingerprint: str) -> tuple[float | None, str, str]:
        """(duration, "", "") when `file` can be probed, else (None, reason, detail);
        supervise.Failed (timed out, crashed) is raised and not remembered."""
        value = self.known.get(fingerprint)
        if value is None:
            self.probed += 1
            try:
                value = repr(self.probe(file).duration)
            except media.MediaError as e:
                value = f"{e.reason}\t{e.detail}"
            self.known[fingerprint] = value
            if self.memo is not None:
                self.memo.put(fingerprint, value)
        reason, failed, detail = value.partition("\t")
        return (None, reason, detail) if failed else (float(value), "", "")


def validate(rows: list[dict], files: list[dict], folder: str | Path, segment_seconds: float,
             progress=None, probes: Probes | None = None) -> list[dict]:
    """Index rows: each metadata row with status/reason/detail/duration/fingerprint, given the
    files table `files` of the same rows (mvclr.data.scan; StaleScan when it lists others).
    In order: a malformed row, a video_id an earlier row has, the scan's reason, a file an
    earlier row names, then the probe's outcome and `too short`; the first of a repeated id
    or file stands."""
    scan.check_scan(rows, files)
    probes = probes or Probes()
    seen_ids, seen_files = {}, {}
    out = []
    for row, found in zip(rows, files):
        row = {**row, "duration": None, "status": "skipped", "fingerprint": found["fingerprint"]}
        row.setdefault("reason", "")
        row.setdefault("detail", "")
        if row["reason"]:
            pass
        elif row["video_id"] in seen_ids:
            row.update(reason=DUPLICATE_ID, detail=f"first on line {seen_ids[row['video_id']]}")
        elif found["status"] != scan.OK:
            seen_ids[row["video_id"]] = row["line"]
            row.update(reason=found["reason"], detail=found["detail"])
        elif found["file"] in seen_files:
            seen_ids[row["video_id"]] = row["line"]
            row.update(reason=DUPLICATE_PATH,
                       detail=f"same file as line {seen_files[found['file']]}")
        else:
            seen_ids[row["video_id"]] = seen_files[found["file"]] = row["line"]
            _probe(row, probes, os.path.join(folder, found["file"]), segment_seconds)
        out.append(row)
        if progress is not None:
            progress(row)
    return out


def _probe(row: dict, probes: Probes, file: str, segment_seconds: float) -> None:
    try:
        duration, reason, detail = probes.outcome(file, row["fingerprint"])
    except supervise.Failed as e:
        duration, reason, detail = None, e.reason, e.detail
    if duration is None:
        row.update(reason=reason, detail=detail)
        return
    row["duration"] = round(duration, 3)
    if duration < segment_seconds:
        row.update(reason=TOO_SHORT,
                   detail=f"{duration:.2f} s < one segment of {segment_seconds} s")
    else:
        row["status"] = "ok"


def build_index(folder: str | Path, segment_seconds: float, progress=None,
                probe=media.probe) -> list[dict]:
    """Validated rows of the data set in `folder`: scanned (nothing memoised) and each file
    probed with `probe`, as stages scan and prepare would give them."""
    rows = read_metadata(folder).rows
    return validate(rows, scan.scan(folder, rows), folder, segment_seconds, progress,
                    Probes(probe))
