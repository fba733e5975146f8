"""Bootstrap over test videos against brute-force references."""
import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from mvclr.evaluation import bootstrap


def test_weighted_median_equals_median_of_the_expanded_sample():
    rng = np.random.default_rng(0)
    for _ in range(100):
        n = int(rng.integers(1, 12))
        values = rng.integers(0, 5, n).astype(float)
        weights = rng.integers(0, 4, (3, n))
        got = bootstrap.weighted_median(values, weights)
        for b in range(3):
            sample = np.repeat(values, weights[b])
            assert (np.isnan(got[b]) if len(sample) == 0 else got[b] == np.median(sample))


def test_weighted_auc_equals_sklearn_with_sample_weights():
    rng = np.random.default_rng(1)
    pos, neg = rng.integers(0, 6, 20).astype(float), rng.integers(0, 6, 30).astype(float)
    wp, wn = rng.integers(0, 3, (4, 20)), rng.integers(0, 3, (4, 30))
    got = bootstrap.weighted_auc(pos, neg, wp, wn)
    for b in range(4):
        y, s = np.r_[np.ones(20), np.zeros(30)], np.r_[pos, neg]
        assert got[b] == pytest.approx(roc_auc_score(y, s, sample_weight=np.r_[wp[b], wn[b]]))


def test_resamples_draw_whole_videos():
    ids = np.repeat(np.array(["a", "b", "c", "d"]), [1, 2, 3, 4])
    for w in bootstrap.video_weights(ids, 200, seed=0):
        for video in "abcd":
            assert np.all(w[:, ids == video] == w[:, ids == video][:, :1])   # same multiplicity
        assert np.all(w[:, [0, 1, 3, 6]].sum(axis=1) == 4)        # 4 videos drawn each time
    a = np.concatenate(list(bootstrap.video_weights(ids, 50, seed=3)))
    b = np.concatenate(list(bootstrap.video_weights(ids, 50, seed=3)))
    assert np.array_equal(a, b)


def test_interval_of_a_mean_matches_its_sampling_spread():
    """Videos with independent values: the interval of the mean over videos is about
    +-1.96 standard errors."""
    rng = np.random.default_rng(2)
    values = rng.normal(size=400)
    ids = np.arange(400)
    low, high = bootstrap.interval(bootstrap.weighted_mean(values), ids, 2000, seed=0)
    se = values.std() / np.sqrt(400)
    assert low < values.mean() < high
    assert (high - low) / (2 * 1.96 * se) == pytest.approx(1, abs=0.1)
