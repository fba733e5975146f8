"""Bootstrap intervals over test videos (mvclr.evaluation.bootstrap) of the diagnostics the
verdicts test: the softmax entropy share, the share of saturated sigmoid units, the modality gap
against the partners' RMS distance, and the same-video AUC of within-modality coherence.

Each is written as per-segment (or per-pair) contributions computed once on the test pool,
recombined under every resample's video multiplicities.
"""
from __future__ import annotations

import numpy as np

from mvclr.evaluation import bootstrap
from mvclr.evaluation.diagnostics import SATURATED, entropies
from mvclr.evaluation.similarity import normalise


def entropy_share(za: np.ndarray, zv: np.ndarray, tau: float, video_ids, n_boot: int,
                  seed: int) -> list[float]:
    """Interval of the softmax entropy share: per segment, the mean of its a->v row's and
    v->a column's entropy over log n."""
    h_rows, h_cols = entropies(za, zv, tau)
    per_segment = (h_rows + h_cols) / 2 / np.log(len(h_rows))
    return bootstrap.interval(bootstrap.weighted_mean(per_segment), video_ids, n_boot, seed)


def saturation(pre_activation: np.ndarray, video_ids, n_boot: int, seed: int) -> list[float]:
    """Interval of the share of output units beyond +-SATURATED (pre_activation [n, units])."""
    per_segment = np.mean(np.abs(pre_activation) > SATURATED, axis=1)
    return bootstrap.interval(bootstrap.weighted_mean(per_segment), video_ids, n_boot, seed)


def gap_share(za: np.ndarray, zv: np.ndarray, video_ids, n_boot: int, seed: int) -> list[float]:
    """Interval of the modality gap ||mean za - mean zv|| over the partners' RMS distance."""
    za, zv = normalise(za, np.float64), normalise(zv, np.float64)
    squared = np.sum((za - zv) ** 2, axis=1)

    def statistic(w: np.ndarray) -> np.ndarray:
        total = w.sum(axis=1, keepdims=True)
        gap = np.linalg.norm((w @ za - w @ zv) / total, axis=1)
        return gap / np.sqrt((w @ squared) / total[:, 0])
    return bootstrap.interval(statistic, video_ids, n_boot, seed)


def same_video_auc(z: np.ndarray, video_ids, n_boot: int, seed: int) -> list[float]:
    """Interval of the ROC-AUC of same-video against different-video cosine similarities
    (within one modality, each unordered pair once). A pair of one video weighs as that video's
    multiplicity in the resample, a pair of two videos as the product of theirs."""
    z = normalise(z, np.float64)
    video_ids = np.asarray(video_ids)
    i, j = np.triu_indices(len(z), k=1)
    cos = np.einsum("ij,ij->i", z[i], z[j])
    same = video_ids[i] == video_ids[j]

    def statistic(w: np.ndarray) -> np.ndarray:
        return bootstrap.weighted_auc(cos[same], cos[~same], w[:, i[same]],
                                      w[:, i[~same]] * w[:, j[~same]])
    return bootstrap.interval(statistic, video_ids, n_boot, seed, width=len(i))
