from collections import Counter

import pytest
import yaml
from make_media import write_dataset

from mvclr.data import index, ingest
from stages import prepare

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
    with pytest.raises(ValueError, match="video_id, path"):
        ingest.read_metadata(tmp_path)
    with pytest.raises(FileNotFoundError, match="metadata.csv"):
        ingest.read_metadata(tmp_path / "nowhere")


def run_prepare(monkeypatch, root, source, min_videos):
    params = {"seed": 0, "data": {"source": str(source), "split": [0.8, 0.1, 0.1],
                                  "min_videos": min_videos},
              "decode": {"segment_seconds": SEG, "timeout_seconds": 60}}
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    monkeypatch.chdir(root)
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
