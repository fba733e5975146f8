"""Probing and windowed decoding of media files with PyAV.

Each read seeks to its window and decodes only from the preceding keyframe to the
window's end, so memory holds one window, never a whole video. Audio comes out as
float32 mono at the requested rate (PyAV's AudioResampler, channels averaged); a frame
requested at time t is the frame on screen at t (the last one whose timestamp is <= t),
scaled to cover height x width keeping its display aspect ratio (for landscape video:
short side = height) and centre-cropped, as uint8 RGB.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

# Skip reasons shared with the ingest report.
MISSING, EMPTY, UNREADABLE, TRUNCATED = "missing file", "empty file", "unreadable", "truncated"
NO_AUDIO, NO_VIDEO, DECODE_FAILED = "no audio stream", "no video stream", "decode failed"

AUDIO_PREROLL = 0.2      # s decoded before an audio window: codecs with overlap (AAC, Opus) settle
SEEK_BACKOFF = (0.0, 1.0, 4.0, 16.0, math.inf)  # how much earlier to seek when a seek lands late
END_TOLERANCE = 0.5      # s a stream may fall short of a window's end (padded) before it is truncated
TAIL_SECONDS = 3.0       # probe demuxes this much before the declared end to find the real ends
MAX_BAD_PACKETS = 32     # undecodable packets always tolerated within one read ...
MAX_BAD_SHARE = 0.1      # ... and beyond that, this share of its packets
GAP_SECONDS = 0.01       # audio timestamps jumping more than this restart the resampler there


class MediaError(Exception):
    """A file that cannot be used: `reason` is one of the skip reasons above."""

    def __init__(self, path, reason: str, detail: str = ""):
        self.path, self.reason, self.detail = str(path), reason, detail
        super().__init__(f"{path}: {reason}" + (f" ({detail})" if detail else ""))


@dataclass(frozen=True)
class Probe:
    duration: float        # seconds covered by both the audio and the video stream
    container: str
    audio_codec: str
    sample_rate: int
    channels: int
    video_codec: str
    width: int
    height: int
    fps: float


def _find_streams(container):
    """The audio and the video stream FFmpeg would pick (None where there is none)."""
    video = [s for s in container.streams.video
             if not s.disposition & av.stream.Disposition.attached_pic]  # cover art is no video
    audio = video_stream = None
    if container.streams.audio:
        audio = container.streams.best("audio") or container.streams.audio[0]
    if video:
        best = container.streams.best("video")
        video_stream = best if best in video else video[0]
    return audio, video_stream


def _streams(container, path):
    audio, video = _find_streams(container)
    if audio is None:
        raise MediaError(path, NO_AUDIO)
    if video is None:
        raise MediaError(path, NO_VIDEO)
    return audio, video


def _open(path):
    path = Path(path)
    if not path.is_file():
        raise MediaError(path, MISSING)
    if path.stat().st_size == 0:
        raise MediaError(path, EMPTY)
    try:
        return av.open(str(path), metadata_errors="ignore")
    except av.FFmpegError as e:
        raise MediaError(path, UNREADABLE, e.strerror or str(e)) from None
    except (OSError, UnicodeDecodeError) as e:
        raise MediaError(path, UNREADABLE, str(e)) from None


def _packet_end(packet, stream) -> float | None:
    ts = packet.pts if packet.pts is not None else packet.dts
    if ts is None:
        return None
    end = float(ts * stream.time_base)
    if packet.duration:
        end += float(packet.duration * stream.time_base)
    elif stream.type == "video" and stream.average_rate:
        end += 1 / float(stream.average_rate)
    return end


def _stream_ends(container, streams, origin: float, declared: float | None) -> dict:
    """Real end time of each stream, from the timestamps of its last packets."""
    ends = {s.index: None for s in streams}
    try:
        if declared:
            container.seek(int((origin + max(0.0, declared - TAIL_SECONDS)) * av.time_base))
        else:
            container.seek(0)
        for packet in container.demux(*streams):
            if packet.size:
                end = _packet_end(packet, packet.stream)
                if end is not None and (ends[packet.stream.index] or 0) < end:
                    ends[packet.stream.index] = end
    except av.FFmpegError:
        pass  # a read error is judged by how far the streams got
    return ends


def probe(path) -> Probe:
    """Streams and usable duration of a file; MediaError when it cannot be used.

    Checks that the streams decode at the start and that their packets reach the
    declared end (a file cut short may keep its header but loses its tail)."""
    container = _open(path)
    with container:
        present = [s for s in _find_streams(container) if s is not None]
        if not present:
            raise MediaError(path, UNREADABLE, "neither an audio nor a video stream")
        _decode_first(container, present, path)
        origin = _origin(container)
        declared = container.duration / av.time_base if container.duration else None
        ends = _stream_ends(container, present, origin, declared)
        if None in ends.values():
            raise MediaError(path, TRUNCATED, "no packets near the declared end"
                             + (f" ({declared:.2f} s)" if declared else ""))
        end = max(ends.values()) - origin
        # a healthy file's last packets reach its declared duration within a frame or so
        if declared and end < declared - max(0.5, 0.01 * declared):
            raise MediaError(path, TRUNCATED, f"streams end at {end:.2f} s, header says {declared:.2f} s")
        audio, video = _streams(container, path)
        ac, vc = audio.codec_context, video.codec_context
        rate = video.average_rate or video.guessed_rate or video.base_rate
        return Probe(
            duration=min(ends.values()) - origin, container=container.format.name,
            audio_codec=ac.name, sample_rate=ac.sample_rate, channels=ac.channels,
            video_codec=vc.name, width=vc.width, height=vc.height,
            fps=float(rate) if rate else 0.0,
        )


def _origin(container) -> float:
    """Time of the container's start: window times are relative to it."""
    return container.start_time / av.time_base if container.start_time else 0.0


