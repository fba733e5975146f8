"""Why contrastive alignment succeeds or fails: statistics of a trained configuration's embeddings.

All on one pool of partner pairs (za[i], zv[i]) (the test split), embeddings L2-normalised,
cosine similarity C[i, k] = cos(za[i], zv[k]), logits S = C / tau as in the loss:

- logits: range max S - min S, and the bound the head allows (1/tau when every cosine is >= 0,
  as sigmoid outputs force; 2/tau otherwise); softmax entropy of every row (a->v) and column
  (v->a) of S, as a share of the uniform maximum log n (1 = the softmax cannot tell the
  partner from the others); the mean softmax probability of the partner times n (1 = chance).
- alignment (Wang & Isola 2020): E ||za_i - zv_i||^2 over partners (0 = partners coincide,
  4 = opposite); uniformity per modality: log E exp(-2 ||z_i - z_j||^2) over pairs i < j
  (0 = collapsed to one point; about -4 for points spread uniformly on a high-dimensional
  sphere).
- modality gap (Liang et al. 2022): || mean(za) - mean(zv) ||.
- cosine similarities of partners (positive), of the partner's other segments (same video:
  neither positive nor a true negative) and of segments of other videos (negative); their
  histograms and the ROC-AUC positive vs negative (0.5 = no separation, 1 = every partner above
  every negative), and positive vs same video (how far the partner stands out within its video).
- coherence per modality: mean cosine between segments of one video and between segments of
  different videos (within-modality), and the ROC-AUC of the former against the latter: near
  0.5, a video's segments are no more alike than random segments and their mean mixes
  unrelated content.
- saturation: the share of output sigmoid units driven beyond +-SATURATED, where the sigmoid
  passes almost no gradient.
"""
from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_auc_score

from mvclr.evaluation.similarity import normalise, query_blocks

HIST_BINS = np.linspace(-1.0, 1.0, 41)     # cosine similarity histogram edges
SATURATED = 5.0          # |sigmoid input| beyond which a unit counts as saturated


