"""Video-level aggregations of segment vectors: the fixed ones, the learned attention pool, and
the probes that compare them."""
import numpy as np
import pytest
import torch

from mvclr.contrastive import heads
from mvclr.contrastive.sources import Pairs
from mvclr.evaluation import attention_pool, pooling, probes
from mvclr.evaluation.retrieval import median_rank
from mvclr.evaluation.rowfile import RowFile
from mvclr.evaluation.videos import Videos

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


def test_segment_rows():
    rows, mask = attention_pool.segment_rows(np.array([1, 2, 3]), np.array([2, 0]))
    np.testing.assert_array_equal(rows, [[3, 4, 5], [0, -1, -1]])
    np.testing.assert_array_equal(mask, rows >= 0)


@pytest.mark.parametrize("how", ["mean", "l2mean", "max", "attention"])
def test_streamed_video_vectors_equal_in_memory(how, tmp_path):
    rng = np.random.default_rng(5)
    counts = rng.integers(1, 5, size=30)
    ids = np.repeat([f"v{i:02d}" for i in range(30)], counts)
    a, v = rng.normal(size=(len(ids), 3)), rng.normal(size=(len(ids), 2))
    w = rng.uniform(size=(len(ids), 2))
    files = [RowFile(tmp_path / f"{k}.npy", len(ids)) for k in "avw"]
    for f, x in zip(files, (a, v, w)):
        for start in range(0, len(x), 7):
            f.append(x[start:start + 7])
    out = RowFile(tmp_path / "out.npy", 30)
    for name in ("musicnn", "musicnn+r2plus1d", "cl_agg"):
        seg = pooling.segment_vectors(name, a, v)
        weights = w[:, [0, 1] if name != "musicnn" else [0]].mean(1)
        want = pooling.aggregate(seg, ids, np.unique(ids), how, weights if how == "attention" else None)
        got = pooling.video_vectors(pooling.pair_blocks(files[0], files[1], counts), name, counts,
                                    how, weights=files[2])
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    pooling.video_vectors(pooling.pair_blocks(a, v, counts), "r2plus1d", counts, how, out, w)
    np.testing.assert_allclose(out[:], pooling.aggregate(v, ids, np.unique(ids), how, w[:, 1]),
                               rtol=1e-5, atol=1e-6)


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


def weights(xa, xb, ids, videos, split, directory, name="w"):
    counts = np.array([np.sum(ids == v) for v in videos])
    out = RowFile(directory / f"{name}.npy", len(ids))
    w = attention_pool.segment_weights(xa, xb, counts, split, out, **ATTENTION, seed=0)
    return w[:][:, 0], w[:][:, 1]


def test_attention_pool_weights_the_shared_segments(tmp_path):
    xa, xb, ids, videos, split, first = informative_videos()
    wa, wb = weights(xa, xb, ids, videos, split, tmp_path)
    test = np.isin(ids, videos[split == "test"])
    for w in (wa, wb):
        assert np.all(w >= 0)
        np.testing.assert_allclose([w[ids == v].sum() for v in videos], 1, rtol=1e-5)
        # the informative segment gets most of the weight (uniform: 1/4), on unseen videos too
        assert w[first & test].mean() > 0.6
    # deterministic, and blind to the global RNG
    torch.manual_seed(123)
    again = weights(xa, xb, ids, videos, split, tmp_path, "again")
    np.testing.assert_array_equal(again[0], wa)
    assert torch.initial_seed() == 123
    with pytest.raises(ValueError, match="one space"):
        weights(xa, xb[:, :3], ids, videos, split, tmp_path, "bad")


def test_shared_space_aligns_different_spaces():
    rng = np.random.default_rng(4)
    ids = np.repeat([f"v{i:02d}" for i in range(40)], 3)
    split = np.repeat(np.array(["train"] * 30 + ["val"] * 5 + ["test"] * 5), 3)
    z = rng.normal(size=(len(ids), 4))
    xa = (z @ rng.normal(size=(4, 9)) + 0.1 * rng.normal(size=(len(ids), 9))).astype(np.float32)
    xb = (z @ rng.normal(size=(4, 5)) + 0.1 * rng.normal(size=(len(ids), 5))).astype(np.float32)
    train, val = (Pairs(xa[split == s], xb[split == s], ids[split == s]) for s in ("train", "val"))
    model = attention_pool.shared_space(train, val, dim=8, lr=0.01, max_epochs=40, patience=5, seed=0)
    za, zb = heads.embed(model, xa, xb)
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
    w = np.full((len(x), 2), 1 / k, dtype=np.float32)     # uniform weights: attention == mean
    counts = np.full(n, k)

    def vectors(how):
        return pooling.video_vectors(pooling.pair_blocks(x, x, counts), "musicnn", counts, how, weights=w)

    out = probes.probe_aggregations(vectors, videos, cfg, seed=0, name="rep")
    assert out["aggregate"] == "mean" and list(out["by_aggregate"]) == ["mean", "max", "attention"]
    assert out["by_aggregate"]["mean"]["genre"]["auc"] == out["genre"]["auc"]
    for task in ("genre", "tags"):
        assert out["by_aggregate"]["attention"][task] == pytest.approx(out["by_aggregate"]["mean"][task])
    alone = probes.probe_representation(pooling.aggregate(x, ids, videos.ids, "max"), videos, cfg, 0, "rep")
    assert out["by_aggregate"]["max"]["tags"]["auc"] == alone["tags"]["auc"]
