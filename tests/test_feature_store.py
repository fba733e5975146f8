import hashlib

import numpy as np
import pytest

from mvclr.features import reuse, store as fs
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


def digests(store, version=0):
    """Block input digests: every block's inputs, as of `version`."""
    rows = np.zeros((store.rows, 16), np.uint8)
    rows[:, 0] = version
    return fs.block_digests("spec", rows, store.block_rows)


def tasks(store, blocks: dict) -> dict:
    """Every row of `blocks` ({block: digest}) to compute."""
    return {b: fs.Task(d, np.zeros((len(range(*store.block(b).indices(store.rows))), 16), np.uint8),
                       np.arange(store.block(b).start, store.block(b).stop))
            for b, d in blocks.items()}


def fill_all(store, blocks=None, batch_size=3, log=None, version=0):
    def read(rows):
        if log is not None:
            log.append((rows.start, rows.stop))
        return rows
    d = digests(store, version)
    work = store.missing(d) if blocks is None else {b: d[b] for b in blocks}
    return fill(store, tasks(store, work), read, lambda rows: rows,
                lambda rows: values(rows, store.dim), batch_size)


def test_fingerprint_is_stable_and_sensitive():
    a = fs.fingerprint({"model": "MTT_musicnn", "layers": ["max_pool", "mean_pool"], "w": 3.0})
    b = fs.fingerprint({"w": 3.0, "layers": ["max_pool", "mean_pool"], "model": "MTT_musicnn"})
    c = fs.fingerprint({"model": "MTT_musicnn", "layers": ["mean_pool", "max_pool"], "w": 3.0})
    assert a == b != c


def test_block_digests_follow_the_settings_and_each_blocks_rows():
    rows = np.random.default_rng(0).integers(0, 256, (10, 16), dtype=np.uint8)
    d = fs.block_digests("spec", rows, 4)
    assert d.shape == (3, 16) and d.dtype == np.uint8 and d.any(axis=1).all()
    assert len({bytes(x) for x in d}) == 3
    assert (fs.block_digests("other", rows, 4) != d).any(axis=1).all()
    changed = rows.copy()
    changed[9, 0] ^= 1                                  # the last row's inputs change
    assert (fs.block_digests("spec", changed, 4) == d).all(axis=1).tolist() == [True, True, False]
    reference = hashlib.blake2b(b"spec", digest_size=16)
    reference.update(rows[4:8].tobytes())
    assert bytes(d[1]) == reference.digest()


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
    parts = [list(store.missing(digests(store), (i, 3))) for i in (1, 2, 3)]
    assert sorted(sum(parts, [])) == list(range(13))
    assert not set(parts[0]) & set(parts[1]) and not set(parts[1]) & set(parts[2])
    # workers on their own: each fills its blocks; together they complete the store
    for i in (3, 1, 2):
        worker = open_store(tmp_path / "f.zarr", rows=50, block_rows=4, fresh=False)
        fill_all(worker, blocks=worker.missing(digests(worker), (i, 3)))
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
        fill(store, tasks(store, store.missing(digests(store))), lambda r: r, lambda r: r, failing_forward,
             batch_size=2)
    reopened = open_store(tmp_path / "f.zarr", rows=10, block_rows=4)
    assert reopened.completed(digests(reopened)).tolist() == [True, False, False]
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
        fill(store, tasks(store, store.missing(digests(store))), read, lambda r: r, values, batch_size=4)
    assert store.completed(digests(store)).tolist() == [True, False, False]


def test_changed_inputs_recompute_exactly_their_blocks(tmp_path):
    path = tmp_path / "f.zarr"
    store = open_store(path, rows=10)
    fill_all(store)
    assert store.missing(digests(store)) == {}                       # unchanged: nothing to do
    d = digests(store).copy()
    d[2] ^= 1                                                        # block 2's inputs change
    assert list(store.missing(d)) == [2]
    assert list(store.missing(digests(store, version=1))) == [0, 1, 2]   # other settings
    # a shard worker with other settings recomputes its own blocks and wipes nothing
    worker = open_store(path, rows=10, fingerprint="b", fresh=False)
    log = []
    fill_all(worker, blocks=worker.missing(digests(worker, version=1), (2, 2)), log=log, version=1)
    assert log == [(4, 7), (7, 8)]
    assert store.completed(digests(store)).tolist() == [True, False, True]
    assert fs.attrs(path)["fingerprint"] == "b"


