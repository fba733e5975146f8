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

A large test split is diagnosed by pools (`diagnose` with `pools`: the paper's chunks of
`eval.rank_pool` segments): what is pairwise (logits and softmax entropy, uniformity, the
similarity groups and their histograms, the AUCs, coherence) is computed within each pool
(`pool_terms`) and merged (`combine`): entropy share and partner probability are means over
segments (each segment's within its pool), AUCs are averaged over the pools with equal weight;
uniformity, group means, standard deviations, histograms and coherence means are pooled over all
within-pool pairs; the logit extremes are the extremes over pools. What is per pair (alignment, the modality gap) is exact over the whole split. With one
pool (a split no larger than the pool) every figure is the whole split's.
"""
from __future__ import annotations

import numpy as np
from scipy.stats import mannwhitneyu

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


def _uniformity_terms(z: np.ndarray, t: float = 2.0) -> tuple[float, float]:
    """(sum over pairs i < j of exp(-t ||z_i - z_j||^2), number of pairs) of unit vectors z."""
    n = len(z)
    total = 0.0
    for rows in query_blocks(n, n):
        sq = np.maximum(2 - 2 * z[rows] @ z.T, 0)        # unit vectors: ||x-y||^2 = 2 - 2 cos
        upper = np.arange(n)[None, :] > np.arange(rows.start, rows.stop)[:, None]
        total += np.exp(-t * sq[upper]).sum()
    return total, n * (n - 1) / 2


def uniformity(z: np.ndarray, t: float = 2.0) -> float:
    """Wang & Isola's uniformity: log mean over pairs i < j of exp(-t ||z_i - z_j||^2)."""
    z = normalise(z, np.float64)
    if len(z) < 2:
        raise ValueError("uniformity needs at least 2 embeddings")
    total, pairs = _uniformity_terms(z, t)
    return float(np.log(total / pairs))


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
    """ROC-AUC of partner similarities against negative similarities (ties count one half): the
    Mann-Whitney U of the two samples over their number of pairs (one sort; a pool holds
    millions of pairs)."""
    if len(positive) == 0 or len(negative) == 0:
        return None
    u = mannwhitneyu(positive, negative, method="asymptotic", use_continuity=False).statistic
    return float(u / (len(positive) * len(negative)))


def coherence_terms(z: np.ndarray, video_ids) -> dict:
    """Within-modality cosine similarities of one pool, each unordered pair once: sum and count
    of same-video and of different-video pairs, and the ROC-AUC of the former against the latter."""
    z = normalise(z, np.float64)
    video_ids = np.asarray(video_ids)
    c = z @ z.T
    same = video_ids[:, None] == video_ids[None, :]
    upper = np.triu(np.ones_like(same), k=1)
    within, between = c[same & upper], c[~same & upper]
    return {"within": (float(within.sum()), len(within)), "between": (float(between.sum()), len(between)),
            "auc": separation_auc(within, between)}


def _mean_of(values) -> float | None:
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else None


def _pooled(terms: list, key: str) -> float | None:
    total, count = (sum(t[key][i] for t in terms) for i in (0, 1))
    return total / count if count else None


def combine_coherence(terms: list[dict]) -> dict:
    """Coherence over pools: the pooled means of `coherence_terms` and the mean of their AUCs."""
    return {"within_video": _pooled(terms, "within"), "between_video": _pooled(terms, "between"),
            "same_video_auc": _mean_of(t["auc"] for t in terms)}


def coherence(z: np.ndarray, video_ids) -> dict:
    """Within-modality cosine similarity of two segments of one video against two segments of
    different videos (each unordered pair once): both means and the ROC-AUC of same-video pairs
    against different-video pairs (0.5: a video's segments are no more alike than any two)."""
    return combine_coherence([coherence_terms(z, video_ids)])


def saturation(pre_activation: np.ndarray, threshold: float = SATURATED) -> float:
    """Share of sigmoid units whose input lies beyond +-threshold, where the sigmoid's slope
    is below sigmoid'(threshold) (0.0066 at 5): their gradient hardly passes."""
    return float(np.mean(np.abs(np.asarray(pre_activation)) > threshold))


def pool_terms(za: np.ndarray, zv: np.ndarray, video_ids, tau: float) -> dict:
    """The statistics of one pool of partner pairs as values, sums and counts for `combine`."""
    za, zv = _pairs(za, zv)
    groups = similarity_groups(za, zv, video_ids)
    return {"n": len(za), "logits": logit_stats(za, zv, tau),
            "alignment": alignment(za, zv) * len(za), "sums": (za.sum(axis=0), zv.sum(axis=0)),
            "uniformity": {m: _uniformity_terms(z) for m, z in (("audio", za), ("video", zv))},
            "groups": {k: (float(v.sum()), float((v ** 2).sum()), len(v)) for k, v in groups.items()},
            "histograms": histograms(groups),
            "aucs": {"separation_auc": separation_auc(groups["positive"], groups["negative"]),
                     "partner_vs_same_video_auc": separation_auc(groups["positive"],
                                                                 groups["same_video"])},
            "coherence": {m: coherence_terms(z, video_ids) for m, z in (("audio", za), ("video", zv))}}


def combine(terms: list[dict], tau: float) -> dict:
    """Every statistic of the module docstring from the `pool_terms` of the pools."""
    n = sum(t["n"] for t in terms)
    logits = [t["logits"] for t in terms]
    low, high = min(x["logit_min"] for x in logits), max(x["logit_max"] for x in logits)
    cos_min = min(x["cos_min"] for x in logits)
    summary = {}
    for k in terms[0]["groups"]:
        total, squares, count = (sum(t["groups"][k][i] for t in terms) for i in range(3))
        mean = total / count if count else None
        summary[k] = {"mean": mean, "std": float(np.sqrt(max(squares / count - mean ** 2, 0)))
                      if count else None, "count": int(count)}
    gap = (sum(t["sums"][0] for t in terms) - sum(t["sums"][1] for t in terms)) / n
    return {"n": int(n), "tau": float(tau), "logit_min": low, "logit_max": high,
            "logit_range": high - low, "logit_bound": (1.0 if cos_min >= -1e-6 else 2.0) / tau,
            "cos_min": cos_min,
            **{k: float(np.average([x[k] for x in logits], weights=[t["n"] for t in terms]))
               for k in ("entropy_share", "partner_prob_x_n")},
            "alignment": sum(t["alignment"] for t in terms) / n,
            **{f"uniformity_{m}": float(np.log(sum(t["uniformity"][m][0] for t in terms)
                                               / sum(t["uniformity"][m][1] for t in terms)))
               for m in ("audio", "video")},
            "modality_gap": float(np.linalg.norm(gap)),
            "similarity": summary,
            **{k: _mean_of(t["aucs"][k] for t in terms)
               for k in ("separation_auc", "partner_vs_same_video_auc")},
            **{f"coherence_{m}": combine_coherence([t["coherence"][m] for t in terms])
               for m in ("audio", "video")},
            "histograms": {k: np.sum([t["histograms"][k] for t in terms], axis=0).tolist()
                           for k in terms[0]["histograms"]}}


def diagnose(za, zv, video_ids, tau: float, pools: list[np.ndarray] | None = None) -> dict:
    """Every statistic of the module docstring for one configuration's partner pairs (arrays or
    RowFiles), over `pools` of rows (index arrays; default one pool of all); "histograms" holds
    the summed similarity histograms."""
    video_ids = np.asarray(video_ids)
    pools = [np.arange(len(za))] if pools is None else pools
    return combine([pool_terms(za[rows], zv[rows], video_ids[rows], tau) for rows in pools], tau)


def coherence_over_pools(z, video_ids, pools: list[np.ndarray]) -> dict:
    """`coherence` of vectors z (array or RowFile) over `pools` of rows (index arrays)."""
    video_ids = np.asarray(video_ids)
    return combine_coherence([coherence_terms(z[rows], video_ids[rows]) for rows in pools])
