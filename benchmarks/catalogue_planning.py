"""Planning at catalogue scale (`python benchmarks/catalogue.py planning`): the project's real
planning code — the decode plan (mvclr.data.decoding.plan, mvclr.data.shards.sources) and the
feature store's reuse by content (mvclr.features.reuse.plan, mvclr.features.filling.fill) — on
synthetic store metadata of `videos` videos, after (a) 1 % new videos at random positions of
metadata.csv, (b) 1 % removed, (c) metadata.csv shuffled, (d) the folder copied with new mtimes,
and (e) 1 % new videos appended at the end (the daily case).

Reported per case: the share of videos decoded and of segments embedded (computed), against
the ideal (a, e: the new share, b-d: 0), and what is copied instead (videos from earlier shards,
vectors found by content). Target: at most the ideal plus one shard and one block. Nothing is
decoded or embedded here: a video "decoded" is one whose key no earlier shard holds, and the
feature store (real zarr, `dim` columns so it fits in memory and on disk) is filled by a
forward pass that only counts its rows.
"""
from __future__ import annotations

import hashlib
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from mvclr.data import decoding
from mvclr.data.layout import Layout
from mvclr.features import reuse, store as feature_store
from mvclr.features.filling import fill

LAYOUT = Layout(5.0, 3.0, 16000, 50, 16, 128, 171)
FINGERPRINT = "planning-benchmark"


def catalogue(videos: int, rng: np.random.Generator) -> list[decoding.Job]:
    """Jobs of `videos` videos with random content fingerprints and 6 windows each."""
    fingerprints = rng.integers(0, 2 ** 63, (videos, 2))
    return [decoding.Job(f"v{i:07d}", f"v{i:07d}.mp4", f"/catalogue/v{i:07d}.mp4",
                         f"{a:016x}{b:016x}", (0.0, 5.0, 10.0, 15.0, 20.0, 25.0))
            for i, (a, b) in enumerate(fingerprints)]


def segment_digests(units: list[decoding.Unit]) -> np.ndarray:
    """uint8 [segments, 16]: a digest per segment, derived from its video's key."""
    out = []
    for unit in units:
        for key, job in zip(unit.videos, unit.jobs):
            for i in range(len(job.starts)):
                out.append(hashlib.blake2b(f"{key}/{i}".encode(), digest_size=16).digest())
    return np.frombuffer(b"".join(out), np.uint8).reshape(-1, 16)


def decode_share(before: list[decoding.Unit], after: list[decoding.Unit]) -> dict:
    """Which shards the new plan writes and which of their videos no earlier shard holds."""
    kept = {u.key for u in before}
    held = {k for u in before for k in u.videos}
    written = [u for u in after if u.key not in kept]
    videos = sum(len(u.jobs) for u in after)
    decoded = sum(k not in held for u in written for k in u.videos)
    copied = sum(k in held for u in written for k in u.videos)
    return {"videos": videos, "shards": len(after), "shards_written": len(written),
            "videos_decoded": decoded, "videos_copied": copied,
            "decoded_share": decoded / videos}


def embed_share(template: Path, work: Path, rows: np.ndarray, block_rows: int, dim: int) -> dict:
    """The reuse plan and fill of a copy of the feature store `template` for the segments `rows`."""
    shutil.copytree(template, work)
    store = feature_store.FeatureStore.open(work, rows=len(rows), dim=dim, block_rows=block_rows,
                                            attrs={"fingerprint": FINGERPRINT}, resize=False)
    start = time.perf_counter()
    tasks, digests, copied = reuse.plan(store, FINGERPRINT, rows)
    plan_seconds = time.perf_counter() - start
    computed = fill(store, tasks, lambda r: rows[r], lambda x: x, lambda x: x[:, :dim].astype(np.float32),
                    batch_size=4096)
    assert store.completed(digests).all()
    shutil.rmtree(work)
    return {"segments": len(rows), "segments_computed": computed, "segments_copied": copied,
            "blocks": store.n_blocks, "blocks_touched": len(tasks),
            "embedded_share": computed / len(rows), "plan_seconds": round(plan_seconds, 2)}


def planning(videos: int = 550_000, share: float = 0.01, unit_videos: int = 16,
             block_rows: int = 4096, dim: int = 4, seed: int = 0, say=print) -> dict:
    """The four cases' shares; see the module's docstring."""
    rng = np.random.default_rng(seed)
    jobs = catalogue(videos, rng)
    t = time.perf_counter()
    units = decoding.plan(jobs, LAYOUT, unit_videos)
    say(f"plan of {videos} videos: {len(units)} shards in {time.perf_counter() - t:.1f} s")
    rows = segment_digests(units)
    k = int(round(share * videos))
    new = catalogue(k, np.random.default_rng(seed + 1))
    new = [decoding.Job(f"n{i:07d}", j.path, j.file, j.fingerprint, j.starts) for i, j in enumerate(new)]
    inserted = list(jobs)
    for job, at in sorted(zip(new, rng.integers(0, videos, k)), key=lambda x: -x[1]):
        inserted.insert(int(at), job)
    gone = set(rng.choice(videos, k, replace=False).tolist())
    cases = {
        "a_inserted": (inserted, k / (videos + k)),
        "b_removed": ([j for i, j in enumerate(jobs) if i not in gone], 0.0),
        "c_shuffled": ([jobs[i] for i in rng.permutation(videos)], 0.0),
        # a copied folder: new paths and mtimes, the same contents (so the same fingerprints)
        "d_copied": ([decoding.Job(j.video_id, j.path, "/copy" + j.file, j.fingerprint, j.starts)
                      for j in jobs], 0.0),
        # the daily case: new releases appended at the end of metadata.csv
        "e_appended": ([*jobs, *new], k / (videos + k)),
    }
    out = {"videos": videos, "segments": len(rows), "unit_videos": unit_videos,
           "block_rows": block_rows, "cases": {}}
    with tempfile.TemporaryDirectory(prefix="planning-") as tmp:
        template = Path(tmp) / "template.zarr"
        store = feature_store.FeatureStore.open(template, rows=len(rows), dim=dim,
                                                block_rows=block_rows,
                                                attrs={"fingerprint": FINGERPRINT}, resize=False)
        tasks, _, _ = reuse.plan(store, FINGERPRINT, rows)
        fill(store, tasks, lambda r: rows[r], lambda x: x, lambda x: x[:, :dim].astype(np.float32),
             batch_size=4096)
        for name, (changed, ideal) in cases.items():
            t = time.perf_counter()
            after = decoding.plan(changed, LAYOUT, unit_videos)
            decode = decode_share(units, after)
            embed = embed_share(template, Path(tmp) / f"{name}.zarr", segment_digests(after),
                                block_rows, dim)
            shard_share = unit_videos * decoding.MAX_FACTOR / decode["videos"]
            block_share = block_rows / embed["segments"]
            case = {"ideal": ideal, **decode, **embed,
                    "decode_within_target": decode["decoded_share"] <= ideal + shard_share,
                    "embed_within_target": embed["embedded_share"] <= ideal + block_share,
                    "seconds": round(time.perf_counter() - t, 1)}
            out["cases"][name] = case
            say(f"{name}: decoded {case['decoded_share']:.4%} of videos, embedded "
                f"{case['embedded_share']:.4%} of segments (ideal {ideal:.4%}); copied "
                f"{case['videos_copied']} videos, {case['segments_copied']} vectors; "
                f"{case['seconds']} s")
    out["pass"] = all(c["decode_within_target"] and c["embed_within_target"]
                      for c in out["cases"].values())
    return out
