"""Embedding throughput: segments/s of each backbone through the embed stage (read the
window from the segment store, preprocess, forward, write the zarr blocks) against the bare
forward pass on pre-made batches of the same size, measured alternately in the same run.
The ratio is the stage's I/O and orchestration overhead; target >= 0.85.

    python benchmarks/embed.py [--audio 256] [--video 32] [--repeats 2]

Segments are generated at the shapes params.yaml gives (5 s of 16 kHz audio, 50 frames of
128x171); the backbones and batch sizes are those of params.yaml.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mvclr.data import segment_store  # noqa: E402
from mvclr.features import embedding, windows  # noqa: E402
from mvclr.config import load_params  # noqa: E402

TARGET = 0.85


def make_segments(path: Path, n: int, params: dict, frames: bool) -> None:
    """n segments of noise as the store keeps them (the analysis window): realistic audio
    always, realistic frames only when `frames`."""
    d = params["decode"]
    count = params["features"]["video"]["frames"]
    shape = (count, d["height"], d["width"]) if frames else (1, 8, 8)
    rng = np.random.default_rng(0)
    samples = int(round(d["window_seconds"] * d["sample_rate"]))
    with segment_store.SegmentWriter(path, sample_rate=d["sample_rate"],
                                     segment_seconds=d["segment_seconds"],
                                     window_seconds=d["window_seconds"], frames=d["frames"],
                                     window_frames=shape[0], height=shape[1], width=shape[2],
                                     seed=0) as writer:
        for start in range(0, n, 16):
            k = min(16, n - start)
            audio = (0.1 * rng.standard_normal((k, samples))).astype(np.float32)
            pixels = rng.integers(0, 256, (k, *shape, 3), dtype=np.uint8)
            writer.append(audio, pixels, f"v{start}", np.zeros(k))


def bench(modality: str, n: int, params: dict, repeats: int, folder: Path) -> dict:
    segments = folder / f"{modality}.h5"
    make_segments(segments, n, params, frames=modality == "video")
    if modality == "audio":
        from mvclr.features.musicnn import MusicnnBackbone as Backbone
    else:
        from mvclr.features.r2plus1d import R2Plus1DBackbone as Backbone
    backbone = Backbone.from_params(params)
    batch_size = params["features"][modality]["batch_size"]
    import h5py
    with h5py.File(segments, "r") as f:
        read = windows.window_reader(f, modality, params)
        batches = [backbone.prepare(read(slice(s, min(s + batch_size, n))))
                   for s in range(0, n, batch_size)]
    backbone.forward(batches[0])                                   # warm-up
    bare, stage = [], []
    for r in range(repeats):
        start = time.perf_counter()
        for batch in batches:
            backbone.forward(batch)
        bare.append(n / (time.perf_counter() - start))
        summary = embedding.embed(modality, backbone, params, segments,
                                  folder / f"{modality}{r}.zarr", progress=False)
        stage.append(summary["segments"] / summary["seconds"])
    result = {"modality": modality, "segments": n, "batch_size": batch_size,
              "device": backbone.info()["device"], "bare": float(np.mean(bare)),
              "stage": float(np.mean(stage))}
    result["ratio"] = result["stage"] / result["bare"]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--audio", type=int, default=256, help="segments for musicnn")
    parser.add_argument("--video", type=int, default=32, help="segments for R(2+1)D-18")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    params = load_params(Path(__file__).resolve().parents[1] / "params.yaml")
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for modality, n in (("audio", args.audio), ("video", args.video)):
            if n:
                results.append(bench(modality, n, params, args.repeats, Path(tmp)))
    for r in results:
        verdict = "ok" if r["ratio"] >= TARGET else f"BELOW TARGET {TARGET}"
        print(f"embed {r['modality']:5s} on {r['device']}: stage {r['stage']:8.1f} segments/s, "
              f"bare forward {r['bare']:8.1f} segments/s (batch {r['batch_size']}, "
              f"{r['segments']} segments): ratio {r['ratio']:.3f} {verdict}")
    if any(r["ratio"] < TARGET for r in results):
        sys.exit(1)


if __name__ == "__main__":
    main()
