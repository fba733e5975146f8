"""Retrieval metrics against a brute-force numpy reference."""
import numpy as np
import pytest

from mvclr.evaluation import retrieval, similarity, table1


def reference_ranks(q, c):
    """Loop over queries, float64: 1 + candidates at least as similar as the partner, minus itself."""
    q = np.asarray(q, np.float64)
    c = np.asarray(c, np.float64)
    q = q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-300)
    c = c / np.maximum(np.linalg.norm(c, axis=1, keepdims=True), 1e-300)
    ranks = []
    for i in range(len(q)):
        sims = c @ q[i]
        ranks.append(1 + sum(1 for j in range(len(c))
                             if j != i and sims[j] >= sims[i] - retrieval.TIE_TOL))
    return np.array(ranks)


def reference_pool(za, zv, chunks):
    """Metrics per chunk averaged with equal weight, from the reference ranks."""
    rows = []
    for start, stop in chunks:
        a2v = reference_ranks(za[start:stop], zv[start:stop])
        v2a = reference_ranks(zv[start:stop], za[start:stop])
        n = stop - start
        rows.append({
            "median_rank_a2v": np.median(a2v), "median_rank_v2a": np.median(v2a),
            "mean_rank_a2v": a2v.mean(), "r1_a2v": np.mean(a2v == 1),
            "r5_v2a": np.mean(v2a <= 5), "r10_a2v": np.mean(a2v <= 10),
            "chance_median": (n + 1) / 2, "chance_r5": min(5, n) / n,
        })
    return {k: np.mean([r[k] for r in rows]) for k in rows[0]}


def tied_embeddings(n, seed):
    """Integer vectors drawn from few directions: many exact ties, partners sometimes tied."""
    rng = np.random.default_rng(seed)
    directions = rng.integers(0, 3, size=(6, 4)).astype(np.float32)
    directions[0] = 0                      # one all-zero direction: ties with everything at 0
    za = directions[rng.integers(0, 6, n)]
    zv = directions[rng.integers(0, 6, n)]
    return za, zv


def test_ranks_match_reference_with_ties(monkeypatch):
    monkeypatch.setattr(similarity, "BLOCK_ELEMENTS", 50)     # several blocks of each side
    monkeypatch.setattr(retrieval, "QUERY_ROWS", 7)
    za, zv = tied_embeddings(37, seed=1)
    np.testing.assert_array_equal(retrieval.partner_ranks(za, zv), reference_ranks(za, zv))
    np.testing.assert_array_equal(retrieval.partner_ranks(zv, za), reference_ranks(zv, za))


def test_ranks_match_reference_random():
    rng = np.random.default_rng(2)
    za, zv = rng.normal(size=(50, 8)), rng.normal(size=(50, 8))
    zv[:10] = za[:10] + 0.1 * rng.normal(size=(10, 8))     # some near-perfect partners
    np.testing.assert_array_equal(retrieval.partner_ranks(za, zv), reference_ranks(za, zv))


def test_ties_never_flatter():
    collapsed = np.ones((7, 3))
    assert list(retrieval.partner_ranks(collapsed, collapsed)) == [7] * 7
    perfect = np.eye(5)
    assert list(retrieval.partner_ranks(perfect, perfect)) == [1] * 5
    # partner tied with one other candidate and beaten by none: rank 2
    za = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    zv = np.array([[1.0, 0.0], [1.0, 0.0], [1.0, 1.0]])
    assert list(retrieval.partner_ranks(za, zv)) == [2, 3, 1]


def test_chunk_bounds_fold_partial_chunk():
    assert retrieval.chunk_bounds(23, 5) == [(0, 5), (5, 10), (10, 15), (15, 23)]
    assert retrieval.chunk_bounds(20, 5) == [(0, 5), (5, 10), (10, 15), (15, 20)]
    assert retrieval.chunk_bounds(4, 5) == [(0, 4)]
    assert retrieval.chunk_bounds(7, None) == [(0, 7)]
    with pytest.raises(ValueError):
        retrieval.chunk_bounds(7, 0)


def videos_of(n, per=3):
    """Video ids in store order: consecutive runs of `per` segments."""
    return np.array([f"v{i // per:03d}" for i in range(n)])


@pytest.mark.parametrize("n,pool", [(23, 5), (4, 5), (20, 5)])
def test_paper_and_full_pools_match_reference(n, pool):
    za, zv = tied_embeddings(n, seed=n)
    ids = videos_of(n)
    paper = retrieval.evaluate_pool(za, zv, pool, ids, seed=0)
    order = retrieval.chunk_order(ids, 0)
    ref = reference_pool(za[order], zv[order], retrieval.chunk_bounds(n, pool))
    for key in ("median_rank_a2v", "median_rank_v2a", "mean_rank_a2v", "r1_a2v", "r5_v2a", "r10_a2v"):
        assert paper[key] == pytest.approx(ref[key]), key
    assert paper["chance"]["median_rank"] == pytest.approx(ref["chance_median"])
    assert paper["chance"]["r5"] == pytest.approx(ref["chance_r5"])
    full = retrieval.evaluate_pool(za, zv, None, ids, seed=0)
    ref_full = reference_pool(za, zv, [(0, n)])
    assert full["median_rank_a2v"] == pytest.approx(ref_full["median_rank_a2v"])
    assert full["chance"]["median_rank"] == (n + 1) / 2
    assert full["n_chunks"] == 1 and full["n_segments"] == n


