import numpy as np
import pytest

from mvclr.features import store as fs
from mvclr.features.filling import fill


def spec_attrs(fingerprint="a", **extra):
    return {"fingerprint": fingerprint, "backbone": "fake", "weights": "none", "device": "cpu",
            **extra}


def open_store(path, rows=10, dim=3, block_rows=4, fingerprint="a", fresh=True, **extra):
    return fs.FeatureStore.open(path, rows=rows, dim=dim, block_rows=block_rows,
                                attrs=spec_attrs(fingerprint, **extra), fresh_if_changed=fresh)


def values(rows: slice, dim=3) -> np.ndarray:
    """A row's values identify the row, so misplaced rows show."""
    r = np.arange(rows.start, rows.stop, dtype=np.float32)[:, None]
    return r * 10 + np.arange(dim, dtype=np.float32)


def fill_all(store, blocks=None, batch_size=3, log=None):
    def read(rows):
        if log is not None:
            log.append((rows.start, rows.stop))
        return rows
    return fill(store, store.missing() if blocks is None else blocks, read,
                   lambda rows: rows, lambda rows: values(rows, store.dim), batch_size)


def test_fingerprint_is_stable_and_sensitive():
    a = fs.fingerprint({"model": "MTT_musicnn", "layers": ["max_pool", "mean_pool"], "w": 3.0})
    b = fs.fingerprint({"w": 3.0, "layers": ["max_pool", "mean_pool"], "model": "MTT_musicnn"})
    c = fs.fingerprint({"model": "MTT_musicnn", "layers": ["mean_pool", "max_pool"], "w": 3.0})
    assert a == b != c


def test_parse_shard():
    assert fs.parse_shard(None) == (1, 1)
    assert fs.parse_shard("2/4") == (2, 4)
    for bad in ("0/4", "5/4", "2", "a/b"):
        with pytest.raises(ValueError, match="--shard"):
            fs.parse_shard(bad)


def test_layout_chunks_attrs_and_roundtrip(tmp_path):
    store = open_store(tmp_path / "f.zarr", rows=10, dim=3, block_rows=4, layers=["max_pool"])
    assert store.n_blocks == 3
    assert store.features.chunks == (4, 3) and store.features.dtype == np.float32
    assert [store.block(b) for b in range(3)] == [slice(0, 4), slice(4, 8), slice(8, 10)]
    assert fill_all(store) == 10
    np.testing.assert_array_equal(fs.load(tmp_path / "f.zarr"), values(slice(0, 10)))
    attrs = fs.attrs(tmp_path / "f.zarr")
    assert attrs["fingerprint"] == "a" and attrs["layers"] == ["max_pool"]
    assert attrs["devices"] == ["cpu"] and attrs["rows"] == 10 and attrs["block_rows"] == 4
    # one data chunk and one marker per block: a store's file count grows with blocks only
    chunk_files = [p for p in (tmp_path / "f.zarr").rglob("*") if p.is_file()
                   and p.name != "zarr.json"]
    assert len(chunk_files) == 2 * store.n_blocks


def test_load_refuses_incomplete_or_misaligned_stores(tmp_path):
    store = open_store(tmp_path / "f.zarr")
    fill_all(store, blocks=[0, 2])
    with pytest.raises(RuntimeError, match="1 of 3 blocks missing"):
        fs.load(tmp_path / "f.zarr")
    fill_all(store)
    assert fs.load(tmp_path / "f.zarr", rows=10).shape == (10, 3)
    with pytest.raises(ValueError, match="has 10 rows but the segment store has 12"):
        fs.load(tmp_path / "f.zarr", rows=12)
    with pytest.raises(FileNotFoundError, match="no feature store"):
        fs.load(tmp_path / "absent.zarr")


