"""Tiny media files for the tests, written with PyAV.

Frames encode their own index: BITS horizontal bands, band b white when bit b of the
frame index is set, so a decoded (resized, cropped, lossy) frame tells which source
frame it came from. Audio is a linear chirp, so a decoded window tells which source
time it came from.
"""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

BITS = 8
CHIRP_F0, CHIRP_RATE = 300.0, 40.0   # instantaneous frequency f0 + rate * t  [Hz]

# container suffix -> (video codec, audio codec)
CODECS = {
    ".mp4": ("libx264", "aac"),
    ".webm": ("libvpx-vp9", "libopus"),
    ".mkv": ("libx264", "flac"),
    ".m4a": (None, "aac"),
}


def chirp(t: np.ndarray) -> np.ndarray:
    return 0.5 * np.sin(2 * np.pi * (CHIRP_F0 * t + CHIRP_RATE * t * t / 2))


# timestamps in Matroska are whole milliseconds: decoded audio may sit up to 0.5 ms off
MAX_LAG = 0.0006


def audio_lag(x: np.ndarray, start: float, rate: int) -> tuple[float, float]:
    """Lag (s, within +-5 ms) of decoded audio `x` from `start` against the source
    chirp, and the gain at that lag."""
    y = chirp(start + np.arange(len(x)) / rate)
    best = (-np.inf, 0.0)
    for lag in range(-int(0.005 * rate), int(0.005 * rate) + 1):
        a = x[max(0, lag): len(x) + min(0, lag)]
        b = y[max(0, -lag): len(y) + min(0, -lag)]
        best = max(best, (np.dot(a, b) / np.dot(b, b), lag / rate))
    return best[1], best[0]


def frame_pattern(index: int, height: int, width: int) -> np.ndarray:
    bands = (np.arange(height) * BITS) // height
    bits = (index >> bands) & 1
    img = np.repeat((bits * 255).astype(np.uint8)[:, None], width, axis=1)
    return np.repeat(img[:, :, None], 3, axis=2)


