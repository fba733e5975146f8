"""The analysis window: the centred `decode.window_seconds` of each segment that both
backbones see, as samples of the stored audio and as indices of the stored frames."""
from __future__ import annotations

import h5py
import numpy as np

from mvclr.data.segment_store import frame_offsets


def analysis_window(segment_seconds: float, window_seconds: float) -> tuple[float, float]:
    """The centred window both backbones see, relative to the segment start."""
    if not 0 < window_seconds <= segment_seconds:
        raise ValueError(f"window_seconds={window_seconds} must lie in (0, segment_seconds={segment_seconds}]")
    start = (segment_seconds - window_seconds) / 2
    return start, start + window_seconds


def window_samples(attrs: dict, window_seconds: float) -> slice:
    """Sample slice of the analysis window within a segment's audio row."""
    start, _ = analysis_window(attrs["segment_seconds"], window_seconds)
    first = int(round(start * attrs["sample_rate"]))
    return slice(first, first + int(round(window_seconds * attrs["sample_rate"])))


def window_frames(attrs: dict, window_seconds: float, count: int) -> np.ndarray:
    """Indices of `count` stored frames equally spaced in time within the analysis window."""
    start, stop = analysis_window(attrs["segment_seconds"], window_seconds)
    offsets = frame_offsets(attrs["segment_seconds"], attrs["frames"])
    inside = np.flatnonzero((offsets >= start) & (offsets < stop))
    if len(inside) == 0:
        raise ValueError("no stored frame falls inside the analysis window")
    wanted = start + (np.arange(count) + 0.5) * (window_seconds / count)
    nearest = np.abs(offsets[inside][None, :] - wanted[:, None]).argmin(axis=1)
    return inside[nearest]


def window_reader(f: h5py.File, modality: str, params: dict):
    """rows -> the analysis window of those segments: audio [B, samples] float32 at the
    store's rate, or video [B, frames, H, W, 3] uint8."""
    attrs, window = dict(f.attrs), params["decode"]["window_seconds"]
    if modality == "audio":
        rate = attrs["sample_rate"]
        if rate != 16000:
            raise ValueError(f"{f.filename}: audio at {rate} Hz, musicnn needs 16000 Hz")
        samples = window_samples(attrs, window)
        return lambda rows: f["audio"][rows, samples]
    index = window_frames(attrs, window, params["features"]["video"]["frames"])
    stored, inverse = np.unique(index, return_inverse=True)   # h5py wants increasing indices
    return lambda rows: f["frames"][rows, stored][:, inverse]


def window_info(f: h5py.File, modality: str, params: dict) -> dict:
    attrs, window = dict(f.attrs), params["decode"]["window_seconds"]
    start, stop = analysis_window(attrs["segment_seconds"], window)
    info = {"seconds": window, "start": start, "stop": stop,
            "relative_to": "segment start (centred in the segment)"}
    if modality == "audio":
        samples = window_samples(attrs, window)
        info["samples"] = [samples.start, samples.stop]
    else:
        info["frames"] = window_frames(
            attrs, window, params["features"]["video"]["frames"]).tolist()
    return info
