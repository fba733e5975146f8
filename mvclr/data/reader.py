"""Windowed decoding of media files with PyAV.

Each read seeks to its window and decodes only from the preceding keyframe to the
window's end, so memory holds one window, never a whole video. Audio comes out as
float32 mono at the requested rate (PyAV's AudioResampler, channels averaged); a frame
requested at time t is the frame on screen at t (the last one whose timestamp is <= t),
turned upright as its display matrix says (phone videos), scaled to cover height x width
keeping its display aspect ratio (for landscape video: short side = height) and
centre-cropped, as uint8 RGB.
"""
from __future__ import annotations

import math
from pathlib import Path

import av
import numpy as np

from mvclr.data.layout import Layout
from mvclr.data.media import (DECODE_FAILED, MAX_BAD_PACKETS, NO_AUDIO, NO_VIDEO, TRUNCATED,
                              MediaError, container_origin, find_streams, open_media,
                              quarter_turns)

AUDIO_PREROLL = 0.2      # s decoded before an audio window: codecs with overlap (AAC, Opus) settle
SEEK_BACKOFF = (0.0, 1.0, 4.0, 16.0, math.inf)  # how much earlier to seek when a seek lands late
END_TOLERANCE = 0.5      # s a stream may fall short of a window's end (padded) before it is truncated
MAX_BAD_SHARE = 0.1      # undecodable packets tolerated beyond MAX_BAD_PACKETS: this share
GAP_SECONDS = 0.01       # audio timestamps jumping more than this restart the resampler there


