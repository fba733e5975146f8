"""Embedding throughput, in one run:
1. musicnn through TensorFlow and through PyTorch on the same windows (log-mel + network,
   the backbone's `prepare` + `forward`), measured alternately: segments/s of each and the
   ratio torch / tensorflow (the default runtime is chosen from it, README);
2. segments/s of each backbone (musicnn in params.yaml's runtime, R(2+1)D-18) through the
   embed stage (read the window from the segment store, preprocess, forward, write the zarr
   blocks) against the bare forward pass on pre-made batches of the same size, measured
   alternately: the ratio is the stage's I/O and orchestration overhead; target >= 0.85.
Figures are medians over the repeats, on the device the backbones pick (a GPU when there is
one: then musicnn through TensorFlow still runs on the CPU).

    python benchmarks/embed.py [--audio 256] [--video 32] [--runtimes 64] [--repeats 3]

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
from mvclr.features.musicnn_runtime import audio_backbone  # noqa: E402
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
        backbone = audio_backbone(params)
    else:
        from mvclr.features.r2plus1d import R2Plus1DBackbone
        backbone = R2Plus1DBackbone.from_params(params)
    batch_size = backbone.batch_size
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
              "device": backbone.info()["device"], "bare": float(np.median(bare)),
              "stage": float(np.median(stage))}
    result["ratio"] = result["stage"] / result["bare"]
    return result


def runtimes(n: int, params: dict, repeats: int) -> dict:
    """musicnn windows/s through each runtime (prepare + forward), alternately, on CPU."""
    rng = np.random.default_rng(1)
    windows = (0.1 * rng.standard_normal((n, int(params["decode"]["window_seconds"] * 16000))))
    backbones = {}
    for runtime in ("tensorflow", "torch"):
        p = {**params, "features": {**params["features"], "audio": {
            **params["features"]["audio"], "runtime": runtime}}}
        backbones[runtime] = audio_backbone(p, "cpu") if runtime == "torch" else audio_backbone(p)
    speed = {runtime: [] for runtime in backbones}
    for r in range(repeats + 1):                                   # the first is a warm-up
        for runtime, backbone in backbones.items():
            start = time.perf_counter()
            for s in range(0, n, backbone.batch_size):
                backbone(windows[s:s + backbone.batch_size].astype(np.float32))
            if r:
                speed[runtime].append(n / (time.perf_counter() - start))
    result = {runtime: float(np.median(v)) for runtime, v in speed.items()}
    result["ratio"] = result["torch"] / result["tensorflow"]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--audio", type=int, default=256, help="segments for musicnn")
    parser.add_argument("--video", type=int, default=32, help="segments for R(2+1)D-18")
    parser.add_argument("--runtimes", type=int, default=64, help="windows for TF vs torch")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    params = load_params(Path(__file__).resolve().parents[1] / "params.yaml")
    import torch
    if not torch.cuda.is_available():
        print("no GPU here: CPU figures only (the GPU path's figures need a CUDA device)")
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for modality, n in (("video", args.video), ("audio", args.audio)):   # torchvision
            if n:                                                  # before TensorFlow
                results.append(bench(modality, n, params, args.repeats, Path(tmp)))
    if args.runtimes:
        r = runtimes(args.runtimes, params, args.repeats)
        print(f"musicnn on cpu ({args.runtimes} windows, batch "
              f"{params['features']['audio']['batch_size']}): tensorflow {r['tensorflow']:.1f} "
              f"segments/s, torch {r['torch']:.1f} segments/s: torch / tensorflow "
              f"{r['ratio']:.2f}")
    for r in results:
        verdict = "ok" if r["ratio"] >= TARGET else f"BELOW TARGET {TARGET}"
        print(f"embed {r['modality']:5s} on {r['device']}: stage {r['stage']:8.1f} segments/s, "
              f"bare forward {r['bare']:8.1f} segments/s (batch {r['batch_size']}, "
              f"{r['segments']} segments): ratio {r['ratio']:.3f} {verdict}")
    if any(r["ratio"] < TARGET for r in results):
        sys.exit(1)


if __name__ == "__main__":
    main()
