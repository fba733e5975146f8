"""Bootstrap intervals over test videos (mvclr.evaluation.bootstrap) of the diagnostics the
verdicts test: the softmax entropy share, the share of saturated sigmoid units, the modality gap
against the partners' RMS distance, and the same-video AUC of within-modality coherence.

Each is written as per-segment (or per-pair) contributions computed once on the test split,
recombined under every resample's video multiplicities. Pairwise contributions come from pools
of test segments (the paper's chunks, as mvclr.evaluation.diagnostics computes the estimates);
the same-video AUC's interval from a seeded sample of at most AUC_POOLS of them, each with all its
same-video pairs and a seeded sample of at most NEGATIVE_PAIRS different-video pairs (its cost
grows with the pairs times the resamples; the interval of fewer pools' mean is the wider one). Embeddings are
arrays or RowFiles, read by pools or blocks.
"""
from __future__ import annotations

import numpy as np

from mvclr.evaluation import bootstrap
from mvclr.evaluation.diagnostics import entropies
from mvclr.evaluation.similarity import normalise

AUC_POOLS = 10              # pools behind the same-video AUC's interval
NEGATIVE_PAIRS = 50_000     # different-video pairs per pool behind it (a seeded sample)
ROWS = 1 << 14              # rows read at a time


def entropy_share(za, zv, tau: float, video_ids, n_boot: int, seed: int,
                  pools: list[np.ndarray] | None = None) -> list[float]:
    """Interval of the softmax entropy share: per segment, the mean of its a->v row's and
    v->a column's entropy over log n, within its pool of n rows (index arrays; default one
    pool of all)."""
    per_segment = np.empty(len(za))
    for rows in [np.arange(len(za))] if pools is None else pools:
        h_rows, h_cols = entropies(za[rows], zv[rows], tau)
        per_segment[rows] = (h_rows + h_cols) / 2 / np.log(len(rows))
    return bootstrap.interval(bootstrap.weighted_mean(per_segment), video_ids, n_boot, seed)


def saturation(per_segment: np.ndarray, video_ids, n_boot: int, seed: int) -> list[float]:
    """Interval of the share of output units beyond +-SATURATED, from each segment's share."""
    return bootstrap.interval(bootstrap.weighted_mean(per_segment), video_ids, n_boot, seed)


def gap_share(za, zv, video_ids, n_boot: int, seed: int) -> list[float]:
    """Interval of the modality gap ||mean za - mean zv|| over the partners' RMS distance."""
    def statistic(w: np.ndarray) -> np.ndarray:
        gap, squared = 0.0, 0.0
        for a in range(0, len(za), ROWS):
            diff = normalise(za[a:a + ROWS], np.float64) - normalise(zv[a:a + ROWS], np.float64)
            gap = gap + w[:, a:a + ROWS] @ diff
            squared = squared + w[:, a:a + ROWS] @ np.sum(diff ** 2, axis=1)
        total = w.sum(axis=1)
        return np.linalg.norm(gap / total[:, None], axis=1) / np.sqrt(squared / total)
    return bootstrap.interval(statistic, video_ids, n_boot, seed)


def same_video_auc(z, video_ids, n_boot: int, seed: int,
                   pools: list[np.ndarray] | None = None) -> list[float]:
    """Interval of the ROC-AUC of same-video against different-video cosine similarities
    (within one modality, each unordered pair of a pool once), averaged over a seeded sample
    of at most AUC_POOLS pools (index arrays; default one pool of all), different-video pairs
    sampled as the module docstring says. A pair of one video weighs as that video's
    multiplicity in the resample, a pair of two videos as the product of theirs."""
    video_ids = np.asarray(video_ids)
    pools = [np.arange(len(z))] if pools is None else pools
    rng = np.random.default_rng(seed)
    if len(pools) > AUC_POOLS:
        pools = [pools[c] for c in np.sort(rng.choice(len(pools), AUC_POOLS, replace=False))]
    terms = []
    for rows in pools:
        x = normalise(z[rows], np.float64)
        i, j = np.triu_indices(len(rows), k=1)
        same = video_ids[rows[i]] == video_ids[rows[j]]
        negative = np.flatnonzero(~same)
        if len(negative) > NEGATIVE_PAIRS:
            keep = np.sort(np.r_[np.flatnonzero(same), rng.choice(negative, NEGATIVE_PAIRS, replace=False)])
            i, j, same = i[keep], j[keep], same[keep]
        cos = (x @ x.T)[i, j]                          # not x[i]: pairs x dim
        terms.append((rows[i], rows[j], same, bootstrap.auc_under_weights(cos[same], cos[~same])))

    def statistic(w: np.ndarray) -> np.ndarray:
        aucs = [auc(w[:, i[same]], w[:, i[~same]] * w[:, j[~same]]) for i, j, same, auc in terms]
        aucs = np.stack(aucs)
        counted = np.isfinite(aucs).sum(axis=0)          # pools the resample has both kinds of
        return np.where(counted > 0, np.nansum(aucs, axis=0) / np.maximum(counted, 1), np.nan)
    return bootstrap.interval(statistic, video_ids, n_boot, seed,
                              width=max(len(t[0]) for t in terms))