def test_chunks_follow_a_seeded_order_of_videos_not_the_store_order():
    """A store sorted by genre: chunks of the store order would each hold one genre; the
    paper's chunks take the videos in a seeded random order, a video's segments together."""
    ids = videos_of(60, per=3)                       # 20 videos; genre = first or second half
    order = retrieval.chunk_order(ids, seed=0)
    assert sorted(order) == list(range(60))
    runs = [ids[order][i:i + 3] for i in range(0, 60, 3)]
    assert all(len(set(r)) == 1 for r in runs)      # a video's segments stay together, in order
    assert all(np.all(np.diff(order[i:i + 3]) == 1) for i in range(0, 60, 3))
    first_chunk = {int(v[1:]) for v in ids[order][:30]}
    assert 0 < sum(v < 10 for v in first_chunk) < 10  # both halves of the store in chunk one
    assert np.array_equal(order, retrieval.chunk_order(ids, seed=0))
    assert not np.array_equal(order, retrieval.chunk_order(ids, seed=1))
    # the ranks of a pool do not depend on the order the store lists its rows in
    za, zv = tied_embeddings(60, seed=9)
    perm = np.random.default_rng(1).permutation(20)
    rows = np.concatenate([np.arange(3 * v, 3 * v + 3) for v in perm])
    a = retrieval.evaluate_pool(za, zv, 25, ids, seed=0)
    b = retrieval.evaluate_pool(za[rows], zv[rows], 25, ids[rows], seed=0)
    assert a["median_rank_a2v"] == b["median_rank_a2v"]


def test_partial_chunk_is_folded_not_weighted_alone():
    # 12 segments, pool 5: chunks of 5 and 7 -> chance is the mean of 3 and 4
    za, zv = tied_embeddings(12, seed=3)
    m = retrieval.evaluate_pool(za, zv, 5, videos_of(12, per=1), seed=0)
    assert (m["n_chunks"], m["min_chunk"], m["max_chunk"]) == (2, 5, 7)
    assert m["chance"]["median_rank"] == pytest.approx(3.5)


def test_random_embeddings_sit_near_chance():
    rng = np.random.default_rng(4)
    za, zv = rng.normal(size=(2000, 16)), rng.normal(size=(2000, 16))
    m = table1.evaluate(za, zv, 1000, videos_of(2000), seed=0, n_boot=50)
    assert abs(m["paper"]["median_rank_a2v"] - 500.5) < 60
    assert abs(m["full"]["median_rank_v2a"] - 1000.5) < 120
    low, high = m["full"]["ci95"]["ratio"]
    assert low < 1 < high


def test_intervals_cover_the_estimate_and_shrink_with_more_videos():
    rng = np.random.default_rng(7)
    widths = []
    for videos in (20, 200):
        n = 3 * videos
        za = rng.normal(size=(n, 8))
        zv = za + 1.5 * rng.normal(size=(n, 8))      # partners related, not identical
        m = retrieval.evaluate_pool(za, zv, None, videos_of(n), seed=0, n_boot=300)
        for key in ("median_rank_a2v", "median_rank_v2a"):
            low, high = m["ci95"][key]
            assert low <= m[key] <= high
        widths.append((m["ci95"]["ratio"][1] - m["ci95"]["ratio"][0]))
    assert widths[1] < widths[0]


def test_median_rank_single_number():
    za, zv = tied_embeddings(23, seed=6)
    ids = videos_of(23)
    full = retrieval.evaluate_pool(za, zv, None, ids, seed=0)
    assert retrieval.median_rank(za, zv) == pytest.approx(
        (full["median_rank_a2v"] + full["median_rank_v2a"]) / 2)
    paper = retrieval.evaluate_pool(za, zv, 5, ids, seed=0)
    assert retrieval.median_rank(za, zv, 5, ids, seed=0) == pytest.approx(
        (paper["median_rank_a2v"] + paper["median_rank_v2a"]) / 2)


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="same shape"):
        retrieval.evaluate_pool(np.ones((3, 2)), np.ones((4, 2)), None, videos_of(3), seed=0)
    with pytest.raises(ValueError, match="no segments"):
        retrieval.partner_ranks(np.ones((0, 2)), np.ones((0, 2)))