def test_a_new_length_resizes_and_keeps_the_unchanged_blocks(tmp_path, capsys):
    path = tmp_path / "f.zarr"
    fill_all(open_store(path, rows=10))
    for rows, expected in ((13, [2, 3]), (6, [1]), (10, [1, 2])):
        store = open_store(path, rows=rows, fresh=False)             # a shard worker may resize
        assert "resized" in capsys.readouterr().out
        assert store.rows == rows and store.n_blocks == -(-rows // 4)
        assert list(store.missing(digests(store))) == expected
        fill_all(store)
        np.testing.assert_array_equal(fs.load(path, rows=rows), values(slice(0, rows)))
    # only a new layout starts afresh, and never for a shard worker
    with pytest.raises(ValueError, match="blocks of 4 rows.*does not wipe"):
        open_store(path, rows=10, dim=5, fresh=False)
    store = open_store(path, rows=10, dim=5)
    assert "starting afresh" in capsys.readouterr().out
    assert store.dim == 5 and list(store.missing(digests(store))) == [0, 1, 2]


def test_reopen_drops_partial_files_and_records_new_devices(tmp_path):
    path = tmp_path / "f.zarr"
    fill_all(open_store(path), blocks=[0])
    debris = path / "features" / "c" / "1" / "0.1234abcd.partial"     # a write killed mid-way
    debris.parent.mkdir(parents=True, exist_ok=True)
    debris.write_bytes(b"\x00" * 5)
    store = fs.FeatureStore.open(path, rows=10, dim=3, block_rows=4,
                                 attrs={**spec_attrs(), "device": "cuda (H100)"})
    assert not debris.exists() and list(store.missing(digests(store))) == [1, 2]
    assert fs.attrs(path)["devices"] == ["cpu", "cuda (H100)"]


def test_refuses_to_delete_a_folder_that_is_not_a_store(tmp_path):
    (tmp_path / "features").mkdir()
    (tmp_path / "features" / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not a feature store"):
        open_store(tmp_path / "features")
    assert (tmp_path / "features" / "notes.txt").exists()


def test_write_checks_block_shape_and_marker(tmp_path):
    store = open_store(tmp_path / "f.zarr")
    with pytest.raises(ValueError, match="block 2 needs shape"):
        store.write(2, np.zeros((4, 3), np.float32), digests(store)[2])
    with pytest.raises(ValueError, match="not all zero"):
        store.write(2, np.zeros((2, 3), np.float32), np.zeros(16, np.uint8))


# ---- vectors found by content (mvclr.features.reuse) ----

def segment_vector(digests: np.ndarray) -> np.ndarray:
    """A vector that identifies its segment: a moved vector shows in the wrong row."""
    return digests[:, :3].astype(np.float32) + digests[:, 3:4].astype(np.float32) / 256


def embed_rows(path, row_digests, shard=(1, 1), forward=None, block_rows=4):
    """The embed stage's planning and filling over a fake backbone: (computed, copied)."""
    store = fs.FeatureStore.open(path, rows=len(row_digests), dim=3, block_rows=block_rows,
                                 attrs=spec_attrs(), fresh_if_changed=shard == (1, 1), resize=False)
    work, _, copied = reuse.plan(store, "spec", row_digests, shard)
    computed = fill(store, work, lambda rows: row_digests[rows], lambda x: x,
                    forward or segment_vector, batch_size=3)
    if store.completed(fs.block_digests("spec", row_digests, block_rows)).all():
        store.drop_previous()
    return computed, copied


def catalogue(n, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, 16), dtype=np.uint8)


def test_inserted_removed_and_reordered_segments_cost_only_the_new_ones(tmp_path):
    path, rows = tmp_path / "f.zarr", catalogue(10)
    assert embed_rows(path, rows) == (10, 0)
    top = np.r_[catalogue(1, seed=1), rows]
    removed = np.r_[top[:5], top[6:]]
    shuffled = removed[np.random.default_rng(2).permutation(len(removed))]
    for label, changed, computed in (("one new at the top", top, 1), ("one removed", removed, 0),
                                     ("shuffled", shuffled, 0), ("unchanged", shuffled, 0)):
        assert embed_rows(path, changed)[0] == computed, label
        np.testing.assert_array_equal(fs.load(path, rows=len(changed)), segment_vector(changed))


def test_shard_workers_reuse_by_content_and_agree_with_one_run(tmp_path):
    rows = catalogue(30)
    embed_rows(tmp_path / "one.zarr", rows)
    embed_rows(tmp_path / "two.zarr", rows)
    moved = np.r_[catalogue(2, seed=3), rows[::-1]]
    assert embed_rows(tmp_path / "one.zarr", moved) == (2, 30)
    computed = [embed_rows(tmp_path / "two.zarr", moved, (i, 2))[0] for i in (1, 2)]
    assert sum(computed) == 2
    np.testing.assert_array_equal(fs.load(tmp_path / "one.zarr"), fs.load(tmp_path / "two.zarr"))
    np.testing.assert_array_equal(fs.markers(tmp_path / "one.zarr"), fs.markers(tmp_path / "two.zarr"))
    assert not (tmp_path / "two.zarr" / "previous").exists()


@pytest.mark.parametrize("harm", ["delete", "damage"])
def test_a_lost_or_damaged_chunk_is_recomputed_and_named_never_read_as_nan(tmp_path, capsys, harm):
    path, rows = tmp_path / "f.zarr", catalogue(10)
    embed_rows(path, rows)
    chunk = path / "features" / "c" / "1" / "0"
    if harm == "delete":
        chunk.unlink()
        with pytest.raises(RuntimeError, match="chunk files of 1 block"):
            fs.load(path)
    else:
        data = bytearray(chunk.read_bytes())
        data[len(data) // 2] ^= 0xFF
        chunk.write_bytes(bytes(data))
    capsys.readouterr()
    assert embed_rows(path, rows) == (4, 0)
    said = capsys.readouterr().out
    assert "block 1 (rows 4-7) is recomputed" in said and str(chunk) in said
    np.testing.assert_array_equal(fs.load(path), segment_vector(rows))


def test_non_finite_vectors_are_refused_naming_their_rows(tmp_path):
    path, rows = tmp_path / "f.zarr", catalogue(10)

    def forward(x):
        out = segment_vector(x)
        out[(x[:, 0] == rows[6, 0])] = np.nan
        return out

    with pytest.raises(ValueError, match=r"non-finite vectors in 1 row\(s\) \(6\); block 1 is not written"):
        embed_rows(path, rows, forward=forward)
    store = open_store(path, rows=10)
    assert store.completed(store.done[:, :16]).tolist() == [True, False, False]