def read_pattern(frame: np.ndarray) -> int:
    """Frame index from a decoded frame [H, W, 3] written with `frame_pattern`."""
    gray = frame.mean(axis=(1, 2))
    bands = np.array_split(gray, BITS)
    # centre half of each band, away from blurred band edges
    bits = [b[len(b) // 4: len(b) - len(b) // 4].mean() > 127 for b in bands]
    return int(sum(int(bit) << i for i, bit in enumerate(bits)))


def write_media(path: str | Path, seconds: float, *, fps: float = 24, width: int = 96,
                height: int = 64, sample_rate: int = 44100, channels: int = 2,
                video: bool = True, audio: bool = True, vcodec: str | None = None,
                acodec: str | None = None, gop: int = 12, options: dict | None = None,
                video_options: dict | None = None, rotation: int = 0) -> Path:
    """Write a file of `seconds` with the frame-index pattern and the chirp; `rotation`:
    a display matrix turning the frames that many degrees counter-clockwise (as phones do)."""
    path = Path(path)
    dv, da = CODECS.get(path.suffix, ("libx264", "aac"))
    vcodec, acodec = vcodec or dv, acodec or da
    with av.open(str(path), "w", options=options or {}) as out:
        vs = as_ = None
        rate = Fraction(fps).limit_denominator(1001)
        if video:
            vs = out.add_stream(vcodec, rate=rate)
            vs.width, vs.height, vs.pix_fmt = width, height, "yuv420p"
            vs.gop_size = gop
            if vcodec == "libx264":
                vs.options = {"crf": "18", "preset": "ultrafast"}
            elif vcodec == "libvpx-vp9":
                vs.options = {"deadline": "realtime", "cpu-used": "8", "crf": "20", "b": "0"}
            vs.options = {**vs.options, **(video_options or {})}
            if rotation:
                vs.set_display_rotation(rotation)
        if audio:
            as_ = out.add_stream(acodec, rate=sample_rate)
            as_.layout = "mono" if channels == 1 else "stereo"
        total = int(round(seconds * sample_rate))
        n_frames = int(round(seconds * fps)) if vs is not None else 0
        done = 0  # audio samples written
        # interleave: each frame, then the audio up to its time (all audio if no video)
        for i in range(n_frames + 1):
            if i < n_frames:
                frame = av.VideoFrame.from_ndarray(frame_pattern(i, height, width), format="rgb24")
                frame.pts = i
                frame.time_base = 1 / rate
                out.mux(vs.encode(frame))
            elif vs is not None:
                out.mux(vs.encode(None))
            if as_ is None:
                continue
            upto = total if i >= n_frames - 1 else min(total, int((i + 1) / fps * sample_rate))
            while done < upto:
                m = min(1024, upto - done)
                t = np.arange(done, done + m) / sample_rate
                x = np.repeat(chirp(t)[None, :], channels, axis=0).astype(np.float32)
                frame = av.AudioFrame.from_ndarray(x, format="fltp", layout=as_.layout.name)
                frame.sample_rate = sample_rate
                frame.pts = done
                frame.time_base = Fraction(1, sample_rate)
                out.mux(as_.encode(frame))
                done += m
        if as_ is not None:
            out.mux(as_.encode(None))
    return path


# The bad cases of the input contract: file name -> expected skip reason.
BAD = {
    "truncated.mp4": "truncated",       # cut short; header (moov first) intact
    "cut_header.mp4": "unreadable",     # cut short; header (moov last) lost
    "zero.mp4": "empty file",
    "silent.mp4": "no audio stream",
    "audio_only.m4a": "no video stream",
    "short.mkv": "too short",
    "missing.mp4": "missing file",
}


def write_bad_cases(folder: str | Path, duplicate: tuple[str, str], *,
                    segment_seconds: float = 2.0) -> tuple[list[str], dict[str, str]]:
    """One file or metadata row per bad case of the input contract, in `folder`.
    `duplicate` is (video_id, path) of a usable video whose id a later row repeats.
    Returns the metadata rows and video_id -> expected reason."""
    folder = Path(folder)
    seconds = 3 * segment_seconds
    full = write_media(folder / "full.mp4", seconds, options={"movflags": "faststart"}).read_bytes()
    (folder / "truncated.mp4").write_bytes(full[: len(full) // 2])
    full = write_media(folder / "full.mp4", seconds).read_bytes()
    (folder / "cut_header.mp4").write_bytes(full[: len(full) // 2])
    (folder / "full.mp4").unlink()
    (folder / "zero.mp4").touch()
    write_media(folder / "silent.mp4", seconds, audio=False)
    write_media(folder / "audio_only.m4a", seconds, video=False)
    write_media(folder / "short.mkv", segment_seconds * 0.75)
    rows, expected = [], {}
    for name, reason in BAD.items():
        vid = Path(name).stem
        rows.append(f"{vid},{name},rock,")
        expected[vid] = reason
    rows.append(f"{duplicate[0]},{duplicate[1]},pop,")   # duplicate video_id
    rows.append("malformed,only_two_fields")               # malformed row
    expected["malformed"] = "malformed row"
    return rows, expected


def write_dataset(folder: str | Path, good: list[tuple[str, float, dict]], *,
                  bad: bool = True, segment_seconds: float = 2.0) -> dict[str, str]:
    """A data set folder with metadata.csv: the `good` files (name, seconds, write_media
    keywords) plus, when `bad`, one file or row per bad case. Returns video_id -> expected
    reason ('' for usable videos)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    genres = ["rock", "jazz"]
    rows, expected = [], {}
    for i, (name, seconds, kw) in enumerate(good):
        write_media(folder / name, seconds, **kw)
        vid = Path(name).stem
        rows.append(f"{vid},{name},{genres[i % 2]},tag{i % 3}|both")
        expected[vid] = ""
    if bad:
        first = Path(good[0][0])
        bad_rows, bad_expected = write_bad_cases(folder, (first.stem, first.name),
                                                 segment_seconds=segment_seconds)
        rows += bad_rows
        expected.update(bad_expected)
    (folder / "metadata.csv").write_text("video_id,path,genre,tags\n" + "\n".join(rows) + "\n")
    return expected


def shown_frames(times, fps: float, suffix: str) -> np.ndarray:
    """Index of the source frame on screen at each time: the last whose stored
    timestamp is <= t (Matroska/WebM store whole milliseconds)."""
    stamps = np.arange(int(np.max(times) * fps) + 2) / fps
    if suffix in (".mkv", ".webm"):
        stamps = np.round(stamps * 1000) / 1000
    return np.searchsorted(stamps, np.asarray(times) + 1e-9, side="right") - 1
