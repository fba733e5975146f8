import hashlib
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import yaml
from make_media import write_dataset, write_media

from mvclr.data import index, ingest, media, metadata, scan, supervise
from mvclr.data.memo import Memo
from stages import prepare, scan as scan_stage

REPO = Path(__file__).resolve().parents[1]

SEG = 2.0
GOOD = [
    ("a.mp4", 7.0, dict(sample_rate=44100, channels=2, fps=24)),
    ("b.webm", 6.5, dict(sample_rate=48000, channels=1, fps=25)),
    ("c.mkv", 8.0, dict(sample_rate=22050, channels=2, fps=30000 / 1001)),
    ("d.mkv", 3.0, dict(sample_rate=32000, channels=1, fps=12, acodec="pcm_s16le")),
]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ingest") / "data" / "src"
    return folder, write_dataset(folder, GOOD, segment_seconds=SEG)


def test_every_row_gets_a_status_and_reason(dataset):
    folder, expected = dataset
    rows = ingest.build_index(folder, SEG)
    assert len(rows) == len(GOOD) + 7 + 2          # one row per metadata row
    by_id = {r["video_id"]: r for r in rows if r["reason"] != ingest.DUPLICATE_ID}
    for vid, reason in expected.items():
        assert by_id[vid]["reason"] == reason, (vid, by_id[vid]["detail"])
        assert by_id[vid]["status"] == ("ok" if not reason else "skipped")
    # the duplicate is the second row of its id; the first one stands
    dup = [r for r in rows if r["reason"] == ingest.DUPLICATE_ID]
    assert [r["video_id"] for r in dup] == ["a"] and by_id["a"]["status"] == "ok"
    # every usable file is processed in full: duration probed
    for name, seconds, _ in GOOD:
        row = by_id[name.split(".")[0]]
        assert row["duration"] == pytest.approx(seconds, abs=0.05) and row["tags"]
    report = index.summary(rows)
    assert report["status"] == {"ok": len(GOOD), "skipped": 9}
    assert report["reasons"]["duplicate id"] == 1 and report["reasons"]["malformed row"] == 1
    assert {s["video_id"] for s in report["skipped"]} >= {v for v, r in expected.items() if r}
    # a video that fails in decode ends skipped too, with decode's reason
    report = index.summary(rows, [{"video_id": "b", "reason": "timed out", "detail": "300 s"}])
    assert report["status"] == {"ok": len(GOOD) - 1, "skipped": 10}
    assert {"video_id": "b", "path": "b.webm", "line": 3, "stage": "decode", "reason": "timed out",
            "detail": "300 s"} in report["skipped"]


def test_index_round_trip(dataset, tmp_path):
    folder, _ = dataset
    rows = ingest.build_index(folder, SEG)
    index.write_index(rows, tmp_path / "index.csv")
    back = index.read_index(tmp_path / "index.csv")
    assert [r["video_id"] for r in back] == [r["video_id"] for r in rows]
    assert back[0]["tags"] == ["tag0", "both"] and isinstance(back[0]["duration"], float)
    assert all(isinstance(r["tags"], list) for r in back)
    assert [(r["detail"], r["line"]) for r in back] == [(r["detail"], r["line"]) for r in rows]
    assert list(back[0]) == list(index.INDEX_COLUMNS)


def test_metadata_without_required_columns(tmp_path):
    (tmp_path / "metadata.csv").write_text("id,file\nx,x.mp4\n")
    with pytest.raises(metadata.MetadataError, match="video_id, path"):
        metadata.read_metadata(tmp_path)
    with pytest.raises(metadata.MetadataError, match="metadata.csv: no such file"):
        metadata.read_metadata(tmp_path / "nowhere")


def test_metadata_not_utf8_names_the_line_and_byte(tmp_path):
    (tmp_path / "metadata.csv").write_bytes(
        "video_id,path,genre,tags\na,a.mp4,rock,\nb,caf\u00e9.mp4,jazz,\n".encode("latin-1"))
    with pytest.raises(metadata.MetadataError) as e:
        metadata.read_metadata(tmp_path)
    assert str(e.value) == (f"{tmp_path / 'metadata.csv'} line 3: not UTF-8 "
                            "(byte 0xe9 at position 6)")


