"""Where the segments of a video lie (paper, Figure 2).

The video is divided into `segments` equal sections and one window of `segment_seconds`
is drawn uniformly inside each, so windows never overlap. A video too short for that
many windows gets as many as fit: floor(duration / segment_seconds) sections.
"""
from __future__ import annotations

import zlib

import numpy as np


def video_rng(seed: int, video_id: str) -> np.random.Generator:
    """A generator for one video: the same windows whatever the order or worker."""
    return np.random.default_rng([seed, zlib.crc32(video_id.encode("utf-8"))])


def segment_count(duration: float, segments: int, segment_seconds: float) -> int:
    """Number of non-overlapping windows a video of `duration` seconds yields."""
    if segment_seconds <= 0 or segments < 1:
        raise ValueError("segment_seconds must be > 0 and segments >= 1")
    # a hair of tolerance so that e.g. 30.0 / 5.0 gives 6, not 5.999...
    fit = int(np.floor(duration / segment_seconds + 1e-9)) if duration > 0 else 0
    return min(segments, fit)


def segment_starts(duration: float, segments: int, segment_seconds: float,
                   rng: np.random.Generator) -> np.ndarray:
    """Start times (ascending, float64) of the windows: one uniform draw in each of
    `segment_count(...)` equal sections of [0, duration]."""
    k = segment_count(duration, segments, segment_seconds)
    if k == 0:
        return np.zeros(0)
    section = duration / k
    slack = max(0.0, section - segment_seconds)   # room to move inside a section
    starts = np.arange(k) * section + rng.uniform(0.0, 1.0, k) * slack
    # guard float rounding at the very end of the video
    return np.minimum(starts, max(0.0, duration - segment_seconds))
