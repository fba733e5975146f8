from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from make_media import MAX_LAG, audio_lag, frame_pattern, read_pattern, shown_frames, write_media

from mvclr.data import media, reader
from mvclr.data.layout import Layout

SECONDS = 8.0
# name -> write_media keywords: containers, codecs, sample rates, channels, frame rates
FORMATS = {
    "h264_aac.mp4": dict(sample_rate=44100, channels=2, fps=24),
    "vp9_opus.webm": dict(sample_rate=48000, channels=1, fps=25),
    "h264_flac.mkv": dict(sample_rate=22050, channels=2, fps=30000 / 1001),
    "mpeg4_pcm.mkv": dict(sample_rate=8000, channels=1, fps=10, vcodec="mpeg4", acodec="pcm_s16le"),
}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("media")
    return {name: write_media(folder / name, SECONDS, **kw) for name, kw in FORMATS.items()}


@pytest.mark.parametrize("name", FORMATS)
def test_probe(files, name):
    info = media.probe(files[name])
    kw = FORMATS[name]
    assert info.duration == pytest.approx(SECONDS, abs=0.05)
    assert (info.sample_rate, info.channels) == (kw["sample_rate"], kw["channels"])
    assert info.fps == pytest.approx(kw["fps"], rel=1e-3)
    assert (info.width, info.height) == (96, 64)


@pytest.mark.parametrize("name", FORMATS)
@pytest.mark.parametrize("rate", [16000, 11025])
def test_audio_is_resampled_mono_and_aligned(files, name, rate):
    with reader.MediaReader(files[name]) as r:
        for start in (0.0, 5.55, 1.3):          # seeks forwards and backwards
            x = r.audio(start, 2.0, rate)
            assert x.dtype == np.float32 and x.shape == (int(round(2.0 * rate)),)
            lag, gain = audio_lag(x, start, rate)
            assert abs(lag) <= MAX_LAG, (start, lag)
            # mono is the mean of the channels: the chirp's amplitude is kept
            assert gain == pytest.approx(1.0, abs=0.05)


def test_audio_resampling_keeps_frequency(files):
    # a window of the chirp decoded at 16 kHz, its instantaneous frequency from zero crossings
    x = reader.read_audio(files["h264_aac.mp4"], 4.0, 1.0, 16000)
    crossings = np.flatnonzero(np.diff(np.signbit(x)))
    freq = (len(crossings) - 1) / 2 / ((crossings[-1] - crossings[0]) / 16000)
    from make_media import CHIRP_F0, CHIRP_RATE
    assert freq == pytest.approx(CHIRP_F0 + CHIRP_RATE * 4.5, rel=0.01)


@pytest.mark.parametrize("name", FORMATS)
def test_frame_k_shows_time_start_plus_k_half_over_f(files, name):
    fps = FORMATS[name]["fps"]
    seconds, count = 2.0, 10
    with reader.MediaReader(files[name]) as r:
        for start in (3.013, 0.0, 5.97):
            times = start + (np.arange(count) + 0.5) * seconds / count
            got = r.frames(times, 48, 64)
            assert got.dtype == np.uint8 and got.shape == (count, 48, 64, 3)
            expected = shown_frames(times, fps, Path(name).suffix) % 256
            assert [read_pattern(f) for f in got] == list(expected), start


def test_read_segments(files):
    layout = Layout(segment_seconds=2.0, window_seconds=1.0, sample_rate=16000, frames=10,
                    window_frames=4, height=32, width=43)
    offsets = layout.frame_offsets()
    audio, frames = reader.read_segments(files["h264_aac.mp4"], [0.5, 4.25], layout)
    assert audio.shape == (2, 16000) and frames.shape == (2, 4, 32, 43, 3)
    for i, start in enumerate([0.5, 4.25]):
        lag, gain = audio_lag(audio[i], start + 0.5, 16000)      # the centred 1 s window
        assert abs(lag) <= MAX_LAG and gain == pytest.approx(1, abs=0.05)
        assert [read_pattern(f) for f in frames[i]] == list(shown_frames(start + offsets, 24, ".mp4"))


def turned(img: np.ndarray, rotation: int) -> np.ndarray:
    """What a player shows for a frame whose display matrix turns it `rotation` degrees
    counter-clockwise, written out for each case."""
    if rotation == 90:
        return img.transpose(1, 0, 2)[::-1]          # right edge becomes the top
    if rotation == 270:
        return img.transpose(1, 0, 2)[:, ::-1]       # left edge becomes the top
    if rotation == 180:
        return img[::-1, ::-1]
    return img