def test_a_nul_byte_in_a_path_is_a_malformed_row(tmp_path):
    (tmp_path / "metadata.csv").write_text("video_id,path,genre,tags\na,a\0.mp4,rock,\n")
    [row] = metadata.read_metadata(tmp_path).rows
    assert (row["reason"], row["detail"]) == ("malformed row", "line 2: a NUL byte in path")


def write_params(root, source, min_videos):
    params = {"seed": 0, "data": {"source": str(source), "split": [0.8, 0.1, 0.1],
                                  "min_videos": min_videos},
              "decode": {"segment_seconds": SEG, "timeout_seconds": 60}}
    (root / "params.yaml").write_text(yaml.safe_dump(params))


def run_prepare(monkeypatch, root, source, min_videos):
    """Stages scan and prepare, as `dvc repro prepare` runs them, in `root`."""
    write_params(root, source, min_videos)
    monkeypatch.chdir(root)
    scan_stage.main()
    prepare.main()


def test_prepare_stage_writes_the_index(dataset, monkeypatch):
    folder, expected = dataset
    root = folder.parent.parent
    run_prepare(monkeypatch, root, "data/src", min_videos=len(GOOD))
    rows = index.read_index(root / "data/index.csv")
    assert Counter(r["status"] for r in rows) == {"ok": len(GOOD), "skipped": 9}
    assert Counter(r["reason"] for r in rows)["truncated"] == 1
    assert "split" not in rows[0]


def test_prepare_fails_clearly_when_too_few_videos(dataset, monkeypatch):
    folder, _ = dataset
    with pytest.raises(SystemExit, match=r"only 4 usable video\(s\).*min_videos = 5"):
        run_prepare(monkeypatch, folder.parent.parent, "data/src", min_videos=5)


def test_the_index_carries_the_scans_fingerprints(dataset, monkeypatch):
    folder, _ = dataset
    root = folder.parent.parent
    run_prepare(monkeypatch, root, "data/src", min_videos=len(GOOD))
    files = {f["line"]: f for f in scan.read_files(root / "data/files.csv")}
    rows = index.read_index(root / "data/index.csv")
    columns = list(index.INDEX_COLUMNS)
    assert columns.index("fingerprint") == columns.index("duration") + 1
    for r in rows:
        assert r["fingerprint"] == files[r["line"]]["fingerprint"]
        if r["status"] == "ok":
            assert len(r["fingerprint"]) == 32
    content = (folder / rows[0]["path"]).read_bytes()
    assert rows[0]["fingerprint"] == hashlib.blake2b(content, digest_size=16).hexdigest()


def test_each_content_is_probed_once(tmp_path, monkeypatch, capsys):
    """A second run, a copied file and a metadata edit probe nothing; a new file is probed
    alone; a run with nothing to probe starts no probe process."""
    source = tmp_path / "data/src"
    write_dataset(source, GOOD[:2], bad=False, segment_seconds=SEG)
    run_prepare(monkeypatch, tmp_path, "data/src", min_videos=1)
    assert "2 file(s) probed" in capsys.readouterr().out
    first = (tmp_path / "data/index.csv").read_bytes()

    def no_child(self):
        raise AssertionError("a probe process was started")
    monkeypatch.setattr(supervise.Supervised, "_start", no_child)
    run_prepare(monkeypatch, tmp_path, "data/src", min_videos=1)
    assert "0 file(s) probed" in capsys.readouterr().out
    assert (tmp_path / "data/index.csv").read_bytes() == first

    (source / "copy.mp4").write_bytes((source / "a.mp4").read_bytes())
    with open(source / "metadata.csv", "a") as f:
        f.write("copy,copy.mp4,pop,edited\n")
    run_prepare(monkeypatch, tmp_path, "data/src", min_videos=1)
    assert "0 file(s) probed" in capsys.readouterr().out
    rows = index.read_index(tmp_path / "data/index.csv")
    assert rows[-1]["status"] == "ok" and rows[-1]["fingerprint"] == rows[0]["fingerprint"]

    monkeypatch.undo()
    write_media(source / "new.mkv", 5.0)
    with open(source / "metadata.csv", "a") as f:
        f.write("new,new.mkv,pop,\n")
    run_prepare(monkeypatch, tmp_path, "data/src", min_videos=1)
    assert "1 file(s) probed" in capsys.readouterr().out


