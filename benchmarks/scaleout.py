"""Scale-out overhead, in one run: decode and embed segments/s with the local executor against
Ray with the same number of workers on this machine, and the ratio Ray / local (target >= 0.9:
Ray's overhead must be small).

Ray is an embedded local Ray of --workers CPUs (RAY_ADDRESS is ignored here), started before
the timing; its start-up (until its workers are ready) is reported apart: a cluster pays it
once, not per stage.
- Decode: shards.build over the same units (--videos generated with the demo's params, in units
  of --unit-videos) in --workers local processes, then as Ray tasks. Per unit, Ray costs ~0.7 s
  of CPU more: a unit's decoder child process (mvclr.data.supervise, spawned) re-imports its
  parent's main module, which in a Ray worker is Ray's worker script; small next to a unit of
  the sizes decode.unit_videos recommends (16 to 256 videos), large next to units of 4.
- Embed, each backbone of params.yaml (R(2+1)D with `weights: none`: the same compute as the
  Kinetics weights) over the first decoded units that hold --embed-segments: the local embed against one Ray
  actor (one process each: the same worker count), blocks of --block-rows segments handed out
  one by one. Each side runs in a fresh process every round, as a stage run does (a spawned
  process; a new actor): TensorFlow's first batches in a process are slower. Backbone loading
  is not timed on either side; the actor's start (process, imports, backbone) is shown apart.
Rounds alternate local and Ray (for decode, which goes first alternates too); each side's best
round counts (other load on a shared machine only slows it), the first round's ratio is shown
too. The outputs are checked identical. The device is the one the backbones pick: on a GPU
machine the embed figures are the GPU's.

    python benchmarks/scaleout.py [--videos 32] [--unit-videos 8] [--workers 2] [--repeats 2]
                                  [--embed-segments 48] [--block-rows 16]
"""
from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.chdir(ROOT)                     # Ray workers run in the driver's directory: the repository

import mvclr.cpu_profile  # noqa: E402,F401  (before numpy, torch: as every stage)
import h5py  # noqa: E402
import numpy as np  # noqa: E402

from mvclr.config import load_params  # noqa: E402
from mvclr.data import decoding, executors, ingest, segment_store, shards  # noqa: E402
from mvclr.data.demo.encode import generate  # noqa: E402
from mvclr.data.layout import Layout  # noqa: E402

# Only what the decode stage imports is imported at the top: the local executor's processes
# (spawned) import this module again, as they import stages.decode in a real run. Ray and the
# backbones are imported where they are used.
TARGET = 0.9


def ready() -> int:
    """A task that returns once a Ray worker is up (the start-up's end)."""
    return os.getpid()


def decode_round(units, layout, folder: Path, executor, workers: int, timeout: float) -> float:
    start = time.perf_counter()
    report = shards.build(units, folder / "segments.h5", folder / "segments", layout.attrs(),
                          timeout_seconds=timeout, workers=workers, executor=executor,
                          progress=False)
    assert not report["failed"], report["failed"]
    return report["segments"] / (time.perf_counter() - start)


def digests(store: Path) -> np.ndarray:
    with h5py.File(store) as f:
        return f["digest"][:]


def line(what: str, local: list[float], on_ray: list[float]) -> float:
    ratio = max(on_ray) / max(local)
    verdict = "ok" if ratio >= TARGET else f"BELOW TARGET {TARGET}"
    print(f"  {what:22s} local {max(local):7.2f} segments/s, ray {max(on_ray):7.2f} segments/s: "
          f"ratio {ratio:.3f} {verdict} (cold round: {on_ray[0] / local[0]:.3f})")
    return ratio


def backbone_of(modality: str, params: dict):
    """The modality's backbone as the embed stage builds it."""
    if modality == "audio":
        from mvclr.features.musicnn_runtime import audio_backbone
        return audio_backbone(params)
    from mvclr.features.r2plus1d import R2Plus1DBackbone
    return R2Plus1DBackbone.from_params(params)


def embed_locally(modality: str, params: dict, segments: Path, out: Path) -> dict:
    """The local embed in this (fresh) process, as `python -m stages.embed_*` runs it."""
    from mvclr.features import embedding
    backbone = backbone_of(modality, params)
    return {**embedding.embed(modality, backbone, params, segments, out, progress=False),
            "device": backbone.info()["device"]}


