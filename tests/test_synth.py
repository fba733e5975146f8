"""The demo data set generator (mvclr.data.demo) and its stage (stages/demo.py)."""
import csv
import filecmp
from dataclasses import replace

import av
import numpy as np
import pytest
import yaml
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import LeaveOneOut, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from mvclr.data.demo.plan import AUDIO_TAGS, TAGS, VIDEO_TAGS, plan_videos
from mvclr.data.demo.audio import render_audio
from mvclr.data.demo.encode import generate
from mvclr.data.demo.video import render_frames
from stages import demo

GENRES = ["rock", "pop", "electronic", "jazz", "hiphop", "classical"]
TINY = dict(videos=8, seed=3, min_seconds=10, max_seconds=14, width=96, height=64, fps=12,
            sample_rate=16000, genres=GENRES)


def plans(**kw):
    args = {**TINY, **kw}
    return plan_videos(args["videos"], seed=args["seed"], genres=args["genres"],
                             min_seconds=args["min_seconds"], max_seconds=args["max_seconds"], fps=args["fps"])


def decode(path):
    """(luma frames float32 [n, H, W], mono audio float32, sample rate, container)"""
    with av.open(str(path)) as c:
        luma = np.stack([f.to_ndarray(format="gray") for f in c.decode(video=0)]).astype(np.float32)
    with av.open(str(path)) as c:
        rate = c.streams.audio[0].sample_rate
        mono = av.AudioResampler(format="flt", layout="mono", rate=rate)
        audio = np.concatenate([g.to_ndarray()[0] for f in c.decode(audio=0) for g in mono.resample(f)])
    return luma, audio, rate


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo")
    return root, generate(root, **TINY, progress=False)


def read_rows(meta):
    with open(meta, newline="") as f:
        return list(csv.DictReader(f))


def test_metadata_follows_the_input_contract(tiny):
    root, meta = tiny
    assert meta == root / "metadata.csv"
    assert meta.read_text().splitlines()[0] == "video_id,path,genre,tags"
    rows = read_rows(meta)
    expected = plans()
    assert [r["video_id"] for r in rows] == [p.video_id for p in expected]
    for row, plan in zip(rows, expected):
        assert not row["path"].startswith("/") and (root / row["path"]).is_file()
        assert row["genre"] == plan.genre and row["genre"] in GENRES + [""]
        tags = row["tags"].split("|") if row["tags"] else []
        assert tags == list(plan.tags) and set(tags) <= set(TAGS)


def test_files_decode_with_the_planned_streams(tiny):
    root, meta = tiny
    for row, plan in zip(read_rows(meta), plans()):
        with av.open(str(root / row["path"])) as c:
            (v,), (a,) = c.streams.video, c.streams.audio
            assert (v.codec_context.name, a.codec_context.name) == ("h264", "aac")
            assert (v.codec_context.width, v.codec_context.height) == (96, 64)
            assert (a.sample_rate, a.codec_context.channels) == (16000, 2)
            assert v.frames == plan.frames
            assert float(v.duration * v.time_base) == pytest.approx(plan.seconds, abs=1.5 / plan.fps)
        luma, audio, _ = decode(root / row["path"])
        assert len(luma) == plan.frames
        assert abs(len(audio) - plan.seconds * 16000) <= 2048      # AAC frames of 1024 samples
        assert 0.01 < np.sqrt(np.mean(audio ** 2)) < 0.9


def test_same_params_same_files_and_videos_independent_of_count(tmp_path):
    kw = {**TINY, "videos": 2, "min_seconds": 3, "max_seconds": 4}
    a = generate(tmp_path / "a", **kw, progress=False)
    b = generate(tmp_path / "b", **kw, workers=2, progress=False)
    assert a.read_bytes() == b.read_bytes()
    for row in read_rows(a):
        assert filecmp.cmp(a.parent / row["path"], b.parent / row["path"], shallow=False)
    assert plans(videos=5)[:3] == plans(videos=3)
    c = generate(tmp_path / "c", **{**kw, "seed": kw["seed"] + 1}, progress=False)
    row = read_rows(a)[0]
    assert not np.array_equal(decode(a.parent / row["path"])[1], decode(c.parent / row["path"])[1])


@pytest.mark.parametrize("container, channels, codecs, rate", [
    ("webm", 1, ("vp9", "opus"), 48000),     # Opus only takes 48 kHz (and lower fixed rates)
    ("mkv", 1, ("h264", "mp3"), 16000),
    ("mp4", 1, ("h264", "aac"), 16000),
])
def test_other_containers_and_mono(tmp_path, container, channels, codecs, rate):
    meta = generate(tmp_path, **{**TINY, "videos": 1, "min_seconds": 3, "max_seconds": 3},
                          container=container, audio_channels=channels, progress=False)
    (row,) = read_rows(meta)
    assert row["path"].endswith("." + container)
    with av.open(str(tmp_path / row["path"])) as c:
        (v,), (a,) = c.streams.video, c.streams.audio
        assert v.codec_context.name == codecs[0] and a.codec_context.name.startswith(codecs[1])  # mp3float
        assert (a.sample_rate, a.codec_context.channels) == (rate, channels)
    luma, audio, _ = decode(tmp_path / row["path"])
    assert len(luma) == 36 and abs(len(audio) - 3 * rate) <= 0.05 * rate


@pytest.mark.parametrize("kw", [dict(container="avi"), dict(audio_channels=6), dict(width=95),
                                dict(genres=[]), dict(min_seconds=5, max_seconds=4)])