def test_outcomes_of_the_run_are_not_remembered(tmp_path):
    """A MediaError is the file's (remembered); a timeout or a crash is the run's (not)."""
    calls = []

    def probe(path):
        calls.append(path)
        if path.name == "slow.mp4":
            raise supervise.TimedOut(media.TIMED_OUT, "no result within 1 s")
        raise media.MediaError(path, media.UNREADABLE, "junk")

    with Memo(tmp_path / "probes.sqlite", "v1") as memo:
        probes = ingest.Probes(probe, memo)
        for _ in range(2):
            assert probes.outcome(tmp_path / "junk.mp4", "f1") == (None, media.UNREADABLE, "junk")
            with pytest.raises(supervise.TimedOut):
                probes.outcome(tmp_path / "slow.mp4", "f2")
    assert [p.name for p in calls] == ["junk.mp4", "slow.mp4", "slow.mp4"]
    with Memo(tmp_path / "probes.sqlite", "v1") as memo:
        assert memo.load() == {"f1": f"{media.UNREADABLE}\tjunk"}
        assert ingest.Probes(lambda path: media.Probe(6.25, *[None] * 9), memo).outcome(
            "new.mp4", "f3") == (6.25, "", "")
        assert memo.load()["f3"] == "6.25"
    with Memo(tmp_path / "probes.sqlite", "v2") as memo:
        assert memo.load() == {}                         # another probing code: probed again


def test_a_missing_genre_column_is_said_once(tmp_path, monkeypatch, capsys):
    source = tmp_path / "data/src"
    write_dataset(source, GOOD[:2], bad=False, segment_seconds=SEG)
    text = (source / "metadata.csv").read_text().splitlines()
    (source / "metadata.csv").write_text("\n".join(
        ",".join(f for i, f in enumerate(line.split(",")) if i != 2) for line in text) + "\n")
    run_prepare(monkeypatch, tmp_path, "data/src", min_videos=1)
    err = capsys.readouterr().err
    assert err.count("no genre column") == 1 and "genre probes will be skipped" in err
    assert all(r["genre"] == "" for r in index.read_index(tmp_path / "data/index.csv"))


@pytest.mark.parametrize("stage", ["scan", "prepare"])
def test_errors_on_purpose_are_one_line_without_traceback(tmp_path, stage):
    source = tmp_path / "data/src"
    source.mkdir(parents=True)
    (source / "metadata.csv").write_bytes(b"video_id,path,genre,tags\nb,caf\xe9.mp4,,\n")
    write_params(tmp_path, "data/src", min_videos=1)
    done = subprocess.run([sys.executable, "-m", f"stages.{stage}"], cwd=tmp_path,
                          capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"{stage}: data/src/metadata.csv line 2: not UTF-8 (byte 0xe9 at position 6)"]


def test_a_files_table_of_other_rows_is_refused(dataset, monkeypatch):
    folder, _ = dataset
    root = folder.parent.parent
    run_prepare(monkeypatch, root, "data/src", min_videos=1)
    meta = folder / "metadata.csv"
    text = meta.read_text()
    try:
        meta.write_text(text + "late,a.mp4,rock,\n")
        with pytest.raises(SystemExit, match=r"data/files.csv lists 13 rows, metadata.csv has 14; "
                                             r"run `dvc repro scan`"):
            prepare.main()
    finally:
        meta.write_text(text)
