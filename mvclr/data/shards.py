"""Building the segment store from units of work (mvclr.data.decoding), keeping every shard of
the plan that a previous run finished and copying, not decoding, every video an earlier shard
already holds.

A shard named by its unit's key is kept only when it verifies: it opens, records that key and
completion, holds exactly the rows the plan and its recorded failures imply, and every row's
audio and frames match its stored digest (a truncated or corrupted file fails here). Reading
every byte of every shard on every run would cost the whole catalogue, so a shard that verified
is remembered in `memo` (mvclr.data.memo, a local cache) with its file's identity (size,
modification and change times, inode): it is read again only once that identity changes. A shard that does not verify is reported and
redone; one whose videos timed out under a smaller budget than today's is redone too. Shards
that the plan no longer names are the sources of the units to write (a video that moved to
another shard is copied from them) and are removed once the store is assembled; files of an
interrupted write (`*.tmp`) are removed first. The folder then holds exactly the store's shards.
"""
from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

import h5py
import numpy as np
from tqdm import tqdm

from mvclr.data import executors, media, segment_store
from mvclr.data.decoding import Source, Unit, UnitResult, decode_unit, expected_rows, failure
from mvclr.data.memo import Memo


MEMO_NAMESPACE = "verified-shards"


def identity(path: Path) -> str:
    """What a memo of a verified shard holds: its file's size, modification and change times
    and inode."""
    st = path.stat()
    return f"{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}:{st.st_ino}"


def verify(path: Path, unit: Unit, timeout_seconds: float,
           verified: dict[str, str] | None = None) -> tuple[UnitResult | None, str]:
    """The result recorded in an existing shard of `unit`, or None and why it cannot be kept.
    Rows are checked against their digests unless `verified` ({shard name: `identity`} of
    shards that verified) holds the file as it is."""
    try:
        with h5py.File(path, "r") as f:
            if f.attrs.get("unit") != unit.key or not f.attrs.get("complete"):
                return None, "not a complete shard of this unit"
            failed = json.loads(f.attrs["failed"])
            if any(x["reason"] == media.TIMED_OUT for x in failed) and \
                    float(f.attrs["timeout_seconds"]) < timeout_seconds:
                return None, (f"videos timed out under {f.attrs['timeout_seconds']} s, "
                              f"decode.timeout_seconds is now {timeout_seconds} s")
            rows = list(zip(f["video_id"].asstr()[:], f["segment_index"][:].tolist(),
                            f["start_seconds"][:].tolist()))
            if rows != expected_rows(unit, failed):
                return None, "its rows differ from the plan"
            if verified is None or verified.get(path.name) != identity(path):
                digest = f["digest"]
                for i in range(len(rows)):
                    if not np.array_equal(segment_store.row_digest(f["audio"][i], f["frames"][i]),
                                          digest[i]):
                        return None, f"row {i} does not match its digest"
    except (OSError, KeyError, ValueError, TypeError) as e:
        return None, f"unreadable ({type(e).__name__}: {e})"
    return UnitResult(unit.key, unit.shard, len(rows), failed), ""


def sources(folder: Path, names: list[str]) -> dict[str, Source]:
    """{video_key: Source} of the videos the shards `names` of `folder` hold (an unreadable
    shard holds none)."""
    out = {}
    for name in names:
        try:
            held = segment_store.shard_videos(folder / name)
        except (OSError, KeyError, ValueError):
            continue
        out.update({key: Source(name, first, rows) for key, (first, rows) in held.items()})
    return out


def build(units: list[Unit], store: str | Path, folder: str | Path, attrs: dict, *,
          timeout_seconds: float, workers: int, executor=executors.local,
          progress: bool = True, memo: str | Path | None = None) -> dict:
    """Write the units whose shards are missing or bad (copying what earlier shards hold,
    decoding the rest), then assemble `store` from all shards in plan order. `memo`: the
    mvclr.data.memo file remembering which shards verified (None: verify every shard fully).
    Returns the decode report: videos, segments, failed
    videos, what happened to the shards and how many videos were decoded and copied."""
    store, folder = Path(store), Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    remembered = Memo(memo, MEMO_NAMESPACE) if memo is not None else None
    verified = remembered.load() if remembered is not None else {}
    unfinished = sorted(folder.glob("*.tmp"))
    for path in unfinished:
        path.unlink()
    results, redone, todo = {}, [], []
    for unit in units:
        path = folder / unit.shard
        if path.exists():
            result, why = verify(path, unit, timeout_seconds, verified)
            if result is not None:
                remember(remembered, path)
                results[unit.index] = result
                continue
            redone.append({"shard": str(path), "reason": why})
            _say(f"decode: shard {path} is redone: {why}")
            path.unlink()
        todo.append(unit)
    if unfinished:
        _say(f"decode: removed {len(unfinished)} unfinished shard file(s) of an interrupted run")
    if results:
        _say(f"decode: resuming: {len(results)} of {len(units)} shards kept")
    keep = {u.shard for u in units}
    stale = sorted(p.name for p in folder.iterdir() if p.name not in keep)
    held = sources(folder, stale) if todo else {}
    todo = [replace(u, sources=tuple(held.get(k) for k in u.videos)) for u in todo]
    videos = sum(len(u.jobs) for u in units)
    decoded = copied = 0
    with tqdm(total=videos, initial=sum(len(units[i].jobs) for i in results), desc="decode",
              unit="video", disable=not progress) as bar:
        segments = 0       # decoded or copied: the bar shows the workers' throughput in both units
        for unit, result, error in executor(decode_unit, todo, folder, timeout_seconds, workers=workers):
            if result is None:     # no shard: every video of the unit failed
                result = UnitResult(unit.key, "", 0, [failure(j, media.DECODE_FAILED, error)
                                                      for j in unit.jobs])
            else:
                remember(remembered, folder / result.shard)
            for f in result.failed:
                _say(f"decode: skipped {f['video_id']} ({f['path']}): {f['reason']}: {f['detail']}")
            results[unit.index] = result
            decoded, copied = decoded + result.decoded, copied + result.copied
            segments += result.rows
            bar.set_postfix_str(f"{segments / max(bar.format_dict['elapsed'], 1e-9):.1f} segments/s",
                                refresh=False)
            bar.update(len(unit.jobs))
    shards = [folder / results[u.index].shard for u in units if results[u.index].shard]
    total = segment_store.assemble(store, shards, attrs)
    for name in stale:
        (folder / name).unlink(missing_ok=True)
    if remembered is not None:
        remembered.close()
    failed = [f for u in units for f in results[u.index].failed]
    return {"videos": videos - len(failed), "segments": total, "failed": failed,
            "decoded_videos": decoded, "copied_videos": copied,
            "shards": {"units": len(units), "kept": len(units) - len(todo), "written": len(todo),
                       "redone": redone, "unfinished_removed": len(unfinished),
                       "stale_removed": len(stale)}}


def remember(memo: Memo | None, path: Path) -> None:
    if memo is not None:
        memo.put(path.name, identity(path))


def _say(message: str) -> None:
    tqdm.write(message, file=sys.stderr)
