"""Decode throughput: the decode stage's code path against the `ffmpeg` command line.

Both decode the same windows of the same files in the same run, with the same number of
parallel workers (decode.workers): the stage (mvclr.data.decoding.decode_all: PyAV seek +
decode, 16 kHz mono audio, frames scaled and centre-cropped, written to an HDF5 store)
and one `ffmpeg` process per segment producing the same audio and frames as raw bytes
(no store). Prints segments per second of each (best of --repeats alternating rounds)
and the ratio stage / ffmpeg.

By default the files are a small demo set generated here with the demo's own generator
and params (mvclr.data.demo); `--size 1280x720` generates it with larger frames, `--source
FOLDER` uses a data set folder with metadata.csv instead. Needs `ffmpeg` on PATH
(Debian: apt-get install ffmpeg).
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from mvclr.data import decoding, ingest
from mvclr.data.demo.encode import generate
from mvclr.config import load_params


def ffmpeg_segment(file: str, start: float, dec: dict) -> tuple[int, int]:
    """One ffmpeg process decoding one window: 16 kHz mono f32 audio and `frames` frames
    scaled to cover height x width and centre-cropped, as raw RGB. Returns byte counts."""
    seconds, h, w = dec["segment_seconds"], dec["height"], dec["width"]
    with tempfile.TemporaryDirectory(dir="/dev/shm" if Path("/dev/shm").is_dir() else None) as tmp:
        cmd = ["ffmpeg", "-v", "error", "-nostdin", "-ss", f"{start:.6f}", "-t", f"{seconds:.6f}",
               "-i", file,
               "-map", "0:v:0", "-vf", f"fps={dec['frames'] / seconds},scale={w}:{h}:"
               f"force_original_aspect_ratio=increase:flags=area,crop={w}:{h}",
               "-frames:v", str(dec["frames"]), "-pix_fmt", "rgb24", "-f", "rawvideo", f"{tmp}/v",
               "-map", "0:a:0", "-ac", "1", "-ar", str(dec["sample_rate"]), "-f", "f32le", f"{tmp}/a"]
        subprocess.run(cmd, check=True)
        return Path(tmp, "a").stat().st_size, Path(tmp, "v").stat().st_size


def main() -> None:
    params = load_params()
    dec, demo = params["decode"], params["demo"]
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--source", help="data set folder with metadata.csv (default: generate)")
    ap.add_argument("--videos", type=int, default=8)
    ap.add_argument("--size", default=f"{demo['width']}x{demo['height']}")
    ap.add_argument("--workers", type=int, default=dec["workers"])
    ap.add_argument("--repeats", type=int, default=3, help="rounds of each; the best counts")
    args = ap.parse_args()
    dec = {**dec, "workers": args.workers}
    if shutil.which("ffmpeg") is None:
        sys.exit("benchmarks/decode.py: the `ffmpeg` command line is the baseline and is not on "
                 "PATH; install it (Debian/Ubuntu: apt-get install -y ffmpeg) and run again.")
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(args.source) if args.source else Path(tmp, "videos")
        if not args.source:
            w, h = map(int, args.size.split("x"))
            generate(source, videos=args.videos, seed=params["seed"], genres=demo["genres"],
                           min_seconds=demo["min_seconds"], max_seconds=demo["max_seconds"],
                           width=w, height=h, fps=demo["fps"], sample_rate=demo["sample_rate"],
                           container=demo["container"], audio_channels=demo["audio_channels"],
                           workers=dec["workers"], progress=False)
        rows = ingest.build_index(source, dec["segment_seconds"], params["data"]["split"],
                                  params["seed"])
        jobs = decoding.plan(rows, source, params["seed"], dec["segments"], dec["segment_seconds"])
        windows = [(j.file, s) for j in jobs for s in j.starts]

        # alternate the two, keep each one's best round: other load on the machine only slows
        t_stage = t_ffmpeg = np.inf
        for r in range(args.repeats):
            t0 = time.perf_counter()
            failed = decoding.decode_all(jobs, Path(tmp, f"segments{r}.h5"), dec, params["seed"])
            t_stage = min(t_stage, time.perf_counter() - t0)
            assert not failed, failed
            Path(tmp, f"segments{r}.h5").unlink()
            t0 = time.perf_counter()
            with ThreadPoolExecutor(dec["workers"]) as pool:
                sizes = list(pool.map(lambda fs: ffmpeg_segment(fs[0], fs[1], dec), windows))
            t_ffmpeg = min(t_ffmpeg, time.perf_counter() - t0)
        frame_bytes = dec["frames"] * dec["height"] * dec["width"] * 3
        short = sum(v < frame_bytes for _, v in sizes)

    n = len(windows)
    print(f"decode, {len(jobs)} videos, {n} segments of {dec['segment_seconds']} s "
          f"({dec['frames']} frames {dec['height']}x{dec['width']}, {dec['sample_rate']} Hz), "
          f"{dec['workers']} workers, sources {args.source or args.size}, best of {args.repeats}:")
    print(f"  stage (PyAV -> HDF5): {n / t_stage:.2f} segments/s ({t_stage:.1f} s)")
    print(f"  ffmpeg command line:  {n / t_ffmpeg:.2f} segments/s ({t_ffmpeg:.1f} s)"
          + (f"; {short} segments came back with fewer frames" if short else ""))
    print(f"  ratio stage/ffmpeg throughput: {t_ffmpeg / t_stage:.2f}")


if __name__ == "__main__":
    main()
