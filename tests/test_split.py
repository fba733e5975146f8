from collections import Counter

import numpy as np
import pytest
import yaml

from mvclr.data.index import write_index
from mvclr.data.split import read_split, split_of, split_videos
from mvclr.features.paired import PairedStores
from stages import split as split_stage


def rows_for(genres: dict[str, int]) -> list[dict]:
    return [{"video_id": f"{g}{i}", "genre": g, "status": "ok"}
            for g, n in genres.items() for i in range(n)]


def test_split_is_by_video_sized_stratified_and_seeded():
    rows = rows_for({"rock": 20, "jazz": 10, "pop": 30}) + [
        {"video_id": "bad", "genre": "rock", "status": "skipped"}]
    split = split_videos(rows, [0.8, 0.1, 0.1], seed=0)
    assert "bad" not in split and len(split) == 60
    assert Counter(split.values()) == {"train": 48, "val": 6, "test": 6}
    for genre, n in {"rock": 20, "jazz": 10, "pop": 30}.items():
        per = Counter(s for v, s in split.items() if v.startswith(genre))
        assert per == {"train": 0.8 * n, "val": 0.1 * n, "test": 0.1 * n}
    assert split == split_videos(rows, [0.8, 0.1, 0.1], seed=0)
    assert split != split_videos(rows, [0.8, 0.1, 0.1], seed=1)


def test_split_with_classes_too_small_to_stratify():
    rows = rows_for({"a": 1, "b": 2, "c": 3, "": 7})       # 13 videos, empty genre included
    split = split_videos(rows, [0.8, 0.1, 0.1], seed=5)
    assert len(split) == 13
    assert Counter(split.values()) == {"train": 11, "val": 1, "test": 1}
    with pytest.raises(ValueError):
        split_videos(rows, [0.8, 0.1], seed=0)


def test_split_stage_writes_data_split_csv(tmp_path, monkeypatch):
    rows = [{**r, "path": f"{r['video_id']}.mp4", "tags": [], "duration": 30.0, "reason": ""}
            for r in rows_for({"rock": 6, "jazz": 4})]
    rows.insert(3, {"video_id": "bad", "path": "bad.mp4", "genre": "rock", "tags": [],
                    "duration": None, "status": "skipped", "reason": "truncated"})
    write_index(rows, tmp_path / "data/index.csv")
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({"seed": 3, "data": {"split": [0.6, 0.2, 0.2]}}))
    monkeypatch.chdir(tmp_path)
    split_stage.main()
    written = read_split(tmp_path / "data/split.csv")
    assert list(written) == [r["video_id"] for r in rows if r["status"] == "ok"]   # index order
    assert written == split_videos(rows, [0.6, 0.2, 0.2], seed=3)
    assert list(split_of(np.array(["rock0", "rock0", "jazz1"]), tmp_path / "data/split.csv")) == \
        [written["rock0"], written["rock0"], written["jazz1"]]
    with pytest.raises(ValueError, match="no split for video 'bad'"):
        split_of(np.array(["rock0", "bad"]), tmp_path / "data/split.csv")


def test_the_paired_stores_take_the_split_from_data_split_csv(tmp_path):
    from fixtures_eval import make_workspace
    make_workspace(tmp_path, n_videos=10)
    layout = PairedStores(tmp_path).layout
    split = read_split(tmp_path / "data/split.csv")
    assert list(layout.split) == [split[v] for v in layout.ids]
    (tmp_path / "data/split.csv").write_text("video_id,split\nv000,train\n")
    with pytest.raises(ValueError, match=r"split.csv has no split for videos \['v001'"):
        PairedStores(tmp_path)