class MediaReader:
    """An open file from which windows of audio and frames are read by seeking."""

    def __init__(self, path):
        self.path = Path(path)
        self.container = open_media(self.path)
        self.audio_stream, self.video_stream = find_streams(self.container)
        self.origin = container_origin(self.container)
        sar = self.video_stream.codec_context.sample_aspect_ratio if self.video_stream else None
        self.sar = float(sar) if sar else 1.0    # pixel aspect ratio (anamorphic video)
        self.reformatter = av.video.reformatter.VideoReformatter()  # reuses its scaler

    def close(self) -> None:
        self.container.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _seek(self, stream, seconds: float) -> None:
        """Seek to the keyframe of `stream` at or before `seconds` (relative to the origin)."""
        ts = int(math.floor((self.origin + seconds) / stream.time_base))
        try:
            self.container.seek(ts, stream=stream, backward=True)
        except av.FFmpegError:
            self.container.seek(0)  # demuxers that cannot seek by this stream's time

    def _decode(self, stream):
        """Frames of `stream` from the current position; a read error ends the stream,
        undecodable packets are skipped while they are few."""
        packets = self.container.demux(stream)
        bad = seen = 0
        while True:
            try:
                packet = next(packets)
            except StopIteration:
                return
            except av.FFmpegError:
                packet = None  # unreadable from here on: drain the decoder and stop
            seen += 1
            try:
                yield from stream.decode(packet)
            except av.FFmpegError as e:
                bad += 1
                if (bad > MAX_BAD_PACKETS and bad > MAX_BAD_SHARE * seen) or packet is None:
                    raise MediaError(self.path, DECODE_FAILED,
                                     f"{stream.type}: {e.strerror or e}") from None
            if packet is None:
                return

    def _from(self, stream, seconds: float):
        """Decoded frames of `stream`, the first one at or before `seconds` when the
        stream has one (a seek that lands late is retried from further back)."""
        for back in SEEK_BACKOFF:
            target = max(0.0, seconds - back)
            self._seek(stream, target)
            frames = self._decode(stream)
            first = next(frames, None)
            if first is None and target > 0:
                continue
            if first is None:
                return
            if target == 0 or first.time is None or first.time - self.origin <= seconds + 1e-6:
                yield first
                yield from frames
                return

    def audio(self, start: float, seconds: float, rate: int, keep: slice | None = None) -> np.ndarray:
        """float32 mono samples [round(seconds * rate)] from `start`, resampled to `rate`; or
        only the samples `keep` of them, sample for sample what the whole window holds there.
        Either way the whole window is decoded: the codec's state after a seek carries over
        into the next window read, so stopping early would change the next window."""
        if self.audio_stream is None:
            raise MediaError(self.path, NO_AUDIO)
        n = int(round(seconds * rate))
        lo, hi, _ = (keep or slice(0, n)).indices(n)
        begin = int(round(start * rate))          # index of the window's first sample
        first = begin + lo                         # index of the first sample kept
        out = np.zeros(hi - lo, np.float32)
        pos = None                                 # index of the next resampled sample
        expected = None                            # where the next frame should start
        resampler = template = None
        for frame in self._from(self.audio_stream, max(0.0, start - AUDIO_PREROLL)):
            at = None if frame.time is None else (frame.time - self.origin) * rate
            if pos is None:
                pos = begin if at is None else int(round(at))
            # a timestamp jump (lost packets, a discontinuity) restarts the resampler there
            gap = at is not None and expected is not None and abs(at - expected) > GAP_SECONDS * rate
            expected = (at if at is not None else expected or pos) + frame.samples * rate / frame.sample_rate
            layout = (frame.format.name, frame.layout.name, frame.sample_rate)
            if template != layout or gap:
                pos = self._place(out, first, pos, resampler, None)
                pos = int(round(at)) if gap else pos
                template = layout
                # rematrix_maxval=1 normalises the downmix: mono = mean of the channels
                resampler = av.AudioResampler(format="flt", layout="mono", rate=rate,
                                              options={"rematrix_maxval": "1"})
            pos = self._place(out, first, pos, resampler, frame)
            if pos >= begin + n:
                break
        else:
            pos = self._place(out, first, pos, resampler, None)
            if pos is None or first + len(out) - pos > END_TOLERANCE * rate:
                got = "no audio" if pos is None else f"audio ends at {pos / rate:.2f} s"
                raise MediaError(self.path, TRUNCATED,
                                 f"{got}, window ends at {(first + len(out)) / rate:.2f} s")
        return out

    @staticmethod
    def _place(out, first, pos, resampler, frame):
        """Resample `frame` (None: flush) and copy what falls inside the window."""
        if resampler is None:
            return pos
        for o in resampler.resample(frame):
            x = o.to_ndarray().reshape(-1)
            lo, hi = max(pos, first), min(pos + len(x), first + len(out))
            if hi > lo:
                out[lo - first: hi - first] = x[lo - pos: hi - pos]
            pos += len(x)
        return pos

    def frames(self, times, height: int, width: int) -> np.ndarray:
        """uint8 RGB frames [len(times), height, width, 3] on screen at ascending `times`."""
        if self.video_stream is None:
            raise MediaError(self.path, NO_VIDEO)
        times = np.asarray(times, np.float64)
        if np.any(np.diff(times) < 0):
            raise ValueError("frame times must ascend")
        out = np.empty((len(times), height, width, 3), np.uint8)
        if len(times) == 0:
            return out
        k, prev, prev_img, prev_end = 0, None, None, None
        step = 1 / float(self.video_stream.average_rate or 25)
        for frame in self._from(self.video_stream, float(times[0])):
            t = frame.time - self.origin if frame.time is not None else (prev_end or 0.0)
            while k < len(times) and times[k] < t - 1e-6:
                if prev_img is None:   # target before the first frame: show the first frame
                    prev_img = self._fit(prev if prev is not None else frame, height, width)
                out[k] = prev_img
                k += 1
            if k == len(times):
                break
            prev, prev_img, prev_end = frame, None, t + step
        else:
            if prev is None or times[-1] - prev_end > END_TOLERANCE:
                got = "no frames" if prev is None else f"video ends at {prev_end:.2f} s"
                raise MediaError(self.path, TRUNCATED, f"{got}, last frame wanted at {times[-1]:.2f} s")
            out[k:] = self._fit(prev, height, width)
        return out

    def _fit(self, frame, height: int, width: int) -> np.ndarray:
        """Turned upright as the frame's display matrix says, scaled to cover height x width
        keeping the display aspect ratio, centre-cropped."""
        turns = quarter_turns(frame.rotation)
        w, h = frame.width * self.sar, frame.height
        if turns % 2:
            w, h = h, w                        # displayed size
        scale = max(height / h, width / w)
        sw, sh = max(width, int(round(w * scale))), max(height, int(round(h * scale)))
        img = self.reformatter.reformat(frame, width=sh if turns % 2 else sw,
                                        height=sw if turns % 2 else sh, format="rgb24",
                                        interpolation="AREA").to_ndarray()
        img = np.rot90(img, turns)             # turning the scaled image is cheap
        y, x = (sh - height) // 2, (sw - width) // 2
        return img[y:y + height, x:x + width]


def read_audio(path, start: float, seconds: float, rate: int) -> np.ndarray:
    with MediaReader(path) as r:
        return r.audio(start, seconds, rate)


def read_frames(path, times, height: int, width: int) -> np.ndarray:
    with MediaReader(path) as r:
        return r.frames(times, height, width)


def read_segments(path, starts, layout: Layout) -> tuple[np.ndarray, np.ndarray]:
    """What the segment store keeps (mvclr.data.layout) of the segments starting at `starts`:
    audio [k, layout.audio_samples] and frames [k, layout.window_frames, height, width, 3].
    The audio is decoded from the segment's own start point, so it equals the window cut out
    of the whole segment's audio sample for sample. One segment in memory at a time besides
    the result."""
    offsets = layout.frame_offsets()
    keep = slice(layout.audio_offset, layout.audio_offset + layout.audio_samples)
    k = len(starts)
    audio = np.empty((k, layout.audio_samples), np.float32)
    frames = np.empty((k, len(offsets), layout.height, layout.width, 3), np.uint8)
    with MediaReader(path) as r:
        for i, start in enumerate(starts):
            audio[i] = r.audio(float(start), layout.segment_seconds, layout.sample_rate, keep)
            frames[i] = r.frames(start + offsets, layout.height, layout.width)
    return audio, frames
