"""What the segment store keeps of each segment: exactly what the backbones read.

A segment is `segment_seconds` long; both backbones see its centred analysis window of
`window_seconds`. The audio kept is that window's samples at `sample_rate`; the frames kept are
the `window_frames` frames the video backbone reads: of the `frames` times equally spaced in the
segment (centres of equal bins), the nearest to `window_frames` times equally spaced in the
window. Decoding produces only these, so the store holds nothing the backbones do not read.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import numpy as np


@dataclass(frozen=True)
class Layout:
    segment_seconds: float
    window_seconds: float
    sample_rate: int
    frames: int              # decode.frames: the grid of frame times in a segment
    window_frames: int       # features.video.frames: frames the video backbone reads
    height: int
    width: int

    def __post_init__(self):
        if not 0 < self.window_seconds <= self.segment_seconds:
            raise ValueError(f"decode.window_seconds={self.window_seconds} must lie in "
                             f"(0, decode.segment_seconds={self.segment_seconds}]")

    @classmethod
    def from_params(cls, params: dict) -> "Layout":
        d = params["decode"]
        return cls(d["segment_seconds"], d["window_seconds"], d["sample_rate"], d["frames"],
                   params["features"]["video"]["frames"], d["height"], d["width"])

    @classmethod
    def from_attrs(cls, attrs) -> "Layout":
        """The layout a segment store records in its attributes."""
        kinds = {"segment_seconds": float, "window_seconds": float}
        return cls(**{f.name: kinds.get(f.name, int)(attrs[f.name]) for f in fields(cls)})

    def attrs(self) -> dict:
        return asdict(self)

    @property
    def window(self) -> tuple[float, float]:
        """Start and end of the analysis window, relative to the segment start."""
        start = (self.segment_seconds - self.window_seconds) / 2
        return start, start + self.window_seconds

    @property
    def audio_offset(self) -> int:
        """Index of the window's first sample among the segment's samples."""
        return int(round(self.window[0] * self.sample_rate))

    @property
    def audio_samples(self) -> int:
        return int(round(self.window_seconds * self.sample_rate))

    def frame_offsets(self) -> np.ndarray:
        """Times (relative to the segment start) of the kept frames: of the `frames` bin
        centres of the segment inside the window, the nearest to each of `window_frames`
        bin centres of the window."""
        start, stop = self.window
        grid = (np.arange(self.frames) + 0.5) * (self.segment_seconds / self.frames)
        inside = np.flatnonzero((grid >= start) & (grid < stop))
        if len(inside) == 0:
            raise ValueError(f"none of decode.frames={self.frames} frame times falls inside the "
                             f"analysis window of {self.window_seconds} s")
        wanted = start + (np.arange(self.window_frames) + 0.5) * (self.window_seconds / self.window_frames)
        nearest = np.abs(grid[inside][None, :] - wanted[:, None]).argmin(axis=1)
        return grid[inside[nearest]]
