"""Media previews of segments and videos for the neighbour report, read from the segment store:
frame strips as JPEG, the analysis window's audio as Ogg Opus, embedded as data URIs."""
from __future__ import annotations

import base64
import io

import av
import numpy as np
from PIL import Image

from mvclr.data.layout import Layout
from mvclr.data.segment_store import check_shards
from mvclr.features.windows import pick_frames

OPUS_RATES = (8000, 12000, 16000, 24000, 48000)
OPUS_BITRATE = 16000           # mono previews: ~8 KB per 3 s window
STRIP_HEIGHT = 72
STRIP_FRAMES = 6
STRIP_COLUMNS = 3
JPEG_QUALITY = 75


def jpeg_strip(frames: np.ndarray, height: int = STRIP_HEIGHT, columns: int = STRIP_COLUMNS) -> bytes:
    """Frames [m, H, W, 3] uint8, each scaled to `height` keeping the aspect, in rows of
    `columns` (left to right, top to bottom), as one JPEG."""
    frames = np.asarray(frames, dtype=np.uint8)
    if frames.ndim != 4 or frames.shape[-1] != 3 or len(frames) == 0:
        raise ValueError(f"frames must be [m, H, W, 3] with m > 0, got shape {frames.shape}")
    h, w = frames.shape[1:3]
    width = max(1, round(w * height / h))
    cols = min(columns, len(frames))
    tiles = [Image.fromarray(f).resize((width, height), Image.Resampling.BILINEAR) for f in frames]
    strip = Image.new("RGB", (width * cols, height * -(-len(tiles) // cols)))
    for i, tile in enumerate(tiles):
        strip.paste(tile, ((i % cols) * width, (i // cols) * height))
    buf = io.BytesIO()
    strip.save(buf, "JPEG", quality=JPEG_QUALITY)
    return buf.getvalue()


def opus_ogg(audio: np.ndarray, rate: int, bitrate: int = OPUS_BITRATE) -> bytes:
    """Mono float audio as an Ogg Opus file (resampled to 48 kHz when Opus lacks `rate`)."""
    audio = np.clip(np.asarray(audio, dtype=np.float32).ravel(), -1.0, 1.0)
    frame = av.AudioFrame.from_ndarray(audio[None, :], format="flt", layout="mono")
    frame.sample_rate = rate
    out_rate = rate if rate in OPUS_RATES else 48000
    resampler = av.AudioResampler(format="flt", layout="mono", rate=out_rate)
    buf = io.BytesIO()
    with av.open(buf, "w", format="ogg") as container:
        container.flags |= av.container.Flags.bitexact.value    # fixed stream serial: reproducible
        stream = container.add_stream("libopus", rate=out_rate, layout="mono")
        stream.bit_rate = bitrate
        for piece in [*resampler.resample(frame), *resampler.resample(None)]:
            for packet in stream.encode(piece):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return buf.getvalue()


def data_uri(mime: str, payload: bytes) -> str:
    return f"data:{mime};base64,{base64.b64encode(payload).decode('ascii')}"


class MediaCollector:
    """Media of the items, read from the segment store and encoded once per item: a segment
    shows STRIP_FRAMES frames of its analysis window and plays the window's audio; a video
    shows the middle frame of each segment's window and plays the window of its middle
    segment. `media` maps the keys handed out to (image, audio) data URIs."""

    def __init__(self, store, rows_of_video: dict[str, np.ndarray], window_seconds: float):
        self.store, self.rows_of_video = store, rows_of_video
        layout = Layout.from_attrs(store.attrs)      # the store holds just the window
        if layout.window_seconds != window_seconds:
            raise ValueError(f"{store.filename} holds windows of {layout.window_seconds} s, "
                             f"decode.window_seconds is {window_seconds}: run `dvc repro`")
        check_shards(store)
        self.rate = layout.sample_rate
        self.strip = np.unique(pick_frames(layout, STRIP_FRAMES))
        self.middle = int(pick_frames(layout, 1)[0])
        self.media: dict[str, tuple[str, str]] = {}
        self.keys: dict[tuple, str] = {}

    def _key(self, what: tuple, make) -> str:
        if what not in self.keys:
            key = f"m{len(self.keys)}"
            frames, audio = make()
            self.media[key] = (data_uri("image/jpeg", jpeg_strip(frames)),
                               data_uri("audio/ogg", opus_ogg(audio, self.rate)))
            self.keys[what] = key
        return self.keys[what]

    def segment(self, row: int) -> str:
        f = self.store
        return self._key(("segment", row), lambda: (f["frames"][row, self.strip], f["audio"][row]))

    def video(self, video_id: str) -> str:
        rows = self.rows_of_video[video_id]
        f = self.store
        return self._key(("video", video_id), lambda: (
            np.stack([f["frames"][r, self.middle] for r in rows]),
            f["audio"][rows[len(rows) // 2]]))
