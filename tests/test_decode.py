import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import h5py
import numpy as np
import psutil
import pytest
import yaml
from make_media import MAX_LAG, audio_lag, read_pattern, shown_frames, write_dataset, write_media

from mvclr.data import decoding, media, reader, shards
from mvclr.data.index import read_index
from mvclr.data.layout import Layout
from mvclr.data.sampling import segment_starts, video_rng
from mvclr.data.segment_store import read_meta, row_digest
from mvclr.features.windows import window_info, window_reader
from stages import decode, prepare

REPO = Path(__file__).resolve().parents[1]
SEED = 7
DEC = {"segments": 3, "segment_seconds": 2.0, "window_seconds": 1.0, "sample_rate": 16000,
       "frames": 8, "height": 32, "width": 43, "unit_videos": 2, "workers": 2, "timeout_seconds": 60}
PARAMS = {"seed": SEED, "data": {"source": "data/src", "split": [0.5, 0.25, 0.25], "min_videos": 2},
          "decode": DEC, "features": {"video": {"frames": 3}}}
LAYOUT = Layout.from_params(PARAMS)
GOOD = [
    ("a.mp4", 7.0, dict(sample_rate=44100, channels=2, fps=24)),
    ("b.webm", 6.5, dict(sample_rate=48000, channels=1, fps=25)),
    ("c.mkv", 8.0, dict(sample_rate=22050, channels=2, fps=30)),
    ("d.mkv", 4.5, dict(sample_rate=32000, channels=1, fps=12, acodec="pcm_s16le")),  # 2 windows
    ("e.mp4", 6.0, dict(sample_rate=44100, channels=2, fps=24, rotation=90)),          # a phone's
]