def test_bad_arguments_fail_clearly(tmp_path, kw):
    with pytest.raises(ValueError, match="demo"):
        generate(tmp_path, **{**TINY, **kw}, progress=False)


def test_tags_change_only_their_modality():
    plan = replace(plans(videos=1, min_seconds=4, max_seconds=4)[0], tags=())

    def audio(p):
        return render_audio(p, 8000, 2)

    def frames(p):
        return np.concatenate(list(render_frames(p, 64, 48)))

    base_audio, base_frames = audio(plan), frames(plan)
    for tag in TAGS:
        tagged = replace(plan, tags=(tag,))
        assert np.array_equal(audio(tagged), base_audio) == (tag not in AUDIO_TAGS), tag
        assert np.array_equal(frames(tagged), base_frames) == (tag not in VIDEO_TAGS), tag
    assert AUDIO_TAGS - VIDEO_TAGS and VIDEO_TAGS - AUDIO_TAGS
    assert AUDIO_TAGS & VIDEO_TAGS


def test_intensity_is_shared_by_sound_and_picture(tiny):
    """Per 1 s window within a video: louder audio <-> brighter, busier video, both following
    the planned section intensity."""
    root, meta = tiny
    loud, bright, motion, level = [], [], [], []
    for row, plan in zip(read_rows(meta), plans()):
        luma, audio, rate = decode(root / row["path"])
        n = int(plan.seconds)
        fps = int(plan.fps)
        z = lambda x: (np.asarray(x) - np.mean(x)) / (np.std(x) + 1e-9)   # noqa: E731  within video
        loud.append(z([np.log(np.mean(audio[i * rate:(i + 1) * rate] ** 2)) for i in range(n)]))
        bright.append(z([luma[i * fps:(i + 1) * fps].mean() for i in range(n)]))
        motion.append(z([np.abs(np.diff(luma[i * fps:(i + 1) * fps], axis=0)).mean() for i in range(n)]))
        level.append(z(plan.intensity_at(np.arange(n) + 0.5)))
    loud, bright, motion, level = map(np.concatenate, (loud, bright, motion, level))
    r = lambda x, y: np.corrcoef(x, y)[0, 1]                              # noqa: E731
    assert r(loud, level) > 0.4 and r(bright, level) > 0.5 and r(motion, level) > 0.3
    assert 0.3 < r(loud, bright) < 0.95       # shared, but with per-modality nuisance


def audio_stats(x, rate):
    """Mean and spread of log energy in 8 bands, onset strength, tempo: [18]"""
    frames = np.lib.stride_tricks.sliding_window_view(x, 1024)[::512]
    spec = np.abs(np.fft.rfft(frames * np.hanning(1024), axis=1)) ** 2
    freq = np.fft.rfftfreq(1024, 1 / rate)
    edges = np.geomspace(40, rate / 2, 9)
    bands = np.stack([spec[:, (freq >= lo) & (freq < hi)].sum(1) for lo, hi in zip(edges, edges[1:])], 1)
    bands = np.log(bands + 1e-9)
    flux = np.maximum(np.diff(bands, axis=0), 0).sum(1)
    ac = np.correlate(flux - flux.mean(), flux - flux.mean(), "full")[len(flux) - 1:]
    lag = np.arange(len(ac)) * 512 / rate
    beat = (lag > 0.3) & (lag < 1.2)
    return np.r_[bands.mean(0) - bands.mean(), bands.std(0), flux.mean(), np.log(lag[beat][np.argmax(ac[beat])])]


def video_stats(yuv, height):
    """Mean and spread of Y, U, V; temporal and spatial luma change: [9]"""
    y = yuv[:, :height].astype(np.float32)
    u, v = np.split(yuv[:, height:].reshape(len(yuv), -1).astype(np.float32), 2, axis=1)
    return np.r_[y.mean(), y.std(), u.mean(), v.mean(), u.std(), v.std(), np.abs(np.diff(y, axis=0)).mean(),
                 np.abs(np.diff(y, axis=1)).mean(), np.abs(np.diff(y, axis=2)).mean()]


def test_genre_is_separable_from_simple_audio_stats_and_from_simple_video_stats():
    many = plans(videos=48, min_seconds=8, max_seconds=8)
    a = np.array([audio_stats(render_audio(p, 16000, 1)[0], 16000) for p in many])
    v = np.array([video_stats(np.concatenate(list(render_frames(p, 64, 48))), 48) for p in many])
    style = [p.style for p in many]
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000))
    chance = 1 / len(GENRES)
    for x in (a, v):
        assert cross_val_score(clf, x, style, cv=LeaveOneOut()).mean() > 3 * chance


def run_stage(root, source, monkeypatch):
    demo_params = {**{k: TINY[k] for k in ("videos", "min_seconds", "max_seconds", "width", "height",
                                           "fps", "sample_rate", "genres")},
                   "videos": 2, "min_seconds": 3, "max_seconds": 3, "container": "mp4",
                   "audio_channels": 2, "workers": 1}
    params = {"seed": 0, "data": {"source": source}, "demo": demo_params}
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    monkeypatch.chdir(root)
    demo.main()
    return root / "data/demo"


def test_stage_writes_the_demo_only_when_it_is_the_source(tmp_path, monkeypatch):
    out = run_stage(tmp_path, "data/demo", monkeypatch)
    assert [r["video_id"] for r in read_rows(out / "metadata.csv")] == ["demo000", "demo001"]
    out = run_stage(tmp_path, "data/mine", monkeypatch)
    assert [p.name for p in out.iterdir()] == ["README.md"]
    assert "not used" in (out / "README.md").read_text()
