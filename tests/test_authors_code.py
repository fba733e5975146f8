"""What the authors' evaluation code outputs, against a transcription of their
get_validation_metrics (KarelVeldkamp/Multimodal-Musicvideo-Representation,
src/ecir_project/mmnet/evaluation.py) run on the same arrays."""
import numpy as np
import pytest

from mvclr.evaluation import authors_code, similarity, table1


class AverageMeter:            # theirs: avg = sum / (0.0001 + count)
    def __init__(self):
        self.sum, self.count, self.avg = 0, 0, 0

    def update(self, val, n=1):
        self.sum += val * n
        self.count += n
        self.avg = self.sum / (.0001 + self.count)


def their_metrics(videos, audios, batch_size):
    names = ("median_rank", "q25", "q75", "mean_rank", "r1", "r5", "r10")
    meters = {f"{k}_{d}": AverageMeter() for d in ("v2a", "a2v") for k in names}
    for i in range(videos.shape[0] // batch_size):
        cos_sim = np.dot(videos[batch_size * i: batch_size * (i + 1)],
                         audios[batch_size * i: batch_size * (i + 1)].T)
        ranks_per_row = np.argsort(cos_sim, axis=1)
        for d in ("v2a", "a2v"):
            r = np.diag(ranks_per_row)            # their a2v takes ranks_per_row too
            for k, v in (("median_rank", np.median(r)), ("mean_rank", np.mean(r)),
                         ("q25", np.quantile(r, .25)), ("q75", np.quantile(r, .75)),
                         ("r1", np.mean(r == 0)), ("r5", np.mean(r < 5)), ("r10", np.mean(r < 10))):
                meters[f"{k}_{d}"].update(v)
    return {k: m.avg for k, m in meters.items()}


def unit(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_literal_equals_their_code(monkeypatch):
    monkeypatch.setattr(similarity, "BLOCK_ELEMENTS", 200)     # several query blocks
    rng = np.random.default_rng(0)
    za = unit(rng.normal(size=(250, 8)))
    zv = unit(za + 0.5 * rng.normal(size=(250, 8)))
    order = np.random.default_rng(1).permutation(250)
    ids = np.array([f"v{i // 5}" for i in range(250)])
    got = authors_code.literal(za, zv, 60, order, ids, n_boot=0, seed=0)
    expected = their_metrics(zv[order], za[order], 60)          # 4 chunks, 10 rows dropped
    assert got["n_chunks"] == 4
    for key, value in expected.items():
        assert got[key] == pytest.approx(value), key
    assert got["median_rank_a2v"] == got["median_rank_v2a"]     # their a->v is their v->a


def test_literal_is_at_chance_for_perfect_embeddings_and_empty_below_one_chunk():
    rng = np.random.default_rng(2)
    z = unit(rng.normal(size=(400, 16)))
    ids = np.array([f"v{i // 4}" for i in range(400)])
    perfect = authors_code.literal(z, z, 200, np.arange(400), ids, n_boot=100, seed=0)
    assert abs(perfect["median_rank_v2a"] / perfect["chance_median_rank"] - 1) < 0.2
    low, high = perfect["ci95"]["ratio"]
    assert low < 1.2 and high > 0.8
    small = authors_code.literal(z[:36], z[:36], 1000, np.arange(36), ids[:36], n_boot=100, seed=0)
    assert small["n_chunks"] == 0 and small["median_rank_v2a"] == 0 and "ci95" not in small


def test_variant_is_one_based_columns_and_folds_the_partial_chunk():
    rng = np.random.default_rng(5)
    z = rng.normal(size=(120, 16))
    zn = unit(z)
    ids = np.array([f"v{i // 3}" for i in range(120)])
    m = table1.evaluate(z, z, 50, ids, seed=0, n_boot=50)
    assert m["paper"]["median_rank_a2v"] == 1 and m["full"]["median_rank_v2a"] == 1
    variant = m["authors_code_variant"]
    assert variant["chance_median_rank"] == pytest.approx((25.5 + 35.5) / 2)   # chunks of 50, 70
    assert variant["median_rank_a2v"] > 10 and variant["median_rank_v2a"] > 10
    sims = zn[:30] @ zn[:30].T
    d = authors_code.argsort_diagonal(zn[:30], zn[:30])
    assert list(d) == [np.argsort(sims[i])[i] for i in range(30)]
