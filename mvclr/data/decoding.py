"""Decoding units of work, addressed by content: each unit is one shard of the segment store
(mvclr.data.segment_store), a run of consecutive usable videos of the index.

A video's `video_key` digests everything that determines its segments: the fingerprint of its
file's content (data/index.csv, from the scan stage), its id (which seeds its windows), its
windows, the layout, the store's format and the decoding code and library versions; never its
path, modification time or row. A shard's key digests its videos' keys in order.

`plan` cuts the index into shards at content-defined boundaries: a shard ends after a video
whose key, read as a number, is divisible by `decode.unit_videos` (so shards hold that many
videos on average), or once it holds MAX_FACTOR times that many. A boundary depends only on
the video before it, so inserting, removing or changing a video changes the key of the one
shard it falls in (or of two, when it adds or removes a boundary), reordering rows changes only
the shards whose runs changed, and moving or copying the folder changes none. A shard whose key is
new is written by `decode_unit`, which copies the segments of each video that an earlier shard
already holds (`Unit.sources`, checked against their row digests) and decodes only the others,
each in a supervised child process under the per-file time budget (mvclr.data.supervise): a
bad, crashing or hanging file is a failure of that video only. The shard is written under a
temporary name and renamed when complete.
"""
from __future__ import annotations

import hashlib
import json
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from mvclr.data import layout as layout_module, media, reader, sampling, segment_store
from mvclr.data.code_digest import code_digest as code_digest_of
from mvclr.data.layout import Layout
from mvclr.data.supervise import Failed, Supervised

FORMAT = 3                 # the segment store's format: part of every video key
CODE = (media, reader, layout_module, segment_store)   # modules whose code decides a shard's bytes
MAX_FACTOR = 4             # a shard holds at most this many times decode.unit_videos videos


@dataclass(frozen=True)
class Job:
    video_id: str
    path: str                    # as in the index, relative to data.source
    file: str
    fingerprint: str             # of the file's content (data/index.csv)
    starts: tuple[float, ...]


@dataclass(frozen=True)
class Source:
    """Where an earlier shard holds a video's segments: shard file name, first row, rows."""
    shard: str
    first: int
    rows: int


@dataclass(frozen=True)
class Unit:
    index: int                   # position in the plan (the shard's rows come at this place)
    key: str
    jobs: tuple[Job, ...]
    videos: tuple[str, ...]      # each job's video_key
    layout: Layout
    sources: tuple[Source | None, ...] = ()   # per job, set by mvclr.data.shards.build

    @property
    def shard(self) -> str:
        return f"{self.key}.h5"


@dataclass(frozen=True)
class UnitResult:
    key: str
    shard: str
    rows: int
    failed: list[dict]           # video_id, path, reason, detail
    decoded: int = 0             # videos decoded from their files
    copied: int = 0              # videos copied from an earlier shard


def code_digest() -> str:
    """Digest of the decoding code's behaviour (mvclr.data.code_digest: docstrings and comments
    aside) and of the libraries that decide decoded values."""
    return code_digest_of(*CODE, sys.modules[__name__],
                          extra=json.dumps([av.__version__, av.library_versions], default=str))


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
            out.append(Job(r["video_id"], r["path"], str(Path(source) / r["path"]),
                           r["fingerprint"], tuple(float(s) for s in starts)))
    return out


def video_key(job: Job, layout: Layout, code: str) -> str:
    """The content address of one video's segments (see the module's docstring)."""
    blob = json.dumps([FORMAT, code, layout.attrs(), job.video_id, job.fingerprint, job.starts])
    return hashlib.blake2b(blob.encode(), digest_size=16).hexdigest()


