"""Decoding the segments of every usable video into the segment store.

Videos are decoded in parallel (`workers` processes), written in index order, with at most
2 x workers videos in flight, so memory stays bounded. A video that fails is reported and
skipped (listed in the store's `failed` attribute); the others keep their segments. The store
is built as <store>.partial and renamed when complete; an interrupted run resumes after the
last video it wrote.
"""
from __future__ import annotations

import hashlib
import json
import multiprocessing
import sys
from collections import deque
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass
from pathlib import Path

import h5py
from tqdm import tqdm

from mvclr.data import media, reader, sampling
from mvclr.data.segment_store import SegmentWriter, frame_offsets


@dataclass(frozen=True)
class Job:
    video_id: str
    file: str
    split: str
    starts: tuple[float, ...]


def plan(rows: list[dict], source: str | Path, seed: int, segments: int,
         segment_seconds: float) -> list[Job]:
    """The windows of every ok row of the index, in index order."""
    jobs = []
    for r in rows:
        if r["status"] != "ok":
            continue
        rng = sampling.video_rng(seed, r["video_id"])
        starts = sampling.segment_starts(r["duration"], segments, segment_seconds, rng)
        if len(starts):
            jobs.append(Job(r["video_id"], str(Path(source) / r["path"]), r["split"],
                            tuple(float(s) for s in starts)))
    return jobs


def _decode(job: Job, dec: dict):
    """Worker: (job, audio, frames) or (job, error message)."""
    try:
        audio, frames = reader.read_segments(
            job.file, job.starts, dec["segment_seconds"], dec["sample_rate"],
            frame_offsets(dec["segment_seconds"], dec["frames"]), dec["height"], dec["width"])
        return job, audio, frames
    except media.MediaError as e:
        return job, f"{e.reason}: {e.detail}" if e.detail else e.reason
    except Exception as e:  # a decoder bug must not cost the other videos
        return job, f"{media.DECODE_FAILED}: {type(e).__name__}: {e}"


def _pool(workers: int) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))


def _isolated(job: Job, dec: dict):
    """`_decode` alone in a fresh process: tells a crashing file from its neighbours."""
    with _pool(1) as pool:
        try:
            return pool.submit(_decode, job, dec).result()
        except BrokenProcessPool:
            return job, f"{media.DECODE_FAILED}: the decoder process crashed"


def _ordered(jobs: list[Job], dec: dict, workers: int):
    """Results of `_decode` in job order with at most 2 x workers in flight. When a
    worker dies (a crash inside FFmpeg) the oldest job in flight is retried alone and
    the rest are resubmitted, so only the crashing file is lost."""
    if workers <= 1:
        yield from (_decode(j, dec) for j in jobs)
        return
    todo = deque(jobs)
    while todo:
        crashed = None
        with _pool(workers) as pool:
            flight = deque()
            try:
                while todo or flight:
                    while todo and len(flight) < 2 * workers:
                        job = todo.popleft()
                        flight.append((job, pool.submit(_decode, job, dec)))
                    result = flight[0][1].result()
                    flight.popleft()
                    yield result
            except BrokenProcessPool:
                crashed = flight.popleft()[0]
                todo.extendleft(reversed([j for j, _ in flight]))
        if crashed is not None:
            yield _isolated(crashed, dec)


def _fingerprint(jobs: list[Job], dec: dict, seed: int) -> str:
    knobs = {k: v for k, v in dec.items() if k != "workers"}
    blob = json.dumps([knobs, seed, [asdict(j) for j in jobs]], sort_keys=True)
    return hashlib.sha1(blob.encode()).hexdigest()


def _resume_point(partial: Path, fingerprint: str) -> tuple[int, int, list] | None:
    """(videos done, rows written, failures) of an interrupted run of the same plan."""
    try:
        with h5py.File(partial, "r") as f:
            if f.attrs.get("plan") != fingerprint:
                return None
            return (int(f.attrs["videos_done"]), int(f.attrs["rows_done"]),
                    json.loads(f.attrs["failed"]))
    except (OSError, KeyError, ValueError):
        return None


def decode_all(jobs: list[Job], store: str | Path, dec: dict, seed: int) -> list[dict]:
    """Write the segments of `jobs` to `store`; returns the failed videos."""
    store = Path(store)
    partial = store.with_name(store.name + ".partial")
    fingerprint = _fingerprint(jobs, dec, seed)
    resume = _resume_point(partial, fingerprint) if partial.exists() else None
    if resume:
        done, rows, failed = resume
        writer = SegmentWriter.reopen(partial, rows)
        print(f"decode: resuming after {done} of {len(jobs)} videos", file=sys.stderr)
    else:
        done, failed = 0, []
        writer = SegmentWriter(partial, sample_rate=dec["sample_rate"],
                               segment_seconds=dec["segment_seconds"], frames=dec["frames"],
                               height=dec["height"], width=dec["width"], seed=seed,
                               plan=fingerprint)
    with writer, tqdm(total=len(jobs), initial=done, desc="decode", unit="video") as bar:
        for result in _ordered(jobs[done:], dec, dec["workers"]):
            job = result[0]
            if len(result) == 2:
                failed.append({"video_id": job.video_id, "file": job.file, "reason": result[1]})
                tqdm.write(f"decode: skipped {job.video_id} ({job.file}): {result[1]}", file=sys.stderr)
            else:
                _, audio, frames = result
                writer.append(audio, frames, job.video_id, list(range(len(job.starts))),
                              list(job.starts), job.split)
            done += 1
            writer.file.attrs.update(videos_done=done, rows_done=writer.n,
                                     failed=json.dumps(failed))
            writer.flush()
            bar.update()
            bar.set_postfix(segments=writer.n, failed=len(failed))
    partial.replace(store)
    return failed