@pytest.mark.parametrize("rotation", [90, 270, 180])
def test_display_rotation_is_applied(tmp_path, rotation):
    # a landscape frame in four coloured quadrants, stored with a display matrix (phone video)
    h, w = 64, 96
    img = np.zeros((h, w, 3), np.uint8)
    img[: h // 2, : w // 2] = (255, 0, 0)
    img[: h // 2, w // 2:] = (0, 255, 0)
    img[h // 2:, : w // 2] = (0, 0, 255)
    img[h // 2:, w // 2:] = (255, 255, 255)
    path = tmp_path / "phone.mp4"
    with av.open(str(path), "w") as out:
        vs = out.add_stream("libx264", rate=10, options={"crf": "10", "preset": "ultrafast"})
        vs.width, vs.height, vs.pix_fmt = w, h, "yuv420p"
        vs.set_display_rotation(rotation)
        a = out.add_stream("aac", rate=16000)
        for i in range(20):
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, 10)
            out.mux(vs.encode(frame))
        out.mux(vs.encode(None))
        sound = av.AudioFrame.from_ndarray(np.zeros((1, 32000), np.float32), format="fltp", layout="mono")
        sound.sample_rate, sound.pts, sound.time_base = 16000, 0, Fraction(1, 16000)
        for packet in [*a.encode(sound), *a.encode(None)]:
            out.mux(packet)
    info = media.probe(path)
    assert info.rotation == rotation % 360
    assert (info.width, info.height) == ((h, w) if rotation % 180 else (w, h))
    shown = turned(img, rotation)
    got = reader.read_frames(path, [0.5], shown.shape[0], shown.shape[1])[0]
    assert np.abs(got.astype(int) - shown).mean() < 8        # upright, not sideways
    # the crop of a portrait video keeps its centre, as for a landscape one
    got = reader.read_frames(path, [0.5], 32, 32)[0]
    expected = shown[::2, ::2]                                # scaled to cover 32 x 32
    centre = expected[expected.shape[0] // 2 - 16: expected.shape[0] // 2 + 16,
                      expected.shape[1] // 2 - 16: expected.shape[1] // 2 + 16]
    assert np.abs(got.astype(int)[4:-4, 4:-4] - centre[4:-4, 4:-4]).mean() < 20


@pytest.mark.parametrize("size", [(160, 90), (90, 160), (64, 64)])
def test_frames_cover_the_output_keeping_aspect_ratio(tmp_path, size):
    # a centred red square stays a centred red square after scaling and cropping
    w, h = size
    img = np.zeros((h, w, 3), np.uint8)
    img[h // 2 - 20: h // 2 + 20, w // 2 - 20: w // 2 + 20] = (255, 0, 0)
    path = tmp_path / "square.mp4"
    with av.open(str(path), "w") as out:
        vs = out.add_stream("libx264", rate=10, options={"crf": "10", "preset": "ultrafast"})
        vs.width, vs.height, vs.pix_fmt = w, h, "yuv420p"
        out.add_stream("aac", rate=16000)
        for i in range(10):
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, 10)
            out.mux(vs.encode(frame))
        out.mux(vs.encode(None))
    frame = reader.read_frames(path, [0.5], 64, 85)[0]
    got = frame[..., 0] > 127
    assert frame[got][:, 1:].max() < 60          # RGB order: red stays red
    rows, cols = np.flatnonzero(got.any(axis=1)), np.flatnonzero(got.any(axis=0))
    side = 40 * max(64 / h, 85 / w)
    assert len(rows) == pytest.approx(side, abs=2) and len(cols) == pytest.approx(side, abs=2)
    assert (rows[0] + rows[-1]) / 2 == pytest.approx(31.5, abs=1)
    assert (cols[0] + cols[-1]) / 2 == pytest.approx(42, abs=1)


def test_window_past_the_end_is_truncated(files):
    with reader.MediaReader(files["h264_aac.mp4"]) as r:
        with pytest.raises(media.MediaError) as e:
            r.audio(SECONDS - 1.0, 2.0, 16000)
        assert e.value.reason == media.TRUNCATED
        with pytest.raises(media.MediaError) as e:
            r.frames([SECONDS - 0.5, SECONDS + 1.0], 32, 43)
        assert e.value.reason == media.TRUNCATED


def test_probe_reasons(tmp_path):
    good = write_media(tmp_path / "good.mp4", 4.0, options={"movflags": "faststart"}).read_bytes()
    (tmp_path / "cut.mp4").write_bytes(good[: len(good) // 2])
    (tmp_path / "junk.mkv").write_bytes(np.random.default_rng(0).bytes(4000))
    (tmp_path / "zero.webm").touch()
    write_media(tmp_path / "mute.webm", 4.0, audio=False)
    write_media(tmp_path / "sound.m4a", 4.0, video=False)
    cases = {"cut.mp4": media.TRUNCATED, "junk.mkv": media.UNREADABLE, "zero.webm": media.EMPTY,
             "mute.webm": media.NO_AUDIO, "sound.m4a": media.NO_VIDEO, "nowhere.mp4": media.MISSING}
    for name, reason in cases.items():
        with pytest.raises(media.MediaError) as e:
            media.probe(tmp_path / name)
        assert e.value.reason == reason, (name, e.value)
        assert name in str(e.value)


def test_frame_pattern_round_trip():
    for i in (0, 1, 77, 255):
        assert read_pattern(frame_pattern(i, 64, 96)) == i


def test_corrupt_packets_are_skipped_and_audio_stays_aligned(tmp_path):
    path = write_media(tmp_path / "corrupt.mp4", 6.0)
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle: middle + 3000] = np.random.default_rng(0).bytes(3000)
    path.write_bytes(bytes(data))
    x = reader.read_audio(path, 1.0, 4.0, 16000)    # the damage lies inside this window
    lag, gain = audio_lag(x, 1.0, 16000)
    assert lag == 0 and 0.5 < gain < 0.99           # the lost packets are silence ...
    lag, gain = audio_lag(x[-16000:], 4.0, 16000)   # ... and what follows stays in place
    assert lag == 0 and gain == pytest.approx(1, abs=0.05)