def embed_rounds(params: dict, segments: Path, tmp: Path, args) -> list[float]:
    """Each backbone's rounds, each side in a fresh process (a stage run: the local embed in
    a spawned process, one new Ray actor); the ratios."""
    from mvclr.compute.actors import embed_on_ray
    from mvclr.features import store as feature_store

    ratios = []
    for modality in ("video", "audio"):
        speed = {"local": [], "ray": []}
        for r in range(args.repeats):
            out = {name: tmp / f"{modality}-{name}{r}.zarr" for name in speed}
            with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
                local = pool.submit(embed_locally, modality, params, segments, out["local"]).result()
            speed["local"].append(local["segments"] / local["seconds"])
            begin = time.perf_counter()
            on_ray = embed_on_ray(modality, partial(backbone_of, modality, params), params,
                                  segments, out["ray"], progress=False, actors=1)
            speed["ray"].append(on_ray["segments"] / on_ray["seconds"])
            assert np.array_equal(feature_store.load(out["local"]), feature_store.load(out["ray"]))
        print(f"embed {modality} on {local['device']} ({local['segments']} segments, blocks of "
              f"{args.block_rows}; the stores are identical; the actor's start: "
              f"{time.perf_counter() - begin - on_ray['seconds']:.1f} s):")
        ratios.append(line(f"embed {modality}", speed["local"], speed["ray"]))
    return ratios


def main() -> None:
    import ray

    from mvclr.compute.cluster import connect
    from mvclr.compute.tasks import ray_tasks

    params = load_params(ROOT / "params.yaml")
    dec, demo = params["decode"], params["demo"]
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--videos", type=int, default=32)
    ap.add_argument("--unit-videos", type=int, default=8)
    ap.add_argument("--embed-segments", type=int, default=48)
    ap.add_argument("--workers", type=int, default=dec["workers"])
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--block-rows", type=int, default=16)
    args = ap.parse_args()
    params["features"]["block_rows"] = args.block_rows
    params["features"]["video"]["weights"] = "none"
    os.environ.pop("RAY_ADDRESS", None)
    ratios = []
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp, "videos")
        generate(source, videos=args.videos, seed=params["seed"], genres=demo["genres"],
                 min_seconds=demo["min_seconds"], max_seconds=demo["max_seconds"],
                 width=demo["width"], height=demo["height"], fps=demo["fps"],
                 sample_rate=demo["sample_rate"], container=demo["container"],
                 audio_channels=demo["audio_channels"], workers=args.workers, progress=False)
        rows = ingest.build_index(source, dec["segment_seconds"])
        layout = Layout.from_params(params)
        jobs = decoding.jobs(rows, source, params["seed"], dec["segments"], dec["segment_seconds"])
        units = decoding.plan(jobs, layout, args.unit_videos)
        start = time.perf_counter()
        connect(num_cpus=args.workers)
        ray.get([ray.remote(num_cpus=1)(ready).remote() for _ in range(args.workers)])
        started = time.perf_counter() - start
        print(f"{len(jobs)} videos, {sum(len(j.starts) for j in jobs)} segments, "
              f"{len(units)} decode units, {args.workers} workers; embedded Ray started "
              f"(workers ready) in {started:.1f} s")

        speed = {"local": [], "ray": []}
        for r in range(args.repeats):
            sides = [("local", executors.local), ("ray", ray_tasks)]
            for name, executor in sides[::1 if r % 2 == 0 else -1]:
                folder = Path(tmp, f"{name}{r}")
                speed[name].append(decode_round(units, layout, folder, executor, args.workers,
                                                dec["timeout_seconds"]))
        assert np.array_equal(digests(Path(tmp, "local0/segments.h5")),
                              digests(Path(tmp, "ray0/segments.h5")))
        print(f"decode (best of {args.repeats}; the stores are identical):")
        ratios.append(line("decode", speed["local"], speed["ray"]))

        covered = np.cumsum([sum(len(j.starts) for j in u.jobs) for u in units])
        embed_units = units[:int(np.searchsorted(covered, args.embed_segments)) + 1]
        segments = Path(tmp, "embed.h5")
        segment_store.assemble(segments, [Path(tmp, "local0/segments", u.shard) for u in embed_units],
                               layout.attrs())
        ratios += embed_rounds(params, segments, Path(tmp), args)
    ray.shutdown()
    if min(ratios) < TARGET:
        sys.exit(1)


if __name__ == "__main__":
    main()
