"""Building the segment store from units of work (mvclr.data.decoding), resuming what a
previous run of the same plan finished.

A shard named by its unit's key is kept only when it verifies: it opens, records that key and
completion, holds exactly the rows the plan and its recorded failures imply, and every row's
audio and frames still match its stored digest (a truncated or corrupted file fails here). A
shard that does not verify is reported and redone; one whose videos timed out under a smaller
budget than today's is redone too. Files of an interrupted write (`*.tmp`) and shards of
other plans are removed, so the folder holds exactly the store's shards.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import h5py
import numpy as np
from tqdm import tqdm

from mvclr.data import executors, media, segment_store
from mvclr.data.decoding import Unit, UnitResult, decode_unit, expected_rows, failure


def verify(path: Path, unit: Unit, timeout_seconds: float) -> tuple[UnitResult | None, str]:
    """The result recorded in an existing shard of `unit`, or None and why it cannot be kept."""
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
            digest = f["digest"]
            for i in range(len(rows)):
                if not np.array_equal(segment_store.row_digest(f["audio"][i], f["frames"][i]), digest[i]):
                    return None, f"row {i} does not match its digest"
    except (OSError, KeyError, ValueError, TypeError) as e:
        return None, f"unreadable ({type(e).__name__}: {e})"
    return UnitResult(unit.key, unit.shard, len(rows), failed), ""


def build(units: list[Unit], store: str | Path, folder: str | Path, attrs: dict, *,
          timeout_seconds: float, workers: int, executor=executors.local,
          progress: bool = True) -> dict:
    """Decode the units whose shards are missing or bad, then assemble `store` from all shards
    in plan order. Returns the decode report: videos, segments, failed videos, what happened
    to the shards."""
    store, folder = Path(store), Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    unfinished = sorted(folder.glob("*.tmp"))
    for path in unfinished:
        path.unlink()
    results, redone, todo = {}, [], []
    for unit in units:
        path = folder / unit.shard
        if path.exists():
            result, why = verify(path, unit, timeout_seconds)
            if result is not None:
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
    videos = sum(len(u.jobs) for u in units)
    with tqdm(total=videos, initial=sum(len(units[i].jobs) for i in results), desc="decode",
              unit="video", disable=not progress) as bar:
        decoded = 0        # segments: the bar shows the workers' throughput in both units
        for unit, result, error in executor(decode_unit, todo, folder, timeout_seconds, workers=workers):
            if result is None:     # no shard: every video of the unit failed
                result = UnitResult(unit.key, "", 0, [failure(j, media.DECODE_FAILED, error)
                                                      for j in unit.jobs])
            for f in result.failed:
                _say(f"decode: skipped {f['video_id']} ({f['path']}): {f['reason']}: {f['detail']}")
            results[unit.index] = result
            decoded += result.rows
            bar.set_postfix_str(f"{decoded / max(bar.format_dict['elapsed'], 1e-9):.1f} segments/s",
                                refresh=False)
            bar.update(len(unit.jobs))
    keep = {u.shard for u in units}
    stale = [p for p in folder.iterdir() if p.name not in keep]
    for path in stale:
        path.unlink()
    shards = [folder / results[u.index].shard for u in units if results[u.index].shard]
    segments = segment_store.assemble(store, shards, attrs)
    failed = [f for u in units for f in results[u.index].failed]
    return {"videos": videos - len(failed), "segments": segments, "failed": failed,
            "shards": {"units": len(units), "kept": len(units) - len(todo), "decoded": len(todo),
                       "redone": redone, "unfinished_removed": len(unfinished),
                       "stale_removed": len(stale)}}


def _say(message: str) -> None:
    tqdm.write(message, file=sys.stderr)
