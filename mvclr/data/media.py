"""Opening and probing media files with PyAV: which streams a file has, how long they
really last, and the reasons a file cannot be used (shared with the ingest report).

Every open (`open_media`, the probe's and the reader's) reads the one file it is given: FFmpeg
may only pick a demuxer that opens no other file or stream (OPENS_OTHERS left out of its
format whitelist, so a playlist is refused before its header is read) and may only use the
file protocol. The scan skips playlists already (mvclr.data.scan); this is defence in depth."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import av

# Skip reasons shared with the ingest report.
MISSING, EMPTY, UNREADABLE, TRUNCATED = "missing file", "empty file", "unreadable", "truncated"
NO_AUDIO, NO_VIDEO, DECODE_FAILED = "no audio stream", "no video stream", "decode failed"
TIMED_OUT = "timed out"
PLAYLIST = "playlist container"

# demuxers that open other files or streams: playlists and manifests (hls, dash, imf), scripts
# (concat, avisynth, vapoursynth), file-name patterns (image2), sessions (sdp, rtsp, rtp),
# filter graphs (lavfi, whose movie source opens any file)
OPENS_OTHERS = {"hls", "dash", "imf", "concat", "avisynth", "vapoursynth", "image2", "sdp",
                "rtsp", "rtp", "lavfi"}
_DEMUXERS = sorted(n for n in av.formats_available if av.ContainerFormat(n).is_input)
OPEN_GUARD = {
    "format_whitelist": ",".join(n for n in _DEMUXERS if not set(n.split(",")) & OPENS_OTHERS),
    "protocol_whitelist": "file",
}

TAIL_SECONDS = 3.0       # probe demuxes this much before the declared end to find the real ends
MAX_BAD_PACKETS = 32     # undecodable packets always tolerated within one read


class MediaError(Exception):
    """A file that cannot be used: `reason` is one of the skip reasons above."""

    def __init__(self, path, reason: str, detail: str = ""):
        self.path, self.reason, self.detail = str(path), reason, detail
        super().__init__(f"{path}: {reason}" + (f" ({detail})" if detail else ""))

    def __reduce__(self):      # crosses process boundaries (mvclr.data.supervise)
        return MediaError, (self.path, self.reason, self.detail)


@dataclass(frozen=True)
class Probe:
    duration: float        # seconds covered by both the audio and the video stream
    container: str
    audio_codec: str
    sample_rate: int
    channels: int
    video_codec: str
    width: int             # as displayed: the display matrix's rotation applied
    height: int
    rotation: int          # degrees counter-clockwise that show the frames upright (0/90/180/270)
    fps: float


def find_streams(container):
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
    audio, video = find_streams(container)
    if audio is None:
        raise MediaError(path, NO_AUDIO)
    if video is None:
        raise MediaError(path, NO_VIDEO)
    return audio, video


def open_media(path):
    """The open container of `path` (OPEN_GUARD applied); MediaError when it cannot be used."""
    path = Path(path)
    if not path.is_file():
        raise MediaError(path, MISSING)
    if path.stat().st_size == 0:
        raise MediaError(path, EMPTY)
    try:
        return av.open(str(path), metadata_errors="ignore", container_options=OPEN_GUARD)
    except av.ArgumentError:
        # EINVAL from avformat_open_input with these fixed, valid options: the demuxer it
        # probed is not on the whitelist
        raise MediaError(path, PLAYLIST, "FFmpeg would read it with a demuxer that opens other "
                         f"files ({', '.join(sorted(OPENS_OTHERS))})") from None
    except (av.FFmpegError, OSError) as e:   # strerror: no path in a detail memoised by content
        raise MediaError(path, UNREADABLE, e.strerror or str(e)) from None
    except UnicodeDecodeError as e:
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
    container = open_media(path)
    with container:
        present = [s for s in find_streams(container) if s is not None]
        if not present:
            raise MediaError(path, UNREADABLE, "neither an audio nor a video stream")
        first = _decode_first(container, present, path)
        origin = container_origin(container)
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
        turns = quarter_turns(first[video].rotation)
        upright = (vc.height, vc.width) if turns % 2 else (vc.width, vc.height)
        return Probe(
            duration=min(ends.values()) - origin, container=container.format.name,
            audio_codec=ac.name, sample_rate=ac.sample_rate, channels=ac.channels,
            video_codec=vc.name, width=upright[0], height=upright[1], rotation=90 * turns,
            fps=float(rate) if rate else 0.0,
        )


def quarter_turns(rotation: float | None) -> int:
    """Counter-clockwise quarter turns that show a frame upright: its display matrix's rotation
    (degrees counter-clockwise, as ffprobe reports it) to the nearest multiple of 90."""
    return int(round((rotation or 0) / 90)) % 4


def container_origin(container) -> float:
    """Time of the container's start: window times are relative to it."""
    return container.start_time / av.time_base if container.start_time else 0.0


def _decode_first(container, streams, path) -> dict:
    """Each stream must yield a frame from its first packets (a few bad ones tolerated);
    returns the first frame of each."""
    pending, bad, first = set(streams), 0, {}
    try:
        for packet in container.demux(*streams):
            if packet.stream not in pending:
                continue
            try:
                frames = packet.stream.decode(packet)
                if frames:
                    first[packet.stream] = frames[0]
                    pending.discard(packet.stream)
            except av.FFmpegError as e:
                bad += 1
                if bad > MAX_BAD_PACKETS:
                    raise MediaError(path, UNREADABLE, f"{packet.stream.type}: {e.strerror or e}") from None
            if not pending:
                return first
    except av.FFmpegError as e:
        raise MediaError(path, UNREADABLE, e.strerror or str(e)) from None
    kinds = " and ".join(sorted(s.type for s in pending))
    raise MediaError(path, UNREADABLE, f"the {kinds} stream yields no frame")