def test_shards_are_disjoint_and_cover_all_blocks(tmp_path):
    store = open_store(tmp_path / "f.zarr", rows=50, block_rows=4)   # 13 blocks
    parts = [store.missing((i, 3)) for i in (1, 2, 3)]
    assert sorted(sum(parts, [])) == list(range(13))
    assert not set(parts[0]) & set(parts[1]) and not set(parts[1]) & set(parts[2])
    # workers on their own: each fills its blocks; together they complete the store
    for i in (3, 1, 2):
        worker = open_store(tmp_path / "f.zarr", rows=50, block_rows=4, fresh=False)
        fill_all(worker, blocks=worker.missing((i, 3)))
    np.testing.assert_array_equal(fs.load(tmp_path / "f.zarr"), values(slice(0, 50)))


def test_interrupted_fill_resumes_with_only_missing_blocks(tmp_path):
    store = open_store(tmp_path / "f.zarr", rows=10, block_rows=4)
    calls = {"n": 0}

    def failing_forward(rows):
        calls["n"] += 1
        if calls["n"] == 3:           # the first batch of block 1 has been computed: fail mid-block
            raise KeyboardInterrupt
        return values(rows)

    with pytest.raises(KeyboardInterrupt):
        fill(store, store.missing(), lambda r: r, lambda r: r, failing_forward, batch_size=2)
    reopened = open_store(tmp_path / "f.zarr", rows=10, block_rows=4)
    assert reopened.completed().tolist() == [True, False, False]
    log = []
    assert fill_all(reopened, batch_size=2, log=log) == 6
    assert log == [(4, 6), (6, 8), (8, 10)]
    np.testing.assert_array_equal(fs.load(tmp_path / "f.zarr"), values(slice(0, 10)))


def test_reader_errors_reach_the_caller_and_leave_done_blocks(tmp_path):
    store = open_store(tmp_path / "f.zarr", rows=10, block_rows=4)

    def read(rows):
        if rows.start >= 4:
            raise OSError("unreadable segment")
        return rows

    with pytest.raises(OSError, match="unreadable segment"):
        fill(store, store.missing(), read, lambda r: r, values, batch_size=4)
    assert store.completed().tolist() == [True, False, False]


def test_changed_fingerprint_or_length_starts_afresh_but_not_for_a_shard_worker(tmp_path, capsys):
    path = tmp_path / "f.zarr"
    fill_all(open_store(path, rows=10, fingerprint="a"))
    with pytest.raises(ValueError, match="other settings.*does not wipe"):
        open_store(path, rows=10, fingerprint="b", fresh=False)
    with pytest.raises(ValueError, match="has 10 rows but the segment store has 12 segments"):
        open_store(path, rows=12, fingerprint="a", fresh=False)
    assert open_store(path, rows=10, fingerprint="a").missing() == []   # unchanged: resumes
    store = open_store(path, rows=12, fingerprint="a")
    assert "has 10 rows but the segment store has 12 segments: starting afresh" in capsys.readouterr().out
    assert store.rows == 12 and store.missing() == [0, 1, 2]
    store = open_store(path, rows=12, fingerprint="b")
    assert fs.attrs(path)["fingerprint"] == "b" and store.missing() == [0, 1, 2]


def test_reopen_drops_partial_files_and_records_new_devices(tmp_path):
    path = tmp_path / "f.zarr"
    fill_all(open_store(path), blocks=[0])
    debris = path / "features" / "c" / "1" / "0.1234abcd.partial"     # a write killed mid-way
    debris.parent.mkdir(parents=True, exist_ok=True)
    debris.write_bytes(b"\x00" * 5)
    store = fs.FeatureStore.open(path, rows=10, dim=3, block_rows=4,
                                 attrs={**spec_attrs(), "device": "cuda (H100)"})
    assert not debris.exists() and store.missing() == [1, 2]
    assert fs.attrs(path)["devices"] == ["cpu", "cuda (H100)"]


def test_refuses_to_delete_a_folder_that_is_not_a_store(tmp_path):
    (tmp_path / "features").mkdir()
    (tmp_path / "features" / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not a feature store"):
        open_store(tmp_path / "features")
    assert (tmp_path / "features" / "notes.txt").exists()


def test_write_checks_block_shape(tmp_path):
    store = open_store(tmp_path / "f.zarr")
    with pytest.raises(ValueError, match="block 2 needs shape"):
        store.write(2, np.zeros((4, 3), np.float32))
