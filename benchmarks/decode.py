"""Decode throughput: the decode stage's code path against the `ffmpeg` command line.

Both decode the same segments of the same files in the same run, with the same number of
parallel workers (decode.workers): the stage (mvclr.data.shards.build: PyAV seek + decode,
16 kHz mono audio of the analysis window, the features.video.frames frames of the window
scaled and centre-cropped, written to compressed HDF5 shards and the store over them) and
one `ffmpeg` process per segment producing the same audio and frames as raw bytes (no
store). Prints segments per second of each (best of --repeats alternating rounds) and the
ratio stage / ffmpeg; also against `ffmpeg` producing the whole segment (5 s of audio,
decode.frames frames), what the stage produced before the store kept only the window.

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

from mvclr.config import load_params
from mvclr.data import decoding, ingest, shards
from mvclr.data.demo.encode import generate
from mvclr.data.layout import Layout


def ffmpeg_segment(file: str, start: float, seconds: float, frames: int, dec: dict) -> tuple[int, int]:
    """One ffmpeg process decoding `seconds` from `start`: 16 kHz mono f32 audio and `frames`
    frames scaled to cover height x width and centre-cropped, as raw RGB. Returns byte counts."""
    h, w = dec["height"], dec["width"]
    with tempfile.TemporaryDirectory(dir="/dev/shm" if Path("/dev/shm").is_dir() else None) as tmp:
        cmd = ["ffmpeg", "-v", "error", "-nostdin", "-ss", f"{start:.6f}", "-t", f"{seconds:.6f}",
               "-i", file,
               "-map", "0:v:0", "-vf", f"fps={frames / seconds},scale={w}:{h}:"
               f"force_original_aspect_ratio=increase:flags=area,crop={w}:{h}",
               "-frames:v", str(frames), "-pix_fmt", "rgb24", "-f", "rawvideo", f"{tmp}/v",
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
    ap.add_argument("--unit-videos", type=int, help="videos per unit of work (default: enough "
                    "units to keep every worker busy, as decode.unit_videos does on a real catalogue)")
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
        rows = ingest.build_index(source, dec["segment_seconds"])
        layout = Layout.from_params(params)
        jobs = decoding.jobs(rows, source, params["seed"], dec["segments"], dec["segment_seconds"])
        unit_videos = args.unit_videos or -(-len(jobs) // (2 * dec["workers"]))
        units = decoding.plan(jobs, layout, unit_videos)
        windows = [(j.file, s) for j in jobs for s in j.starts]
        skip = layout.window[0]

        def ffmpeg(whole: bool) -> float:
            t0 = time.perf_counter()
            with ThreadPoolExecutor(dec["workers"]) as pool:
                list(pool.map(lambda fs: ffmpeg_segment(
                    fs[0], fs[1] if whole else fs[1] + skip,
                    dec["segment_seconds"] if whole else layout.window_seconds,
                    dec["frames"] if whole else layout.window_frames, dec), windows))
            return time.perf_counter() - t0

        # alternate the three, keep each one's best round: other load on the machine only slows
        t_stage = t_window = t_whole = np.inf
        for r in range(args.repeats):
            out = Path(tmp, f"run{r}")
            t0 = time.perf_counter()
            report = shards.build(units, out / "segments.h5", out / "segments", layout.attrs(),
                                  timeout_seconds=dec["timeout_seconds"], workers=dec["workers"],
                                  progress=False)
            t_stage = min(t_stage, time.perf_counter() - t0)
            assert not report["failed"], report["failed"]
            shutil.rmtree(out)
            t_window = min(t_window, ffmpeg(whole=False))
            t_whole = min(t_whole, ffmpeg(whole=True))

    n = len(windows)
    print(f"decode, {len(jobs)} videos, {n} segments of {dec['segment_seconds']} s "
          f"(kept: {layout.window_seconds} s of {dec['sample_rate']} Hz audio, {layout.window_frames} "
          f"frames {dec['height']}x{dec['width']}), {dec['workers']} workers, {len(units)} units, sources "
          f"{args.source or args.size}, best of {args.repeats}:")
    print(f"  stage (PyAV -> HDF5 shards): {n / t_stage:.2f} segments/s ({t_stage:.1f} s)")
    print(f"  ffmpeg, the window:          {n / t_window:.2f} segments/s ({t_window:.1f} s)")
    print(f"  ffmpeg, the whole segment:   {n / t_whole:.2f} segments/s ({t_whole:.1f} s)")
    print(f"  ratio stage/ffmpeg throughput: {t_window / t_stage:.2f} (same output); "
          f"{t_whole / t_stage:.2f} (against the whole segment, the baseline before the "
          f"window-only store)")


if __name__ == "__main__":
    main()
