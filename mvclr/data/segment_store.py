"""The HDF5 segment store (`data/segments.h5`): one row per decoded segment.

Datasets (row i = segment i, videos in index order, segments in time order):
  audio          float32 [n, segment_seconds * sample_rate]   mono
  frames         uint8   [n, frames, height, width, 3]         RGB, lzf-compressed
  video_id       utf-8 str [n]
  segment_index  int32   [n]   position of the segment within its video
  start_seconds  float64 [n]   start of the segment in the source video
  split          utf-8 str [n]  train | val | test
  digest         uint8   [n, 16]  BLAKE2b-128 of the row's audio and frames bytes (`row_digest`):
                 what a feature store checks to know which of its blocks' inputs changed
Attributes: sample_rate, segment_seconds, frames, height, width, seed.
Frame k of a segment shows time start + (k + 0.5) * segment_seconds / frames.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

STR = h5py.string_dtype("utf-8")
META = ("video_id", "segment_index", "start_seconds", "split")
DIGEST_BYTES = 16


def row_digest(audio: np.ndarray, frames: np.ndarray) -> np.ndarray:
    """BLAKE2b-128 of one segment's stored audio (float32) and frames (uint8), uint8 [16]."""
    h = hashlib.blake2b(digest_size=DIGEST_BYTES)
    h.update(np.ascontiguousarray(audio, dtype=np.float32).tobytes())
    h.update(np.ascontiguousarray(frames, dtype=np.uint8).tobytes())
    return np.frombuffer(h.digest(), dtype=np.uint8)


def frame_offsets(segment_seconds: float, frames: int) -> np.ndarray:
    """Times of the stored frames relative to the segment start: centres of equal bins."""
    return (np.arange(frames) + 0.5) * (segment_seconds / frames)


@dataclass
class SegmentMeta:
    video_id: np.ndarray       # str [n]
    segment_index: np.ndarray  # int [n]
    start_seconds: np.ndarray  # float [n]
    split: np.ndarray          # str [n]
    attrs: dict

    def __len__(self) -> int:
        return len(self.video_id)


def read_meta(path: str | Path) -> SegmentMeta:
    """Everything but the audio and frames: small enough to hold for any data set."""
    with h5py.File(path, "r") as f:
        return SegmentMeta(
            video_id=f["video_id"].asstr()[:],
            segment_index=f["segment_index"][:],
            start_seconds=f["start_seconds"][:],
            split=f["split"].asstr()[:],
            attrs=dict(f.attrs),
        )


class SegmentWriter:
    """Appends segments to a new store; rows are chunked by segment so a batch of
    consecutive segments reads contiguously."""

    def __init__(self, path: str | Path, *, sample_rate: int, segment_seconds: float,
                 frames: int, height: int, width: int, **extra_attrs):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.file = h5py.File(self.path, "w")
        samples = int(round(segment_seconds * sample_rate))
        f = self.file
        f.create_dataset("audio", (0, samples), np.float32, maxshape=(None, samples),
                         chunks=(16, samples))
        f.create_dataset("frames", (0, frames, height, width, 3), np.uint8,
                         maxshape=(None, frames, height, width, 3),
                         chunks=(1, frames, height, width, 3), compression="lzf")
        f.create_dataset("video_id", (0,), STR, maxshape=(None,), chunks=(4096,))
        f.create_dataset("segment_index", (0,), np.int32, maxshape=(None,), chunks=(4096,))
        f.create_dataset("start_seconds", (0,), np.float64, maxshape=(None,), chunks=(4096,))
        f.create_dataset("split", (0,), STR, maxshape=(None,), chunks=(4096,))
        f.create_dataset("digest", (0, DIGEST_BYTES), np.uint8, maxshape=(None, DIGEST_BYTES),
                         chunks=(4096, DIGEST_BYTES))
        f.attrs.update(sample_rate=sample_rate, segment_seconds=segment_seconds,
                       frames=frames, height=height, width=width, **extra_attrs)
        self.n = 0

    def append(self, audio: np.ndarray, frames: np.ndarray, video_id: str,
               segment_index: np.ndarray, start_seconds: np.ndarray, split: str) -> None:
        """Append the k segments of one video: audio [k, samples], frames [k, F, H, W, 3]."""
        k = len(audio)
        f = self.file
        rows = slice(self.n, self.n + k)
        for name in ("audio", "frames", "digest", *META):
            f[name].resize(self.n + k, axis=0)
        f["audio"][rows] = audio
        f["frames"][rows] = frames
        f["video_id"][rows] = [video_id] * k
        f["segment_index"][rows] = segment_index
        f["start_seconds"][rows] = start_seconds
        f["split"][rows] = [split] * k
        f["digest"][rows] = np.stack([row_digest(a, x) for a, x in zip(audio, frames)])
        self.n += k

    @classmethod
    def reopen(cls, path: str | Path, rows: int) -> "SegmentWriter":
        """Reopen a store an interrupted run left, keeping its first `rows` segments."""
        self = cls.__new__(cls)
        self.path = Path(path)
        self.file = h5py.File(self.path, "r+")
        for name in ("audio", "frames", "digest", *META):
            self.file[name].resize(rows, axis=0)
        self.n = rows
        return self

    def flush(self) -> None:
        self.file.flush()

    def close(self) -> None:
        self.file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
