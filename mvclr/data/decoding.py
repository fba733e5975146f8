"""Decoding units of work: groups of consecutive usable videos, each written to its own shard
of the segment store (mvclr.data.segment_store).

`plan` cuts the index into units of `decode.unit_videos` videos; a unit's `key` is a digest
of everything that determines its shard (the format and decoding code, library versions, the
layout, each video's id, file path, size, modification time and windows), so a shard is
reused only for exactly the plan that made it, never by position. `decode_unit` runs one unit
(in any process: an executor runs many) and decodes each video in a supervised child process
under the per-file time budget (mvclr.data.supervise): a bad, crashing or hanging file is a
failure of that video only. The shard is written under a temporary name and renamed when
complete.
"""
from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from pathlib import Path

import av

from mvclr.data import layout as layout_module, media, reader, sampling, segment_store
from mvclr.data.layout import Layout
from mvclr.data.supervise import Failed, Supervised

FORMAT = 2                 # the segment store's format: part of every unit key
CODE = (media, reader, layout_module, segment_store)   # modules whose code decides a shard's bytes


@dataclass(frozen=True)
class Job:
    video_id: str
    path: str                    # as in the index, relative to data.source
    file: str
    size: int
    mtime_ns: int
    starts: tuple[float, ...]


@dataclass(frozen=True)
class Unit:
    index: int                   # position in the plan (the shard's rows come at this place)
    key: str
    jobs: tuple[Job, ...]
    layout: Layout

    @property
    def shard(self) -> str:
        return f"{self.key}.h5"


@dataclass(frozen=True)
class UnitResult:
    key: str
    shard: str
    rows: int
    failed: list[dict]           # video_id, path, reason, detail


def code_digest() -> str:
    """Digest of the decoding code and the libraries that decide decoded values."""
    h = hashlib.blake2b(digest_size=16)
    for file in (*(m.__file__ for m in CODE), __file__):
        h.update(Path(file).read_bytes())
    h.update(json.dumps([av.__version__, av.library_versions], default=str).encode())
    return h.hexdigest()


def jobs(rows: list[dict], source: str | Path, seed: int, segments: int,
         segment_seconds: float) -> list[Job]:
    """The windows of every ok row of the index, in index order."""
    out = []
    for r in rows:
        if r["status"] != "ok":
            continue
        rng = sampling.video_rng(seed, r["video_id"])
        starts = sampling.segment_starts(r["duration"], segments, segment_seconds, rng)
        if len(starts):
            file = Path(source) / r["path"]
            st = file.stat() if file.exists() else None
            out.append(Job(r["video_id"], r["path"], str(file), st.st_size if st else -1,
                           st.st_mtime_ns if st else -1, tuple(float(s) for s in starts)))
    return out


def plan(jobs_: list[Job], layout: Layout, unit_videos: int) -> list[Unit]:
    """`jobs_` cut into units of `unit_videos` consecutive videos, each with its key."""
    if unit_videos < 1:
        raise ValueError(f"decode.unit_videos must be >= 1, got {unit_videos}")
    code = code_digest()
    units = []
    for i in range(0, len(jobs_), unit_videos):
        group = tuple(jobs_[i:i + unit_videos])
        blob = json.dumps([FORMAT, code, layout.attrs(),
                           [[j.video_id, j.path, j.size, j.mtime_ns, j.starts] for j in group]])
        key = hashlib.blake2b(blob.encode(), digest_size=16).hexdigest()
        units.append(Unit(len(units), key, group, layout))
    return units


def decode_video(job: Job, layout: Layout):
    """Audio and frames of one video's segments (reader.read_segments); MediaError when the
    file cannot be used. Runs in the supervised child."""
    return reader.read_segments(job.file, job.starts, layout)


def failure(job: Job, reason: str, detail: str) -> dict:
    return {"video_id": job.video_id, "path": job.path, "reason": reason, "detail": detail}


def decode_unit(unit: Unit, folder: str | Path, timeout_seconds: float) -> UnitResult:
    """Decode the videos of `unit` into the shard folder/<key>.h5; a video that fails (bad
    file, decoder crash, no result within `timeout_seconds`) is recorded, the others written."""
    folder = Path(folder)
    tmp = folder / f"{unit.key}.{uuid.uuid4().hex}.tmp"
    failed = []
    try:
        with Supervised(decode_video, timeout_seconds) as decode, \
                segment_store.ShardWriter(tmp, unit.layout) as shard:
            for job in unit.jobs:
                try:
                    audio, frames = decode(job, unit.layout)
                except (media.MediaError, Failed) as e:
                    failed.append(failure(job, e.reason, e.detail))
                    continue
                except Exception as e:  # noqa: BLE001 - a decoder bug must not cost the other videos
                    failed.append(failure(job, media.DECODE_FAILED, f"{type(e).__name__}: {e}"))
                    continue
                shard.append(audio, frames, job.video_id, job.starts)
            rows = shard.n
            shard.close(unit=unit.key, failed=json.dumps(failed), timeout_seconds=timeout_seconds,
                        complete=True)
        tmp.replace(folder / unit.shard)
    finally:
        tmp.unlink(missing_ok=True)
    return UnitResult(unit.key, unit.shard, rows, failed)


def expected_rows(unit: Unit, failed: list[dict]) -> list[tuple[str, int, float]]:
    """(video_id, segment_index, start) of the rows a shard of `unit` holds given its failures."""
    gone = {f["video_id"] for f in failed}
    return [(j.video_id, i, s) for j in unit.jobs if j.video_id not in gone
            for i, s in enumerate(j.starts)]