def _pairs(za: np.ndarray, zv: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    za, zv = normalise(za, np.float64), normalise(zv, np.float64)
    if za.shape != zv.shape or len(za) < 2:
        raise ValueError(f"need at least 2 partner pairs of equal shape, got {za.shape} and {zv.shape}")
    return za, zv


def _entropy(logits: np.ndarray, axis: int) -> np.ndarray:
    """Entropy (nats) of softmax(logits) along `axis`, and the softmax itself."""
    shifted = logits - logits.max(axis=axis, keepdims=True)
    p = np.exp(shifted)
    p /= p.sum(axis=axis, keepdims=True)
    return -np.sum(p * np.log(np.maximum(p, 1e-300)), axis=axis), p


def entropies(za: np.ndarray, zv: np.ndarray, tau: float) -> tuple[np.ndarray, np.ndarray]:
    """Softmax entropy (nats) of every row (a->v query) and every column (v->a query) of the
    logits cos/tau over the pool."""
    za, zv = _pairs(za, zv)
    s = za @ zv.T / tau
    return _entropy(s, axis=1)[0], _entropy(s, axis=0)[0]


def logit_stats(za: np.ndarray, zv: np.ndarray, tau: float) -> dict:
    """Range of the logits cos/tau, the bound of that range, softmax entropy share and partner
    probability (x n) over the pool, each the mean of a->v (rows) and v->a (columns)."""
    za, zv = _pairs(za, zv)
    s = za @ zv.T / tau
    n = len(s)
    h_rows, p_rows = _entropy(s, axis=1)
    h_cols, p_cols = _entropy(s, axis=0)
    diag = np.arange(n)
    cos_min = float(s.min() * tau)
    return {"tau": float(tau), "logit_min": float(s.min()), "logit_max": float(s.max()),
            "logit_range": float(s.max() - s.min()),
            "logit_bound": (1.0 if cos_min >= -1e-6 else 2.0) / tau,
            "cos_min": cos_min,
            "entropy_share": float((h_rows.mean() + h_cols.mean()) / 2 / np.log(n)),
            "partner_prob_x_n": float((p_rows[diag, diag].mean() + p_cols[diag, diag].mean()) / 2 * n)}


def alignment(za: np.ndarray, zv: np.ndarray, alpha: float = 2.0) -> float:
    """Wang & Isola's alignment: mean ||za_i - zv_i||^alpha over partner pairs."""
    za, zv = _pairs(za, zv)
    return float(np.mean(np.linalg.norm(za - zv, axis=1) ** alpha))


def uniformity(z: np.ndarray, t: float = 2.0) -> float:
    """Wang & Isola's uniformity: log mean over pairs i < j of exp(-t ||z_i - z_j||^2)."""
    z = normalise(z, np.float64)
    n = len(z)
    if n < 2:
        raise ValueError("uniformity needs at least 2 embeddings")
    total, pairs = 0.0, n * (n - 1) / 2
    for rows in query_blocks(n, n):
        sq = np.maximum(2 - 2 * z[rows] @ z.T, 0)        # unit vectors: ||x-y||^2 = 2 - 2 cos
        upper = np.arange(n)[None, :] > np.arange(rows.start, rows.stop)[:, None]
        total += np.exp(-t * sq[upper]).sum()
    return float(np.log(total / pairs))


def modality_gap(za: np.ndarray, zv: np.ndarray) -> float:
    """Distance between the means of the two modalities' L2-normalised embeddings."""
    za, zv = _pairs(za, zv)
    return float(np.linalg.norm(za.mean(axis=0) - zv.mean(axis=0)))


def similarity_groups(za: np.ndarray, zv: np.ndarray, video_ids) -> dict[str, np.ndarray]:
    """Cosine similarities cos(za[i], zv[k]) split into positive (k = i), same_video (k != i,
    one video) and negative (other videos); both directions are the same matrix."""
    za, zv = _pairs(za, zv)
    video_ids = np.asarray(video_ids)
    if len(video_ids) != len(za):
        raise ValueError(f"{len(video_ids)} video ids for {len(za)} pairs")
    c = za @ zv.T
    same = video_ids[:, None] == video_ids[None, :]
    eye = np.eye(len(c), dtype=bool)
    return {"positive": c[eye], "same_video": c[same & ~eye], "negative": c[~same]}


def histograms(groups: dict[str, np.ndarray], bins: np.ndarray = HIST_BINS) -> dict[str, list[int]]:
    return {k: np.histogram(np.clip(v, bins[0], bins[-1]), bins=bins)[0].tolist()
            for k, v in groups.items()}


def separation_auc(positive: np.ndarray, negative: np.ndarray) -> float | None:
    """ROC-AUC of partner similarities against negative similarities."""
    if len(positive) == 0 or len(negative) == 0:
        return None
    y = np.r_[np.ones(len(positive)), np.zeros(len(negative))]
    return float(roc_auc_score(y, np.r_[positive, negative]))


def coherence(z: np.ndarray, video_ids) -> dict:
    """Within-modality cosine similarity of two segments of one video against two segments of
    different videos (each unordered pair once): both means and the ROC-AUC of same-video pairs
    against different-video pairs (0.5: a video's segments are no more alike than any two)."""
    z = normalise(z, np.float64)
    video_ids = np.asarray(video_ids)
    c = z @ z.T
    same = video_ids[:, None] == video_ids[None, :]
    upper = np.triu(np.ones_like(same), k=1)
    within, between = c[same & upper], c[~same & upper]
    return {"within_video": float(within.mean()) if len(within) else None,
            "between_video": float(between.mean()) if len(between) else None,
            "same_video_auc": separation_auc(within, between)}


def saturation(pre_activation: np.ndarray, threshold: float = SATURATED) -> float:
    """Share of sigmoid units whose input lies beyond +-threshold, where the sigmoid's slope
    is below sigmoid'(threshold) (0.0066 at 5): their gradient hardly passes."""
    return float(np.mean(np.abs(np.asarray(pre_activation)) > threshold))


def diagnose(za: np.ndarray, zv: np.ndarray, video_ids, tau: float) -> dict:
    """Every statistic of the module docstring for one configuration's pool."""
    groups = similarity_groups(za, zv, video_ids)
    summary = {k: {"mean": float(v.mean()) if len(v) else None,
                   "std": float(v.std()) if len(v) else None, "count": int(len(v))}
               for k, v in groups.items()}
    return {"n": int(len(za)), **logit_stats(za, zv, tau),
            "alignment": alignment(za, zv),
            "uniformity_audio": uniformity(za), "uniformity_video": uniformity(zv),
            "modality_gap": modality_gap(za, zv),
            "similarity": summary,
            "separation_auc": separation_auc(groups["positive"], groups["negative"]),
            "partner_vs_same_video_auc": separation_auc(groups["positive"], groups["same_video"]),
            "coherence_audio": coherence(za, video_ids), "coherence_video": coherence(zv, video_ids)}
