"""Encoding planned demo videos into real media files, and the demo folder with its metadata.csv."""
from __future__ import annotations

import csv
from concurrent.futures import ProcessPoolExecutor
from fractions import Fraction
from multiprocessing import get_context
from pathlib import Path

import av
import numpy as np
from threadpoolctl import threadpool_limits
from tqdm import tqdm

from mvclr.data.demo.audio import render_audio
from mvclr.data.demo.plan import Plan, plan_videos
from mvclr.data.demo.video import render_frames

# container -> (video codec, audio codec)
CONTAINERS = {
    "mp4": ("libx264", "aac"),
    "webm": ("libvpx-vp9", "libopus"),
    "mkv": ("libx264", "libmp3lame"),
}
VIDEO_OPTIONS = {
    "libx264": {"crf": "26", "preset": "superfast"},
    "libvpx-vp9": {"deadline": "realtime", "cpu-used": "8", "crf": "32", "b": "0"},
}
AUDIO_OPTIONS = {"aac": {"aac_coder": "fast"}}


def audio_rate(codec: str, sample_rate: int) -> int:
    """`sample_rate` if the encoder takes it, else its nearest supported rate (Opus: 48 kHz)."""
    rates = av.Codec(codec, "w").audio_rates
    return sample_rate if not rates or sample_rate in rates else min(rates, key=lambda r: abs(r - sample_rate))


def write_video(path: str | Path, plan: Plan, *, width: int, height: int, sample_rate: int,
                container: str = "mp4", audio_channels: int = 2) -> Path:
    """Encode one planned video (both streams, interleaved second by second)."""
    path = Path(path)
    vcodec, acodec = CONTAINERS[container]
    sr = audio_rate(acodec, sample_rate)
    audio = render_audio(plan, sr, audio_channels)
    layout = "mono" if audio_channels == 1 else "stereo"
    rate = Fraction(plan.fps).limit_denominator(1001)
    with av.open(str(path), "w") as out:
        vs = out.add_stream(vcodec, rate=rate)
        vs.width, vs.height, vs.pix_fmt = width, height, "yuv420p"
        vs.gop_size = int(round(2 * plan.fps))          # a keyframe every 2 s
        vs.options = dict(VIDEO_OPTIONS.get(vcodec, {}))
        vs.codec_context.thread_count = 1               # bit-exact whatever the machine
        as_ = out.add_stream(acodec, rate=sr)
        as_.layout = layout
        as_.options = dict(AUDIO_OPTIONS.get(acodec, {}))
        done = frame_index = 0        # audio samples, video frames written
        for frames in render_frames(plan, width, height):
            for img in frames:
                frame = av.VideoFrame.from_ndarray(img, format="yuv420p")
                frame.pts, frame.time_base = frame_index, 1 / rate
                out.mux(vs.encode(frame))
                frame_index += 1
            upto = audio.shape[1]
            if frame_index < plan.frames:
                upto = min(upto, round(frame_index / plan.fps * sr))
            if upto > done:
                chunk = np.ascontiguousarray(audio[:, done:upto])
                frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout=layout)
                frame.sample_rate, frame.pts, frame.time_base = sr, done, Fraction(1, sr)
                out.mux(as_.encode(frame))
                done = upto
        out.mux(vs.encode(None))
        out.mux(as_.encode(None))
    return path


def _write(job: tuple) -> None:
    path, plan, kwargs = job
    write_video(path, plan, **kwargs)


def _one_thread() -> None:
    """Worker initialiser: one BLAS thread per encoding process (no oversubscription)."""
    threadpool_limits(1)


def generate(out_dir: str | Path, *, videos: int, seed: int, min_seconds: float, max_seconds: float,
             width: int, height: int, fps: float, sample_rate: int, genres: list[str],
             container: str = "mp4", audio_channels: int = 2, workers: int = 1,
             progress: bool = True) -> Path:
    """Write `videos` synthetic music videos under out_dir/videos/ and out_dir/metadata.csv
    (video_id,path,genre,tags; path relative to out_dir; tags joined by '|'). Returns the
    metadata path. Deterministic from `seed`; `workers` processes encode in parallel."""
    if container not in CONTAINERS:
        raise ValueError(f"demo: container must be one of {', '.join(CONTAINERS)}, not {container!r}")
    if audio_channels not in (1, 2):
        raise ValueError(f"demo: audio_channels must be 1 or 2, not {audio_channels}")
    if width % 2 or height % 2:
        raise ValueError(f"demo: width and height must be even (yuv420p), not {width}x{height}")
    out_dir = Path(out_dir)
    (out_dir / "videos").mkdir(parents=True, exist_ok=True)
    plans = plan_videos(videos, seed=seed, genres=genres, min_seconds=min_seconds,
                        max_seconds=max_seconds, fps=fps)
    kwargs = dict(width=width, height=height, sample_rate=sample_rate, container=container,
                  audio_channels=audio_channels)
    rel = {p.video_id: f"videos/{p.video_id}.{container}" for p in plans}
    jobs = [(out_dir / rel[p.video_id], p, kwargs) for p in plans]
    bar = tqdm(total=len(jobs), desc="demo videos", unit="video", disable=not progress)
    if workers > 1 and len(jobs) > 1:
        with ProcessPoolExecutor(min(workers, len(jobs)), get_context("spawn"), _one_thread) as pool:
            for _ in pool.map(_write, jobs):
                bar.update()
    else:
        for job in jobs:
            _write(job)
            bar.update()
    bar.close()
    meta = out_dir / "metadata.csv"
    with open(meta, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["video_id", "path", "genre", "tags"])
        for p in plans:
            w.writerow([p.video_id, rel[p.video_id], p.genre, "|".join(p.tags)])
    return meta