def write_params(root, **decode_knobs):
    params = {**PARAMS, "decode": {**DEC, **decode_knobs}}
    (root / "params.yaml").write_text(yaml.safe_dump(params))


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A project folder with params.yaml, a data set (bad files included), its index and a
    decoded store."""
    root = tmp_path_factory.mktemp("decode")
    write_dataset(root / "data/src", GOOD, segment_seconds=DEC["segment_seconds"])
    write_params(root)
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        prepare.main()
        decode.main()
    return root


def units_of(root, unit_videos=2):
    jobs = decoding.jobs(read_index(root / "data/index.csv"), root / "data/src", SEED,
                         DEC["segments"], DEC["segment_seconds"])
    return decoding.plan(jobs, LAYOUT, unit_videos)


def whole_segments(file, starts):
    """Today's decoding, for reference: each whole segment's audio and its `frames` equally
    spaced frames, read one segment after the other from one open file."""
    grid = (np.arange(DEC["frames"]) + 0.5) * DEC["segment_seconds"] / DEC["frames"]
    with reader.MediaReader(file) as r:
        return [(r.audio(s, DEC["segment_seconds"], DEC["sample_rate"]),
                 r.frames(s + grid, DEC["height"], DEC["width"])) for s in starts]


def test_plan_and_unit_keys(project):
    units = units_of(project)
    assert [[j.video_id for j in u.jobs] for u in units] == [["a", "b"], ["c", "d"], ["e"]]
    duration = {r["video_id"]: r["duration"] for r in read_index(project / "data/index.csv")
                if r["status"] == "ok"}
    for j in (j for u in units for j in u.jobs):
        assert j.starts == tuple(segment_starts(duration[j.video_id], 3, 2.0, video_rng(SEED, j.video_id)))
    assert len({u.key for u in units}) == 3
    assert [u.key for u in units_of(project)] == [u.key for u in units]     # reproducible
    other = decoding.plan([j for u in units for j in u.jobs], Layout(**{**LAYOUT.attrs(), "window_frames": 4}), 2)
    assert not {u.key for u in other} & {u.key for u in units}               # layout in the key
    assert units_of(project, unit_videos=3)[0].key not in {u.key for u in units}


def test_store_holds_the_windows_in_index_order(project):
    units = units_of(project)
    jobs = [j for u in units for j in u.jobs]
    meta = read_meta(project / "data/segments.h5")
    assert Layout.from_attrs(meta.attrs) == LAYOUT and meta.attrs["seed"] == SEED and meta.split is None
    assert list(meta.video_id) == [j.video_id for j in jobs for _ in j.starts]
    assert list(meta.segment_index) == [i for j in jobs for i in range(len(j.starts))]
    assert np.allclose(meta.start_seconds, [s for j in jobs for s in j.starts])
    fps = {Path(name).stem: (kw["fps"], Path(name).suffix) for name, _, kw in GOOD}
    with h5py.File(project / "data/segments.h5", "r") as f:
        assert f["audio"].shape == (len(meta), 16000) and f["frames"].shape == (len(meta), 3, 32, 43, 3)
        assert f["audio"].is_virtual and f["frames"].is_virtual
        for i, (vid, start) in enumerate(zip(meta.video_id, meta.start_seconds)):
            frames = f["frames"][i] if vid != "e" else np.rot90(f["frames"][i], -1, axes=(1, 2))
            if vid != "e":       # the rotated video's pattern bands run across: checked in test_media
                times = start + LAYOUT.frame_offsets()
                assert [read_pattern(x) for x in frames] == list(shown_frames(times, *fps[vid])), vid
            lag, gain = audio_lag(f["audio"][i], start + LAYOUT.window[0], 16000)
            assert abs(lag) <= MAX_LAG and gain == pytest.approx(1, abs=0.05), (vid, start)
    # the folder holds exactly the store's shards, mapped by relative paths
    assert sorted(p.name for p in (project / "data/segments").iterdir()) == sorted(u.shard for u in units)


def test_windows_equal_those_cut_from_whole_segments(project):
    """The compact store loses nothing the backbones read: each row equals today's whole-segment
    decoding cut to the analysis window, bit for bit (hence identical features)."""
    meta = read_meta(project / "data/segments.h5")
    grid = (np.arange(DEC["frames"]) + 0.5) * DEC["segment_seconds"] / DEC["frames"]
    picked = [int(np.flatnonzero(np.isclose(grid, t))[0]) for t in LAYOUT.frame_offsets()]
    keep = slice(LAYOUT.audio_offset, LAYOUT.audio_offset + LAYOUT.audio_samples)
    with h5py.File(project / "data/segments.h5", "r") as f:
        audio, video = window_reader(f, "audio", PARAMS), window_reader(f, "video", PARAMS)
        for u in units_of(project):
            for job in u.jobs:
                rows = np.flatnonzero(meta.video_id == job.video_id)
                for row, (a, x) in zip(rows, whole_segments(job.file, job.starts)):
                    assert np.array_equal(audio(row), a[keep]), (job.video_id, row)
                    assert np.array_equal(video(row), x[picked]), (job.video_id, row)
                    assert np.array_equal(f["digest"][row], row_digest(audio(row), video(row)))
        info = window_info(f, "video", PARAMS)
        assert info["frame_seconds"] == LAYOUT.frame_offsets().tolist()


def test_window_reader_refuses_a_store_of_another_window(project):
    other = {**PARAMS, "decode": {**DEC, "window_seconds": 1.5}}
    with h5py.File(project / "data/segments.h5", "r") as f, pytest.raises(ValueError, match="window"):
        window_reader(f, "audio", other)


def test_ingest_report_covers_prepare_and_decode(project):
    report = json.loads((project / "reports/ingest.json").read_text())
    assert report["status"] == {"ok": len(GOOD), "skipped": 9}
    assert {s["stage"] for s in report["skipped"]} == {"prepare"}
    assert report["decode"]["segments"] == 3 * 4 + 2 and report["decode"]["shards"]["units"] == 3


def test_the_store_moves_with_its_folder_and_misses_no_shard_silently(project, tmp_path, monkeypatch):
    shutil.copytree(project / "data", tmp_path / "moved", ignore=shutil.ignore_patterns("src"))
    monkeypatch.chdir(REPO)
    with h5py.File(tmp_path / "moved/segments.h5", "r") as f, \
            h5py.File(project / "data/segments.h5", "r") as g:
        assert np.array_equal(f["frames"][-1], g["frames"][-1])
    next((tmp_path / "moved/segments").iterdir()).unlink()
    with h5py.File(tmp_path / "moved/segments.h5", "r") as f, \
            pytest.raises(FileNotFoundError, match="1 of its 3 shard files are missing"):
        window_reader(f, "audio", PARAMS)


def test_a_failing_video_costs_no_other_segments(project, tmp_path):
    unit = units_of(project)[0]
    broken = tmp_path / "broken.mp4"                  # passed prepare, then was cut short
    data = Path(unit.jobs[0].file).read_bytes()
    broken.write_bytes(data[: len(data) // 2])
    unit = decoding.Unit(0, "k", (decoding.Job("a", "a.mp4", str(broken), 1, 1, unit.jobs[0].starts),
                                  unit.jobs[1]), LAYOUT)
    result = decoding.decode_unit(unit, tmp_path, 60)
    assert [(f["video_id"], f["reason"]) for f in result.failed] == [("a", media.UNREADABLE)]
    assert result.rows == 3 and [p.name for p in tmp_path.glob("*.h5")] == ["k.h5"]
    assert shards.verify(tmp_path / "k.h5", unit, 60)[0] == result


def suspend_when_opened(target: Path, stopped: list):
    """Stop (SIGSTOP) the child process that opens `target`: a decoder that hangs for good."""
    def watch():
        me = psutil.Process()
        while not stopped:
            for child in me.children(recursive=True):
                try:
                    if any(Path(f.path) == target for f in child.open_files()):
                        child.suspend()
                        stopped.append(child.pid)
                except psutil.Error:
                    pass
    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def test_a_hanging_file_times_out_is_killed_and_the_unit_carries_on(project, tmp_path):
    slow = write_media(tmp_path / "slow.mp4", 8.0, width=640, height=360, gop=400)  # long to decode
    good = units_of(project)[0].jobs
    starts = (0.5, 3.0, 5.5)
    unit = decoding.Unit(0, "k", (good[0], decoding.Job("s", "slow.mp4", str(slow), 1, 1, starts),
                                  good[1]), LAYOUT)
    stopped = []
    suspend_when_opened(slow, stopped)
    t0 = time.monotonic()
    result = decoding.decode_unit(unit, tmp_path, 3.0)
    assert stopped and not psutil.pid_exists(stopped[0])      # killed, not leaked
    assert [(f["video_id"], f["reason"]) for f in result.failed] == [("s", media.TIMED_OUT)]
    assert result.rows == 6 and time.monotonic() - t0 < 60
    # a shard with timed-out videos is kept under the same budget, redone under a larger one
    assert shards.verify(tmp_path / "k.h5", unit, 3.0)[0] == result
    assert "timed out under 3.0 s" in shards.verify(tmp_path / "k.h5", unit, 10.0)[1]


def digests(root):
    with h5py.File(root / "data/segments.h5", "r") as f:
        return f["digest"][:], f["video_id"].asstr()[:]


def test_damaged_shards_are_reported_and_redone_intact_ones_kept(project, tmp_path, monkeypatch):
    root = tmp_path / "p"
    shutil.copytree(project, root, symlinks=True)
    before = digests(root)
    first, second, third = (root / "data/segments" / u.shard for u in units_of(root))
    first.write_bytes(first.read_bytes()[: first.stat().st_size // 2])      # truncated
    with h5py.File(second, "r") as f:                                       # a frames chunk
        chunk = f["frames"].id.get_chunk_info(1)                            # corrupted
    data = bytearray(second.read_bytes())
    at = chunk.byte_offset + chunk.size // 2
    data[at: at + 16] = bytes(b ^ 0xFF for b in data[at: at + 16])
    second.write_bytes(bytes(data))
    (root / "data/segments/abc.h5.tmp").write_bytes(b"half")                # a write cut off
    monkeypatch.chdir(root)
    decode.main()
    shard_report = json.loads((root / "reports/ingest.json").read_text())["decode"]["shards"]
    assert [r["shard"] for r in shard_report["redone"]] == [str(p.relative_to(root)) for p in (first, second)]
    assert "unreadable" in shard_report["redone"][0]["reason"]
    assert any(w in shard_report["redone"][1]["reason"] for w in ("unreadable", "digest"))
    assert shard_report["kept"] == 1 and shard_report["unfinished_removed"] == 1
    after = digests(root)
    assert np.array_equal(after[0], before[0]) and list(after[1]) == list(before[1])


def test_a_hard_kill_mid_write_resumes_keeping_finished_shards(project, tmp_path):
    root = tmp_path / "p"
    shutil.copytree(project, root, symlinks=True)
    before = digests(root)
    shutil.rmtree(root / "data/segments")
    (root / "data/segments.h5").unlink()
    write_params(root, unit_videos=1, workers=1)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-m", "stages.decode"], cwd=root, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    folder = root / "data/segments"
    deadline = time.monotonic() + 120
    while not (list(folder.glob("*.h5")) and list(folder.glob("*.tmp"))):
        assert proc.poll() is None and time.monotonic() < deadline, "decode ended before the kill"
        time.sleep(0.01)
    children = psutil.Process(proc.pid).children(recursive=True)
    proc.send_signal(signal.SIGKILL)                                        # mid-write
    proc.wait()
    gone, alive = psutil.wait_procs(children, timeout=10)
    assert not alive, "processes of the killed stage live on"
    finished = {p.name for p in folder.glob("*.h5")}
    assert finished and len(finished) < 5
    proc = subprocess.run([sys.executable, "-m", "stages.decode"], cwd=root, env=env,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    shard_report = json.loads((root / "reports/ingest.json").read_text())["decode"]["shards"]
    assert shard_report["kept"] == len(finished) and shard_report["unfinished_removed"] >= 1
    after = digests(root)
    assert np.array_equal(after[0], before[0]) and list(after[1]) == list(before[1])