def _decode_first(container, streams, path) -> None:
    """Each stream must yield a frame from its first packets (a few bad ones tolerated)."""
    pending, bad = set(streams), 0
    try:
        for packet in container.demux(*streams):
            if packet.stream not in pending:
                continue
            try:
                if packet.stream.decode(packet):
                    pending.discard(packet.stream)
            except av.FFmpegError as e:
                bad += 1
                if bad > MAX_BAD_PACKETS:
                    raise MediaError(path, UNREADABLE, f"{packet.stream.type}: {e.strerror or e}") from None
            if not pending:
                return
    except av.FFmpegError as e:
        raise MediaError(path, UNREADABLE, e.strerror or str(e)) from None
    kinds = " and ".join(sorted(s.type for s in pending))
    raise MediaError(path, UNREADABLE, f"the {kinds} stream yields no frame")


class MediaReader:
    """An open file from which windows of audio and frames are read by seeking."""

    def __init__(self, path):
        self.path = Path(path)
        self.container = _open(self.path)
        self.audio_stream, self.video_stream = _find_streams(self.container)
        self.origin = _origin(self.container)
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

    def audio(self, start: float, seconds: float, rate: int) -> np.ndarray:
        """float32 mono samples [round(seconds * rate)] from `start`, resampled to `rate`."""
        if self.audio_stream is None:
            raise MediaError(self.path, NO_AUDIO)
        n = int(round(seconds * rate))
        first = int(round(start * rate))          # index of the window's first sample
        out = np.zeros(n, np.float32)
        pos = None                                 # index of the next resampled sample
        expected = None                            # where the next frame should start
        resampler = template = None
        for frame in self._from(self.audio_stream, max(0.0, start - AUDIO_PREROLL)):
            at = None if frame.time is None else (frame.time - self.origin) * rate
            if pos is None:
                pos = first if at is None else int(round(at))
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
            if pos >= first + n:
                break
        else:
            pos = self._place(out, first, pos, resampler, None)
            if pos is None or first + n - pos > END_TOLERANCE * rate:
                got = "no audio" if pos is None else f"audio ends at {pos / rate:.2f} s"
                raise MediaError(self.path, TRUNCATED,
                                 f"{got}, window ends at {start + seconds:.2f} s")
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
        """Scale to cover height x width keeping the display aspect ratio, centre-crop."""
        w, h = frame.width * self.sar, frame.height
        scale = max(height / h, width / w)
        sw, sh = max(width, int(round(w * scale))), max(height, int(round(h * scale)))
        img = self.reformatter.reformat(frame, width=sw, height=sh, format="rgb24",
                                       interpolation="AREA").to_ndarray()
        y, x = (sh - height) // 2, (sw - width) // 2
        return img[y:y + height, x:x + width]


def read_audio(path, start: float, seconds: float, rate: int) -> np.ndarray:
    with MediaReader(path) as r:
        return r.audio(start, seconds, rate)


def read_frames(path, times, height: int, width: int) -> np.ndarray:
    with MediaReader(path) as r:
        return r.frames(times, height, width)


def read_segments(path, starts, seconds: float, rate: int, frame_offsets, height: int,
                  width: int) -> tuple[np.ndarray, np.ndarray]:
    """Audio [k, seconds * rate] and frames [k, len(frame_offsets), height, width, 3] of
    the k windows of `seconds` starting at `starts`; frame j of a window shows time
    start + frame_offsets[j]. One window in memory at a time besides the result."""
    offsets = np.asarray(frame_offsets, np.float64)
    k = len(starts)
    audio = np.empty((k, int(round(seconds * rate))), np.float32)
    frames = np.empty((k, len(offsets), height, width, 3), np.uint8)
    with MediaReader(path) as r:
        for i, start in enumerate(starts):
            audio[i] = r.audio(float(start), seconds, rate)
            frames[i] = r.frames(start + offsets, height, width)
    return audio, frames
