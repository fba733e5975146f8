"""The video index behind `mvclr similar` (mvclr.evaluation.index) against brute-force cosine
search: exact results, IVF recall on clustered data, split filter, the query left out, save /
load, clear errors."""
import faiss
import numpy as np
import pytest

from mvclr.evaluation import index as vi
from mvclr.evaluation.synthetic import clustered_vectors

SETTINGS = {"exact_max": 10 ** 9,
            "ivf": {"lists_per_sqrt": 2, "train_per_list": 40, "iterations": 10, "nprobe": 8}}
IVF_SETTINGS = {**SETTINGS, "exact_max": 0}


def brute(x, query, k, allowed):
    """Rows of the k largest cosine similarities to `query` among the allowed rows."""
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    sim = xn @ (query / np.linalg.norm(query))
    rows = [r for r in np.argsort(-sim, kind="stable") if allowed[r]][:k]
    return np.array(rows), sim[rows]


def catalogue(n, dim, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, dim)).astype(np.float32) * rng.uniform(0.5, 3, (n, 1)).astype(np.float32)
    ids = np.array([f"vid{i:04d}" for i in range(n)])
    splits = rng.choice(["train", "val", "test"], size=n, p=[0.8, 0.1, 0.1])
    return x, ids, splits


@pytest.fixture(scope="module")
def exact():
    x, ids, splits = catalogue(400, 24)
    return x, vi.build(x, ids, splits, SETTINGS, seed=0, representation="musicnn")


def test_exact_index_equals_brute_force(exact):
    x, idx = exact
    assert idx.meta["kind"] == "exact"
    queries = np.random.default_rng(1).standard_normal((20, x.shape[1])).astype(np.float32)
    for q in queries:
        found = idx.nearest(q, 10)
        rows, sim = brute(x, q, 10, np.ones(len(x), bool))
        np.testing.assert_array_equal(found.rows, rows)
        np.testing.assert_allclose(found.similarity, sim, atol=1e-5)
        np.testing.assert_array_equal(found.video_ids, idx.video_ids[rows])


def test_query_by_id_leaves_the_video_out_and_keeps_its_duplicate():
    x, ids, splits = catalogue(200, 16)
    x[7] = 2 * x[3]                                   # a duplicate of video 3, cosine 1
    idx = vi.build(x, ids, splits, SETTINGS, seed=0, representation="r2plus1d")
    found = idx.neighbours("vid0003", 5)
    assert 3 not in found.rows and found.rows[0] == 7
    allowed = np.ones(len(x), bool)
    allowed[3] = False
    np.testing.assert_array_equal(found.rows, brute(x, x[3], 5, allowed)[0])
    np.testing.assert_allclose(idx.vector("vid0003"), x[3] / np.linalg.norm(x[3]), atol=1e-6)


@pytest.mark.parametrize("splits", [["test"], ["val", "test"], ["train"]])
def test_split_filter_equals_brute_force_on_the_split(exact, splits):
    x, idx = exact
    for video in idx.video_ids[:15]:
        seed = idx.row_of(video)
        found = idx.neighbours(video, 8, splits=splits)
        allowed = np.isin(idx.splits, splits)
        allowed[seed] = False
        np.testing.assert_array_equal(found.rows, brute(x, x[seed], 8, allowed)[0])
        assert set(found.splits) <= set(splits)


def test_fewer_candidates_than_k_gives_fewer_neighbours(exact):
    x, idx = exact
    n_val = int(np.sum(idx.splits == "val"))
    found = idx.nearest(x[0], n_val + 10, splits=["val"])
    assert len(found.rows) == n_val and np.all(np.isfinite(found.similarity))


@pytest.fixture(scope="module")
def clustered():
    x = clustered_vectors(3000, 48, seed=5)
    ids = np.array([f"c{i}" for i in range(len(x))])
    splits = np.where(np.arange(len(x)) % 10 == 0, "test", "train")
    return x, vi.build(x, ids, splits, IVF_SETTINGS, seed=0, representation="cl_agg")


def test_ivf_recall_on_clustered_vectors(clustered):
    x, idx = clustered
    assert idx.meta["kind"] == "ivf" and idx.meta["nlist"] == vi.list_count(3000, IVF_SETTINGS)
    seeds = np.random.default_rng(2).choice(len(x), 100, replace=False)
    rows, _ = idx.search(x[seeds], 10, exclude=seeds)
    hits = 0
    for seed, got in zip(seeds, rows):
        allowed = np.ones(len(x), bool)
        allowed[seed] = False
        hits += len(set(got) & set(brute(x, x[seed], 10, allowed)[0]))
    assert not np.any(rows == seeds[:, None])        # each query left out of its own results
    assert hits / (10 * len(seeds)) >= 0.9


