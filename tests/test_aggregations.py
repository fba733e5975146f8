"""Video-level aggregations of segment vectors: the fixed ones, the learned attention pool, and
the probes that compare them."""
import numpy as np
import pytest
import torch

from mvclr.evaluation import attention_pool, pooling, probes
from mvclr.evaluation.videos import Videos
from mvclr.evaluation.retrieval import median_rank

SEG_IDS = np.array(["b", "a", "b", "c", "a", "b"])
VIDEOS = np.array(["c", "a", "b"])
ATTENTION = dict(hidden=8, lr=0.01, max_epochs=100, patience=20, batch_videos=64)


def brute(x, how, weights=None):
    out = []
    for v in VIDEOS:
        rows = [i for i, s in enumerate(SEG_IDS) if s == v]
        seg = x[rows]
        if how == "mean":
            out.append(seg.mean(0))
        elif how == "l2mean":
            out.append(np.mean([r / np.linalg.norm(r) for r in seg], axis=0))
        elif how == "max":
            out.append(seg.max(0))
        else:
            out.append(sum(weights[i] * x[i] for i in rows))
    return np.array(out)


@pytest.mark.parametrize("how", ["mean", "l2mean", "max"])
def test_fixed_aggregations_match_brute_force(how):
    x = np.random.default_rng(0).normal(size=(6, 3)).astype(np.float32)
    np.testing.assert_allclose(pooling.aggregate(x, SEG_IDS, VIDEOS, how), brute(x, how), rtol=1e-5)


def test_weighted_aggregation_needs_weights():
    x = np.random.default_rng(1).normal(size=(6, 3)).astype(np.float32)
    w = np.array([0.2, 0.5, 0.3, 1.0, 0.5, 0.5], dtype=np.float32)
    np.testing.assert_allclose(pooling.aggregate(x, SEG_IDS, VIDEOS, "attention", w),
                               brute(x, "attention", w), rtol=1e-5)
    with pytest.raises(ValueError, match="fitted on the training split"):
        pooling.aggregate(x, SEG_IDS, VIDEOS, "attention")
    with pytest.raises(ValueError, match="5 segment weights"):
        pooling.aggregate(x, SEG_IDS, VIDEOS, "attention", w[:5])
    with pytest.raises(ValueError, match="known: mean, l2mean, max, attention"):
        pooling.aggregate(x, SEG_IDS, VIDEOS, "median")


def test_segment_table():
    table = attention_pool.segment_table(SEG_IDS, VIDEOS)
    np.testing.assert_array_equal(table, [[3, -1, -1], [1, 4, -1], [0, 2, 5]])
    with pytest.raises(ValueError, match="without segments"):
        attention_pool.segment_table(SEG_IDS, np.array(["a", "z"]))


def informative_videos(n_videos=60, k=4, d=6, seed=0):
    """Embeddings of one space: per video, one random segment of each modality carries a
    latent the two share; the others are louder noise; a flag dimension (e.g. 'singer on
    screen') tells them apart."""
    rng = np.random.default_rng(seed)
    ids = np.repeat([f"v{i:02d}" for i in range(n_videos)], k)
    first = (np.arange(k)[None, :] == rng.integers(0, k, n_videos)[:, None]).ravel()
    z = rng.normal(size=(n_videos * k, d))
    flag = np.where(first, 1.0, -1.0)[:, None] + 0.3 * rng.normal(size=(len(z), 1))
    xa, xb = (np.hstack([np.where(first[:, None], z + 0.3 * rng.normal(size=z.shape),
                                  2 * rng.normal(size=z.shape)), flag]) for _ in range(2))
    split = np.array(["train"] * 40 + ["val"] * 10 + ["test"] * 10)
    return xa.astype(np.float32), xb.astype(np.float32), ids, np.unique(ids), split, first


def test_attention_pool_weights_the_shared_segments():
    xa, xb, ids, videos, split, first = informative_videos()
    wa, wb = attention_pool.segment_weights(xa, xb, ids, videos, split, **ATTENTION, seed=0)
    test = np.isin(ids, videos[split == "test"])
    for w in (wa, wb):
        assert np.all(w >= 0)
        np.testing.assert_allclose([w[ids == v].sum() for v in videos], 1, rtol=1e-5)
        # the informative segment gets most of the weight (uniform: 1/4), on unseen videos too
        assert w[first & test].mean() > 0.6
    # deterministic, and blind to the global RNG
    torch.manual_seed(123)
    again = attention_pool.segment_weights(xa, xb, ids, videos, split, **ATTENTION, seed=0)
    np.testing.assert_array_equal(again[0], wa)
    assert torch.initial_seed() == 123
    with pytest.raises(ValueError, match="one space"):
        attention_pool.segment_weights(xa, xb[:, :3], ids, videos, split, **ATTENTION, seed=0)


def test_shared_space_aligns_different_spaces():
    rng = np.random.default_rng(4)
    ids = np.repeat([f"v{i:02d}" for i in range(40)], 3)
    split = np.repeat(np.array(["train"] * 30 + ["val"] * 5 + ["test"] * 5), 3)
    z = rng.normal(size=(len(ids), 4))
    xa = z @ rng.normal(size=(4, 9)) + 0.1 * rng.normal(size=(len(ids), 9))
    xb = z @ rng.normal(size=(4, 5)) + 0.1 * rng.normal(size=(len(ids), 5))
    za, zb = attention_pool.shared_space(xa.astype(np.float32), xb.astype(np.float32), ids, split,
                                         dim=8, lr=0.01, max_epochs=40, patience=5, seed=0)
    assert za.shape == zb.shape == (len(ids), 8)
    test = split == "test"
    assert median_rank(za[test], zb[test]) < 0.3 * (test.sum() + 1) / 2


def test_probe_aggregations_share_seeds_and_reuse_the_primary():
    rng = np.random.default_rng(2)
    n, k = 40, 3
    genre_idx = rng.integers(0, 3, n)
    ids = np.repeat([f"v{i:02d}" for i in range(n)], k)
    split = np.array(["train"] * 24 + ["val"] * 8 + ["test"] * 8)
    videos = Videos(ids=np.unique(ids), split=split, genre=[["a", "b", "c"][g] for g in genre_idx],
                           tags=[[["x"], ["y"], ["x", "z"]][g] for g in genre_idx])
    x = (np.eye(3, 5)[np.repeat(genre_idx, k)] * 2 + rng.normal(size=(n * k, 5))).astype(np.float32)
    cfg = {"aggregate": "mean", "compare_aggregates": ["mean", "max", "attention"], "top_tags": 3,
           "hidden": [16], "lr": 0.01, "weight_decay": 0.0, "max_epochs": 30, "patience": 5,
           "batch_size": 16}
    w = np.full(len(x), 1 / k, dtype=np.float32)          # uniform weights: attention == mean
    out = probes.probe_aggregations(x, ids, videos, cfg, seed=0, name="rep", weights=w)
    assert out["aggregate"] == "mean" and list(out["by_aggregate"]) == ["mean", "max", "attention"]
    assert out["by_aggregate"]["mean"]["genre"]["auc"] == out["genre"]["auc"]
    for task in ("genre", "tags"):
        assert out["by_aggregate"]["attention"][task] == pytest.approx(out["by_aggregate"]["mean"][task])
    alone = probes.probe_representation(pooling.aggregate(x, ids, videos.ids, "max"), videos, cfg, 0, "rep")
    assert out["by_aggregate"]["max"]["tags"]["auc"] == alone["tags"]["auc"]
