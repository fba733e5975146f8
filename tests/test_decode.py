from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml
from make_media import MAX_LAG, audio_lag, read_pattern, shown_frames, write_dataset

from mvclr.data import decoding, reader
from mvclr.data.index import read_index
from stages import decode, prepare
from mvclr.data.sampling import segment_starts, video_rng
from mvclr.data.segment_store import frame_offsets, read_meta

SEED = 7
DEC = {"segments": 3, "segment_seconds": 2.0, "window_seconds": 1.0, "sample_rate": 16000,
       "frames": 8, "height": 32, "width": 43, "workers": 2}
GOOD = [
    ("a.mp4", 7.0, dict(sample_rate=44100, channels=2, fps=24)),
    ("b.webm", 6.5, dict(sample_rate=48000, channels=1, fps=25)),
    ("c.mkv", 8.0, dict(sample_rate=22050, channels=2, fps=30)),
    ("d.mkv", 4.5, dict(sample_rate=32000, channels=1, fps=12, acodec="pcm_s16le")),  # 2 windows
]


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A project folder with params.yaml, a data set (bad files included) and its index."""
    root = tmp_path_factory.mktemp("decode")
    write_dataset(root / "data/src", GOOD, segment_seconds=DEC["segment_seconds"])
    params = {"seed": SEED, "data": {"source": "data/src", "split": [0.5, 0.25, 0.25],
                                     "min_videos": 2}, "decode": DEC}
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        prepare.main()
    return root


def jobs_of(root):
    return decoding.plan(read_index(root / "data/index.csv"), root / "data/src", SEED,
                       DEC["segments"], DEC["segment_seconds"])


def test_plan(project):
    jobs = jobs_of(project)
    assert [j.video_id for j in jobs] == ["a", "b", "c", "d"]
    assert [len(j.starts) for j in jobs] == [3, 3, 3, 2]
    duration = {r["video_id"]: r["duration"] for r in read_index(project / "data/index.csv")
                if r["status"] == "ok"}
    for j, (name, seconds, _) in zip(jobs, GOOD):
        assert j.file == str(project / "data/src" / name)
        assert j.starts == tuple(segment_starts(duration[j.video_id], 3, 2.0, video_rng(SEED, j.video_id)))
        assert j.starts[-1] + 2.0 <= seconds + 1e-6


def check_store(path, jobs):
    meta = read_meta(path)
    assert meta.attrs["sample_rate"] == 16000 and meta.attrs["frames"] == 8
    assert list(meta.video_id) == [j.video_id for j in jobs for _ in j.starts]
    assert list(meta.segment_index) == [i for j in jobs for i in range(len(j.starts))]
    assert np.allclose(meta.start_seconds, [s for j in jobs for s in j.starts])
    fps = {Path(name).stem: (kw["fps"], Path(name).suffix) for name, _, kw in GOOD}
    with h5py.File(path, "r") as f:
        assert f["audio"].shape == (len(meta), 32000) and f["frames"].shape == (len(meta), 8, 32, 43, 3)
        for i in range(len(meta)):
            start, vid = meta.start_seconds[i], meta.video_id[i]
            times = start + frame_offsets(2.0, 8)
            got = [read_pattern(fr) for fr in f["frames"][i]]
            assert got == list(shown_frames(times, *fps[vid])), (vid, start)
            lag, gain = audio_lag(f["audio"][i], start, 16000)
            assert abs(lag) <= MAX_LAG and gain == pytest.approx(1, abs=0.05), (vid, start)
    return meta


def test_decode_stage(project, monkeypatch):
    monkeypatch.chdir(project)
    decode.main()
    jobs = jobs_of(project)
    meta = check_store(project / "data/segments.h5", jobs)
    split = {r["video_id"]: r["split"] for r in read_index(project / "data/index.csv")
             if r["status"] == "ok"}
    assert list(meta.split) == [split[v] for v in meta.video_id]
    assert not (project / "data/segments.h5.partial").exists()


def test_a_failing_video_is_skipped_and_reported(project, tmp_path):
    jobs = jobs_of(project)
    broken = tmp_path / "broken.mp4"                  # passed prepare, then was cut short
    data = (project / "data/src/a.mp4").read_bytes()
    broken.write_bytes(data[: len(data) // 2])
    jobs[1] = decoding.Job("b", str(broken), "train", jobs[1].starts)
    failed = decoding.decode_all(jobs, tmp_path / "s.h5", {**DEC, "workers": 1}, SEED)
    assert [f["video_id"] for f in failed] == ["b"] and "unreadable" in failed[0]["reason"]
    check_store(tmp_path / "s.h5", [j for j in jobs if j.video_id != "b"])
    with h5py.File(tmp_path / "s.h5", "r") as f:
        assert '"b"' in f.attrs["failed"]


def test_interrupted_decode_resumes(project, tmp_path, monkeypatch):
    jobs = jobs_of(project)
    dec = {**DEC, "workers": 1}
    calls = []
    real = reader.read_segments

    def counting(path, *args):
        calls.append(path)
        if len(calls) == 3 and not resumed:
            raise KeyboardInterrupt
        return real(path, *args)

    monkeypatch.setattr(reader, "read_segments", counting)
    resumed = False
    with pytest.raises(KeyboardInterrupt):
        decoding.decode_all(jobs, tmp_path / "s.h5", dec, SEED)
    assert (tmp_path / "s.h5.partial").exists() and not (tmp_path / "s.h5").exists()
    resumed = True
    decoding.decode_all(jobs, tmp_path / "s.h5", dec, SEED)
    assert calls == [jobs[0].file, jobs[1].file, jobs[2].file, jobs[2].file, jobs[3].file]
    check_store(tmp_path / "s.h5", jobs)