def plan(jobs_: list[Job], layout: Layout, unit_videos: int) -> list[Unit]:
    """`jobs_` cut into shards at content-defined boundaries (see the module's docstring)."""
    if unit_videos < 1:
        raise ValueError(f"decode.unit_videos must be >= 1, got {unit_videos}")
    code = code_digest()
    units, group = [], []

    def close() -> None:
        keys = tuple(k for _, k in group)
        key = hashlib.blake2b(json.dumps(keys).encode(), digest_size=16).hexdigest()
        units.append(Unit(len(units), key, tuple(j for j, _ in group), keys, layout))
        group.clear()

    for job in jobs_:
        key = video_key(job, layout, code)
        group.append((job, key))
        if int(key[:12], 16) % unit_videos == 0 or len(group) >= MAX_FACTOR * unit_videos:
            close()
    if group:
        close()
    return units


def decode_video(job: Job, layout: Layout):
    """Audio and frames of one video's segments (reader.read_segments); MediaError when the
    file cannot be used. Runs in the supervised child."""
    return reader.read_segments(job.file, job.starts, layout)


def failure(job: Job, reason: str, detail: str) -> dict:
    return {"video_id": job.video_id, "path": job.path, "reason": reason, "detail": detail}


def copy_video(job: Job, source: Source, folder: Path):
    """Audio and frames of `job`'s segments as the earlier shard `source` holds them, or None
    when they are not there intact (a missing or damaged file, rows of another video, a row
    that does not match its digest): the video is then decoded."""
    try:
        audio, frames, meta = segment_store.read_rows(folder / source.shard, source.first, source.rows)
    except (OSError, KeyError, ValueError):
        return None
    if list(meta["video_id"]) != [job.video_id] * len(job.starts) or \
            tuple(meta["start_seconds"].tolist()) != job.starts:
        return None
    for a, f, d in zip(audio, frames, meta["digest"]):
        if not np.array_equal(segment_store.row_digest(a, f), d):
            return None
    return audio, frames


def decode_unit(unit: Unit, folder: str | Path, timeout_seconds: float) -> UnitResult:
    """Write the shard folder/<key>.h5 of `unit`: each video copied from its source shard when
    it has one that verifies, else decoded; a video that fails (bad file, decoder crash, no
    result within `timeout_seconds`) is recorded, the others written."""
    folder = Path(folder)
    tmp = folder / f"{unit.key}.{uuid.uuid4().hex}.tmp"
    failed, decoded, copied = [], 0, 0
    sources = unit.sources or (None,) * len(unit.jobs)
    try:
        with Supervised(decode_video, timeout_seconds) as decode, \
                segment_store.ShardWriter(tmp, unit.layout) as shard:
            for job, source in zip(unit.jobs, sources):
                segments = None if source is None else copy_video(job, source, folder)
                if segments is not None:
                    copied += 1
                else:
                    try:
                        segments = decode(job, unit.layout)
                    except (media.MediaError, Failed) as e:
                        failed.append(failure(job, e.reason, e.detail))
                        continue
                    except Exception as e:  # noqa: BLE001 - a decoder bug must not cost the other videos
                        failed.append(failure(job, media.DECODE_FAILED, f"{type(e).__name__}: {e}"))
                        continue
                    decoded += 1
                shard.append(*segments, job.video_id, job.starts)
            rows = shard.n
            shard.close(unit=unit.key, videos=json.dumps(list(zip(unit.videos,
                                                                  (j.video_id for j in unit.jobs)))),
                        failed=json.dumps(failed), timeout_seconds=timeout_seconds, complete=True)
        tmp.replace(folder / unit.shard)
    finally:
        tmp.unlink(missing_ok=True)
    return UnitResult(unit.key, unit.shard, rows, failed, decoded, copied)


def expected_rows(unit: Unit, failed: list[dict]) -> list[tuple[str, int, float]]:
    """(video_id, segment_index, start) of the rows a shard of `unit` holds given its failures."""
    gone = {f["video_id"] for f in failed}
    return [(j.video_id, i, s) for j in unit.jobs if j.video_id not in gone
            for i, s in enumerate(j.starts)]