def test_ivf_split_filter_and_stored_vectors(clustered):
    x, idx = clustered
    found = idx.neighbours("c5", 10, splits=["test"])
    assert len(found.rows) == 10 and set(found.splits) == {"test"}
    np.testing.assert_allclose(idx.vector("c5"), x[5], atol=1e-6)


def test_save_load_round_trip_and_reproducible_files(clustered, tmp_path):
    x, idx = clustered
    vi.save(idx, tmp_path / "a")
    loaded = vi.load(tmp_path / "a")
    assert loaded.meta == idx.meta and len(loaded) == len(idx) and loaded.dim == 48
    np.testing.assert_array_equal(loaded.video_ids, idx.video_ids)
    np.testing.assert_array_equal(loaded.splits, idx.splits)
    for video in ["c0", "c17", "c2999"]:
        a, b = idx.neighbours(video, 7, ["train"]), loaded.neighbours(video, 7, ["train"])
        np.testing.assert_array_equal(a.rows, b.rows)
        np.testing.assert_array_equal(a.similarity, b.similarity)
        np.testing.assert_array_equal(idx.vector(video), loaded.vector(video))
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1 if threads > 1 else 2)     # the same files whatever the threads
    try:
        again = vi.build(x, idx.video_ids, idx.splits, IVF_SETTINGS, seed=0, representation="cl_agg")
    finally:
        faiss.omp_set_num_threads(threads)
    vi.save(again, tmp_path / "b")
    for name in (vi.INDEX_FILE, vi.VIDEOS_FILE, vi.META_FILE):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_row_of_finds_every_id_in_any_order(tmp_path):
    ids = np.array(["b", "ab", "a", "c10", "c2", "a b", "Z", "é"])
    x = np.random.default_rng(0).standard_normal((len(ids), 4)).astype(np.float32)
    idx = vi.build(x, ids, ["train"] * len(ids), SETTINGS, seed=0, representation="cl_audio")
    vi.save(idx, tmp_path)
    for index in (idx, vi.load(tmp_path)):
        assert [index.row_of(v) for v in ids] == list(range(len(ids)))
        for missing in ("", "aa", "c1", "zz"):
            with pytest.raises(vi.VideoIndexError, match="unknown video id"):
                index.row_of(missing)


def test_choose_kind_by_videos_times_dim():
    settings = {**SETTINGS, "exact_max": 1000}
    assert vi.choose_kind(100, 10, settings) == "exact"
    assert vi.choose_kind(101, 10, settings) == "ivf"


def test_clear_errors(exact, tmp_path):
    x, idx = exact
    with pytest.raises(vi.VideoIndexError, match="unknown video id 'nope'"):
        idx.neighbours("nope", 3)
    with pytest.raises(vi.VideoIndexError, match="dimension 25.*dimension 24"):
        idx.nearest(np.ones(25, np.float32), 3)
    with pytest.raises(vi.VideoIndexError, match="unknown split"):
        idx.neighbours("vid0001", 3, splits=["dev"])
    with pytest.raises(vi.VideoIndexError, match="not found"):
        vi.load(tmp_path / "missing")
    vi.save(idx, tmp_path / "old")
    np.save(tmp_path / "old" / vi.VIDEOS_FILE, idx.video_ids)
    with pytest.raises(vi.VideoIndexError, match="expected the fields video_id, split, order"):
        vi.load(tmp_path / "old")
    bad = x.copy()
    bad[4, 2] = np.nan
    with pytest.raises(vi.VideoIndexError, match="NaN"):
        vi.build(bad, idx.video_ids, idx.splits, SETTINGS, seed=0, representation="musicnn")
    with pytest.raises(vi.VideoIndexError, match="index.ivf.nprobe must be > 0, got 0"):
        vi.build(x, idx.video_ids, idx.splits, {**SETTINGS, "ivf": {**SETTINGS["ivf"], "nprobe": 0}},
                 seed=0, representation="musicnn")
    with pytest.raises(vi.VideoIndexError, match="not unique"):
        vi.build(x[:2], ["a", "a"], ["train", "test"], SETTINGS, seed=0, representation="musicnn")


def test_synthetic_vectors_are_seeded_unit_rows():
    a, b = clustered_vectors(500, 80, seed=1), clustered_vectors(500, 80, seed=1)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1, atol=1e-5)
    assert not np.array_equal(a, clustered_vectors(500, 80, seed=2))
