import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import h5py
import numpy as np
import psutil
import pytest
import yaml
from make_media import MAX_LAG, audio_lag, read_pattern, shown_frames, write_dataset, write_media

from mvclr.data import decoding, media, reader, segment_store, shards
from mvclr.data.index import read_index
from mvclr.data.layout import Layout
from mvclr.data.sampling import segment_starts, video_rng
from mvclr.data.segment_store import read_meta, row_digest
from mvclr.features.windows import window_info, window_reader
from stages import decode, prepare, scan

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
        scan.main()
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
    jobs = [j for u in units for j in u.jobs]
    assert [j.video_id for j in jobs] == ["a", "b", "c", "d", "e"]            # index order
    duration = {r["video_id"]: r["duration"] for r in read_index(project / "data/index.csv")
                if r["status"] == "ok"}
    for j in jobs:
        assert j.starts == tuple(segment_starts(duration[j.video_id], 3, 2.0, video_rng(SEED, j.video_id)))
    code = decoding.code_digest()
    for u in units:       # a shard ends after a video whose key says so, or at the cap
        assert list(u.videos) == [decoding.video_key(j, LAYOUT, code) for j in u.jobs]
        assert not any(int(k[:12], 16) % 2 == 0 for k in u.videos[:-1])
        assert 1 <= len(u.jobs) <= decoding.MAX_FACTOR * 2
    assert len({u.key for u in units}) == len(units)
    assert [u.key for u in units_of(project)] == [u.key for u in units]     # reproducible
    other = decoding.plan(jobs, Layout(**{**LAYOUT.attrs(), "window_frames": 4}), 2)
    assert not {u.key for u in other} & {u.key for u in units}               # layout in the key
    # the keys follow content and id, never the path or the row
    moved = [replace(j, path=f"x/{j.path}", file=f"/elsewhere/{j.file}") for j in jobs]
    assert [u.key for u in decoding.plan(moved, LAYOUT, 2)] == [u.key for u in units]


def synthetic_jobs(n, seed=0):
    rng = np.random.default_rng(seed)
    return [decoding.Job(f"v{i}", f"v{i}.mp4", f"/c/v{i}.mp4", f"{rng.integers(2 ** 62):032x}",
                         (0.0, 2.0)) for i in range(n)]


@pytest.mark.parametrize("change", ["insert", "remove", "refingerprint"])
def test_a_change_renews_at_most_the_two_shards_around_it(change):
    jobs = synthetic_jobs(400)
    before = decoding.plan(jobs, LAYOUT, 4)
    for at in (0, 137, 399):
        if change == "insert":
            changed = jobs[:at] + synthetic_jobs(1, seed=9) + jobs[at:]
        elif change == "remove":
            changed = jobs[:at] + jobs[at + 1:]
        else:
            changed = jobs[:at] + [replace(jobs[at], fingerprint="f" * 32)] + jobs[at + 1:]
        after = decoding.plan(changed, LAYOUT, 4)
        new, gone = {u.key for u in after} - {u.key for u in before}, {u.key for u in before} - {u.key for u in after}
        assert 1 <= len(new) <= 2 and len(gone) <= 2, (change, at)
        assert sum(len(u.jobs) for u in after if u.key in new) <= 2 * decoding.MAX_FACTOR * 4


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
    assert report["decode"]["segments"] == 3 * 4 + 2
    assert report["decode"]["shards"]["units"] == len(units_of(project))


def test_the_store_moves_with_its_folder_and_misses_no_shard_silently(project, tmp_path, monkeypatch):
    shutil.copytree(project / "data", tmp_path / "moved", ignore=shutil.ignore_patterns("src"))
    monkeypatch.chdir(REPO)
    with h5py.File(tmp_path / "moved/segments.h5", "r") as f, \
            h5py.File(project / "data/segments.h5", "r") as g:
        assert np.array_equal(f["frames"][-1], g["frames"][-1])
    next((tmp_path / "moved/segments").iterdir()).unlink()
    with h5py.File(tmp_path / "moved/segments.h5", "r") as f, \
            pytest.raises(FileNotFoundError, match=f"1 of its {len(units_of(project))} shard files are missing"):
        window_reader(f, "audio", PARAMS)


