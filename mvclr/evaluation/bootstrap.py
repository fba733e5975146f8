"""Bootstrap confidence intervals over test videos.

Segments of one video are not independent (their embeddings share the video's content), so the
unit of resampling is the video: a resample draws as many videos as the test split holds, with
replacement, and every segment of a drawn video enters with the video's multiplicity. Per-segment
values (the rank of a segment's partner, a softmax entropy, a saturation share) stay as computed
on the full test split; the statistic is recomputed on each resample. The interval is the
percentile interval (2.5 % and 97.5 % for `level` 0.95).

`video_weights` gives the multiplicities, B resamples at a time; statistics take a weight
matrix [B, n] (one row per resample, one column per segment) and return [B] values, so every
statistic is vectorised over the resamples and memory stays at a batch of resamples x n.
"""
from __future__ import annotations

from typing import Callable, Iterator

import numpy as np
from scipy import sparse

BATCH_ELEMENTS = 1 << 23      # weights held at once (B x n)


def video_weights(video_ids: np.ndarray, n_boot: int, seed: int,
                  width: int | None = None) -> Iterator[np.ndarray]:
    """Batches of resample weights [b, n_segments] (int32): the multiplicity of each segment's
    video in each resample, the videos drawn uniformly with replacement. `width`: the number
    of values a statistic holds per resample (default n_segments), which sizes the batches."""
    _, video = np.unique(np.asarray(video_ids), return_inverse=True)
    n_videos = int(video.max()) + 1 if len(video) else 0
    rng = np.random.default_rng(seed)
    step = max(1, BATCH_ELEMENTS // max(width or len(video), 1))
    for start in range(0, n_boot, step):
        b = min(step, n_boot - start)
        counts = rng.multinomial(n_videos, np.full(n_videos, 1 / n_videos), size=b)
        yield counts[:, video].astype(np.int32)


def weighted_median(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """np.median of each resample: `values` [n] repeated `weights[b]` times, for every row b of
    weights [B, n]; nan where a row's weights sum to 0."""
    order = np.argsort(values, kind="stable")
    v, w = np.asarray(values, float)[order], weights[:, order]
    cum = np.cumsum(w, axis=1)
    total = cum[:, -1]
    # index of the first value whose cumulative count exceeds k (0-based position k of the
    # expanded, sorted sample): the lower and upper middle positions
    lo = np.count_nonzero(cum <= ((total - 1) // 2)[:, None], axis=1)
    hi = np.count_nonzero(cum <= (total // 2)[:, None], axis=1)
    out = (v[np.minimum(lo, len(v) - 1)] + v[np.minimum(hi, len(v) - 1)]) / 2
    return np.where(total > 0, out, np.nan)


def interval(statistic: Callable[[np.ndarray], np.ndarray], video_ids: np.ndarray, n_boot: int,
             seed: int, level: float = 0.95, width: int | None = None) -> list[float]:
    """[low, high] percentile interval of `statistic` (weights [B, n] -> values [B]) over
    `n_boot` video resamples; resamples where the statistic is undefined (nan) are left out."""
    values = np.concatenate([statistic(w) for w in video_weights(video_ids, n_boot, seed, width)])
    values = values[np.isfinite(values)]
    if len(values) == 0:
        return [float("nan"), float("nan")]
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return [float(low), float(high)]


def weighted_mean(values: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """Statistic: the mean of per-segment `values` under each resample's weights."""
    values = np.asarray(values, float)

    def statistic(w: np.ndarray) -> np.ndarray:
        total = w.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return (w @ values) / total
    return statistic


def weighted_auc(positive: np.ndarray, negative: np.ndarray, w_pos: np.ndarray,
                 w_neg: np.ndarray) -> np.ndarray:
    """ROC-AUC of `positive` against `negative` scores (ties count one half) with per-resample
    weights w_pos [B, P] and w_neg [B, N]: [B] values, nan where a side weighs nothing."""
    return auc_under_weights(positive, negative)(w_pos, w_neg)


def auc_under_weights(positive: np.ndarray, negative: np.ndarray):
    """`weighted_auc` of fixed scores as a function of the weights (w_pos, w_neg): the sort
    of the scores is done once, for all batches of resamples."""
    values, index = np.unique(np.concatenate([positive, negative]), return_inverse=True)
    P, N, U = len(positive), len(negative), len(values)
    to_value = sparse.csr_matrix((np.ones(P + N), (np.arange(P + N), index)), shape=(P + N, U))
    pos_map, neg_map = to_value[:P].T.tocsr(), to_value[P:].T.tocsr()

    def auc(w_pos: np.ndarray, w_neg: np.ndarray) -> np.ndarray:
        pos_u = np.asarray((pos_map @ w_pos.T).T, dtype=float)       # [B, U] weight per value
        neg_u = np.asarray((neg_map @ w_neg.T).T, dtype=float)
        below = np.cumsum(neg_u, axis=1) - neg_u
        total = pos_u.sum(axis=1) * neg_u.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return (pos_u * (below + neg_u / 2)).sum(axis=1) / total
    return auc
