"""The backbones' inputs, read from the segment store: it holds exactly each segment's analysis
window (mvclr.data.layout), so a batch of rows is read as stored, once the store is checked to
have been decoded for the window and frame count the params ask for."""
from __future__ import annotations

import h5py
import numpy as np

from mvclr.data.layout import Layout
from mvclr.data.segment_store import check_shards

MUSICNN_RATE = 16000


def stored_layout(f: h5py.File, modality: str, params: dict) -> Layout:
    """The store's layout; an error when it was decoded for another window (or, for video,
    another frame count) than params say."""
    layout = Layout.from_attrs(f.attrs)
    window = params["decode"]["window_seconds"]
    frames = params["features"]["video"]["frames"]
    if layout.window_seconds != window or (modality == "video" and layout.window_frames != frames):
        raise ValueError(f"{f.filename} holds windows of {layout.window_seconds} s with "
                         f"{layout.window_frames} frames; params say decode.window_seconds = {window}"
                         f", features.video.frames = {frames}: run `dvc repro` (stage decode)")
    if modality == "audio" and layout.sample_rate != MUSICNN_RATE:
        raise ValueError(f"{f.filename}: audio at {layout.sample_rate} Hz, musicnn needs {MUSICNN_RATE} Hz")
    return layout


def window_reader(f: h5py.File, modality: str, params: dict):
    """rows -> the analysis window of those segments: audio [B, samples] float32 at 16 kHz, or
    video [B, frames, H, W, 3] uint8."""
    stored_layout(f, modality, params)
    check_shards(f)
    data = f["audio" if modality == "audio" else "frames"]
    return lambda rows: data[rows]


def window_info(f: h5py.File, modality: str, params: dict) -> dict:
    layout = stored_layout(f, modality, params)
    start, stop = layout.window
    info = {"seconds": layout.window_seconds, "start": start, "stop": stop,
            "relative_to": "segment start (centred in the segment)"}
    if modality == "audio":
        info["samples"] = [layout.audio_offset, layout.audio_offset + layout.audio_samples]
    else:
        info["frame_seconds"] = layout.frame_offsets().tolist()
    return info


def pick_frames(layout: Layout, count: int) -> np.ndarray:
    """Indices of the stored frames nearest to `count` times equally spaced in the window."""
    start, _ = layout.window
    wanted = start + (np.arange(count) + 0.5) * (layout.window_seconds / count)
    return np.abs(layout.frame_offsets()[None, :] - wanted[:, None]).argmin(axis=1)