def recorded(result):
    """What a shard records of the run that wrote it (not how many videos it copied)."""
    return result.key, result.shard, result.rows, result.failed


def test_a_failing_video_costs_no_other_segments(project, tmp_path):
    jobs = [j for u in units_of(project) for j in u.jobs]
    broken = tmp_path / "broken.mp4"                  # passed prepare, then was cut short
    data = Path(jobs[0].file).read_bytes()
    broken.write_bytes(data[: len(data) // 2])
    unit = decoding.Unit(0, "k", (decoding.Job("a", "a.mp4", str(broken), "f" * 32, jobs[0].starts),
                                  jobs[1]), ("ka", "kb"), LAYOUT)
    result = decoding.decode_unit(unit, tmp_path, 60)
    assert [(f["video_id"], f["reason"]) for f in result.failed] == [("a", media.UNREADABLE)]
    assert result.rows == 3 and [p.name for p in tmp_path.glob("*.h5")] == ["k.h5"]
    assert recorded(shards.verify(tmp_path / "k.h5", unit, 60)[0]) == recorded(result)


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
    good = [j for u in units_of(project) for j in u.jobs]
    starts = (0.5, 3.0, 5.5)
    unit = decoding.Unit(0, "k", (good[0], decoding.Job("s", "slow.mp4", str(slow), "s" * 32, starts),
                                  good[1]), ("k0", "ks", "k1"), LAYOUT)
    stopped = []
    suspend_when_opened(slow, stopped)
    t0 = time.monotonic()
    result = decoding.decode_unit(unit, tmp_path, 3.0)
    assert stopped and not psutil.pid_exists(stopped[0])      # killed, not leaked
    assert [(f["video_id"], f["reason"]) for f in result.failed] == [("s", media.TIMED_OUT)]
    assert result.rows == 6 and time.monotonic() - t0 < 60
    # a shard with timed-out videos is kept under the same budget, redone under a larger one
    assert recorded(shards.verify(tmp_path / "k.h5", unit, 3.0)[0]) == recorded(result)
    assert "timed out under 3.0 s" in shards.verify(tmp_path / "k.h5", unit, 10.0)[1]


def digests(root):
    with h5py.File(root / "data/segments.h5", "r") as f:
        return f["digest"][:], f["video_id"].asstr()[:]


def test_damaged_shards_are_reported_and_redone_intact_ones_kept(project, tmp_path, monkeypatch):
    root = tmp_path / "p"
    shutil.copytree(project, root, symlinks=True)
    before = digests(root)
    units = units_of(root)
    assert len(units) >= 2
    first, second = (root / "data/segments" / u.shard for u in units[:2])
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
    assert shard_report["kept"] == len(units) - 2 and shard_report["unfinished_removed"] == 1
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


# ---- a living catalogue: shards addressed by content ----

def rerun(root, monkeypatch):
    """The front door and decode, as `dvc repro` runs them; decode's report."""
    monkeypatch.chdir(root)
    scan.main()
    prepare.main()
    decode.main()
    return json.loads((root / "reports/ingest.json").read_text())["decode"]


def store_bytes(root):
    return (root / "data/segments.h5").read_bytes()


def rows_by_video(root):
    """{video_id: (digests of its segments)} of the segment store."""
    d, ids = digests(root)
    out = {}
    for vid, row in zip(ids, d):
        out.setdefault(str(vid), []).append(bytes(row))
    return out


class CountingBackbone:
    """A stand-in video backbone: each segment's mean colour; counts the segments it sees."""
    dim, batch_size, seen = 3, 4, 0

    def info(self):
        return {"backbone": "counting", "weights": "none", "device": "cpu", "versions": {}}

    def prepare(self, frames):
        return frames

    def forward(self, frames):
        self.seen += len(frames)
        return frames.reshape(len(frames), -1, 3).mean(axis=1).astype(np.float32)


def embed_counting(root):
    from mvclr.features.embedding import embed
    backbone = CountingBackbone()
    params = {**PARAMS, "features": {"block_rows": 4, "video": {"frames": 3}}}
    summary = embed("video", backbone, params, root / "data/segments.h5",
                    root / "features/video.zarr", progress=False)
    return backbone.seen, summary["copied"]


def test_a_new_video_at_the_top_decodes_and_embeds_exactly_that_video(project, tmp_path, monkeypatch):
    root = tmp_path / "p"
    shutil.copytree(project, root, symlinks=True)
    before = rows_by_video(root)
    assert embed_counting(root) == (sum(map(len, before.values())), 0)
    src = root / "data/src"
    shutil.copy(src / "c.mkv", src / "new.mkv")           # a copy of a file, under a new id
    header, *rows = (src / "metadata.csv").read_text().splitlines()
    (src / "metadata.csv").write_text("\n".join([header, "new,new.mkv,rock,", *rows]) + "\n")
    report = rerun(root, monkeypatch)
    assert report["decoded_videos"] == 1 and report["videos"] == len(GOOD) + 1
    after = rows_by_video(root)
    assert {v: after[v] for v in before} == before and list(after)[0] == "new"
    assert after["new"] != after["c"]                      # its own windows (its id seeds them)
    assert embed_counting(root) == (len(after["new"]), sum(map(len, before.values())))
    # nothing changed since: nothing decoded, nothing copied, the same bytes
    again = store_bytes(root)
    report = rerun(root, monkeypatch)
    assert report["decoded_videos"] == report["copied_videos"] == 0
    assert report["shards"]["written"] == 0 and store_bytes(root) == again


def test_removing_reordering_or_copying_decodes_nothing(project, tmp_path, monkeypatch):
    root = tmp_path / "p"
    shutil.copytree(project, root, symlinks=True)
    before = rows_by_video(root)
    src = root / "data/src"
    header, *rows = (src / "metadata.csv").read_text().splitlines()
    kept = [r for r in rows[::-1] if not r.startswith("b,")]          # reversed, b removed
    (src / "metadata.csv").write_text("\n".join([header, *kept]) + "\n")
    report = rerun(root, monkeypatch)
    assert report["decoded_videos"] == 0 and report["videos"] == len(GOOD) - 1
    assert rows_by_video(root) == {v: before[v] for v in reversed(before) if v != "b"}
    assert list(rows_by_video(root)) != [v for v in before if v != "b"]     # reordered
    # the whole project copied (every file gets a new mtime, the catalogue a new path)
    copy = tmp_path / "copy"
    shutil.copytree(root, copy, symlinks=True, copy_function=shutil.copy)
    shutil.rmtree(copy / "cache", ignore_errors=True)      # not even the local memos come along
    report = rerun(copy, monkeypatch)
    assert report["decoded_videos"] == report["copied_videos"] == 0
    assert store_bytes(copy) == store_bytes(root)


def test_a_verified_shard_is_read_again_only_when_its_file_changes(project, tmp_path, monkeypatch):
    root = tmp_path / "p"
    shutil.copytree(project, root, symlinks=True)
    rerun(root, monkeypatch)                               # verifies every shard, remembers them
    checked = []
    real = segment_store.row_digest
    monkeypatch.setattr(segment_store, "row_digest", lambda *a: checked.append(1) or real(*a))
    assert rerun(root, monkeypatch)["shards"]["kept"] == len(units_of(root))
    assert checked == []
    shard = root / "data/segments" / units_of(root)[0].shard
    shard.write_bytes(shard.read_bytes())                  # same bytes, another file
    assert rerun(root, monkeypatch)["shards"]["kept"] == len(units_of(root))
    assert len(checked) == sum(len(j.starts) for j in units_of(root)[0].jobs)


def test_the_code_digest_follows_behaviour_not_documentation():
    from mvclr.data.code_digest import behaviour
    base = 'def f(x):\n    """Doc."""\n    return x + 1  # one\n'
    same = 'def f(x):\n    """Another doc,\n    longer."""\n    # a comment\n    return x + 1\n'
    assert behaviour(base) == behaviour(same) == behaviour('def f(x):\n    return (x + 1)\n')
    assert behaviour(base) != behaviour(base.replace("x + 1", "x + 2"))
    assert behaviour('"""Module."""\nA = 1\n') == behaviour("A = 1\n") != behaviour("A = 2\n")
