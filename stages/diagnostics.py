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

`verdicts` turns these numbers, the retrieval metrics and the probe scores into statements of
which explanations hold, each with its criterion (the constants below).
"""
from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_auc_score


HIST_BINS = np.linspace(-1.0, 1.0, 41)     # cosine similarity histogram edges
NEAR_UNIFORM = 0.9       # softmax entropy share above which the softmax is near-uniform
AT_CHANCE = 0.8          # median rank / chance above which a configuration counts as at chance
ALIGNED = 0.5            # ... and below which it aligns (far below chance)
CHANCE_BAND = 0.15       # |authors' code median rank / chance - 1| within which it sits at chance
AUC_MARGIN = 0.02        # probe AUC difference counted as a real difference
GAP_SHARE = 0.5          # modality gap / partner RMS distance above which the gap dominates
COHERENT_AUC = 0.6       # same-video vs different-video AUC below which segments are incoherent
SATURATED = 5.0          # |sigmoid input| beyond which a unit counts as saturated
SATURATION_SHARE = 0.5   # share of saturated output units above which the sigmoid blocks gradients
BLOCK_ELEMENTS = 1 << 24


def _unit(z: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm, float64 (all-zero rows stay zero)."""
    z = np.asarray(z, dtype=np.float64)
    if z.ndim != 2:
        raise ValueError(f"embeddings must be a 2-d array [n, dim], got shape {z.shape}")
    return z / np.maximum(np.linalg.norm(z, axis=1, keepdims=True), np.finfo(np.float64).tiny)


def _pairs(za: np.ndarray, zv: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    za, zv = _unit(za), _unit(zv)
    if za.shape != zv.shape or len(za) < 2:
        raise ValueError(f"need at least 2 partner pairs of equal shape, got {za.shape} and {zv.shape}")
    return za, zv


def _entropy(logits: np.ndarray, axis: int) -> np.ndarray:
    """Entropy (nats) of softmax(logits) along `axis`, and the softmax itself."""
    shifted = logits - logits.max(axis=axis, keepdims=True)
    p = np.exp(shifted)
    p /= p.sum(axis=axis, keepdims=True)
    return -np.sum(p * np.log(np.maximum(p, 1e-300)), axis=axis), p


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
    z = _unit(z)
    n = len(z)
    if n < 2:
        raise ValueError("uniformity needs at least 2 embeddings")
    step = max(1, BLOCK_ELEMENTS // n)
    total, pairs = 0.0, n * (n - 1) / 2
    for a in range(0, n, step):
        block = z[a:a + step]
        sq = np.maximum(2 - 2 * block @ z.T, 0)          # unit vectors: ||x-y||^2 = 2 - 2 cos
        upper = np.arange(n)[None, :] > np.arange(a, a + len(block))[:, None]
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
    z = _unit(z)
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


# ---- statements ----

def rank_ratio(entry: dict, pool: str = "full") -> float:
    """Mean of the a->v and v->a median ranks over the chance median rank, of one
    configuration's retrieval.json entry (`full`: the whole test split; `paper`: chunks)."""
    m = entry[pool]
    return (m["median_rank_a2v"] + m["median_rank_v2a"]) / 2 / m["chance"]["median_rank"]


def authors_code_ratio(entry: dict) -> float:
    """Mean of the authors' code's a->v and v->a 'median ranks' over chance (paper chunks)."""
    code = entry["authors_code"]
    return (code["median_rank_a2v"] + code["median_rank_v2a"]) / 2 / entry["paper"]["chance"]["median_rank"]


def _verdict(holds: bool | None) -> str:
    return "n/a" if holds is None else ("HOLDS" if holds else "DOES NOT HOLD")


def _aggregation_gains(probes: dict) -> list[tuple[float, str]]:
    """(best other aggregation's AUC - mean's AUC, evidence) per CL representation and task."""
    gains = []
    for name, entry in probes.items():
        by = entry.get("by_aggregate", {})
        if not name.startswith("cl_") or "mean" not in by:
            continue
        for task in ("genre", "tags"):
            mean = by["mean"][task]["auc"]
            others = [(v[task]["auc"], k) for k, v in by.items()
                      if k != "mean" and v[task]["auc"] is not None]
            if mean is not None and others:
                auc, how = max(others)
                gains.append((auc - mean, f"{name} {task}: mean {mean:.3f}, {how} {auc:.3f}"))
    return gains


def verdicts(diagnostics: dict, retrieval: dict, probes: dict,
             paper_config: str = "cl_base", aligned_config: str = "aligned") -> list[dict]:
    """Which explanations hold on the data at hand: a list of {claim, evidence, verdict}
    computed from diagnostics.json (stage diagnose), retrieval.json and probes.json (stage
    evaluate). Claims about a configuration or representation that is missing are left out."""
    diag = diagnostics["configs"]
    ret = {"main": retrieval["main"], **retrieval.get("configs", {})}
    out = []

    def add(claim: str, evidence: str, holds: bool | None) -> None:
        out.append({"claim": claim, "evidence": evidence, "verdict": _verdict(holds)})

    p = diag.get(paper_config)
    if p is not None:
        add(f"{paper_config}: sigmoid outputs and τ = {p['tau']:g} confine the logits to a range "
            "of at most 1/τ",
            f"smallest cosine {p['cos_min']:.3f}; logit range {p['logit_range']:.3f} "
            f"(1/τ = {1 / p['tau']:.3f})",
            p["cos_min"] >= -1e-6 and p["logit_range"] <= 1 / p["tau"] + 1e-6)
        add(f"{paper_config}: hence the softmax over the test pool is near-uniform (entropy "
            f"≥ {NEAR_UNIFORM:.0%} of its maximum log n)",
            f"entropy {p['entropy_share']:.1%} of log {p['n']}; partner probability "
            f"{p['partner_prob_x_n']:.2f} × uniform",
            p["entropy_share"] >= NEAR_UNIFORM)
    if p is not None and paper_config in ret:
        r = rank_ratio(ret[paper_config])
        add(f"{paper_config}: hence it does not align (test median rank ≥ {AT_CHANCE:.0%} of chance)",
            f"test median rank {r:.2f} × chance (whole test split); partner-vs-negative "
            f"similarity AUC {p['separation_auc']:.3f}",
            r >= AT_CHANCE)
    code = [authors_code_ratio(e) for e in ret.values() if "authors_code" in e]
    perfect = diagnostics.get("authors_code_perfect")
    if code and perfect is not None:
        c = float(np.mean(code))
        cp = (perfect["median_rank_a2v"] + perfect["median_rank_v2a"]) / 2 / perfect["chance_median_rank"]
        true = float(np.mean([rank_ratio(e, "paper") for e in ret.values()]))
        add("the paper's chance-level Table 1 is what the authors' evaluation code reports "
            f"whatever the embeddings (within {CHANCE_BAND:.0%} of chance, also for perfectly "
            "aligned embeddings)",
            f"authors' code {c:.2f} × chance on average over the {len(code)} configurations "
            f"(true median rank {true:.2f} × chance, same chunks); {cp:.2f} × chance for "
            "embeddings whose true median rank is 1 (video := audio embedding of main)",
            abs(c - 1) <= CHANCE_BAND and abs(cp - 1) <= CHANCE_BAND)
    if p is not None and p.get("saturation") is not None:
        add(f"{paper_config}: the output sigmoids saturate, so little gradient reaches the heads "
            f"(> {SATURATION_SHARE:.0%} of output units beyond ±{SATURATED:g})",
            "saturated: " + ", ".join(f"{m} {v:.1%}" for m, v in p["saturation"].items()
                                      if v is not None),
            max(v for v in p["saturation"].values() if v is not None) > SATURATION_SHARE)
    a = diag.get(aligned_config)
    if a is not None and p is not None and aligned_config in ret and paper_config in ret:
        ra, rp = rank_ratio(ret[aligned_config]), rank_ratio(ret[paper_config])
        add(f"{aligned_config} (no sigmoid, learned τ) sharpens the softmax and aligns far below "
            f"chance (median rank < {ALIGNED:.0%} of chance)",
            f"entropy {a['entropy_share']:.1%} vs {p['entropy_share']:.1%} of {paper_config}; "
            f"τ {a['tau']:.3f}; test median rank {ra:.2f} vs {rp:.2f} × chance",
            a["entropy_share"] < p["entropy_share"] and ra < ALIGNED)
    for name in (paper_config, aligned_config):
        if name in diag:
            d = diag[name]
            share = d["modality_gap"] / max(np.sqrt(d["alignment"]), 1e-12)
            add(f"{name}: a modality gap separates audio from video (the offset between the "
                f"modality means is > {GAP_SHARE:.0%} of the partners' RMS distance)",
                f"gap {d['modality_gap']:.3f}, partner RMS distance {np.sqrt(d['alignment']):.3f} "
                f"({share:.0%}); uniformity audio {d['uniformity_audio']:.2f}, video "
                f"{d['uniformity_video']:.2f}",
                share > GAP_SHARE)
    frozen = diagnostics.get("frozen", {}).get("r2plus1d")
    if frozen is not None and frozen["same_video_auc"] is not None:
        add("segments of one video are barely more alike than segments of different videos "
            f"(R(2+1)D features, same-video AUC < {COHERENT_AUC}), so their mean mixes unrelated content",
            f"cosine within a video {frozen['within_video']:.3f}, between videos "
            f"{frozen['between_video']:.3f}, same-video AUC {frozen['same_video_auc']:.3f}",
            frozen["same_video_auc"] < COHERENT_AUC)
    gains = _aggregation_gains(probes)
    if gains:
        add("mean-pooling segments hurts the CL video vector (another aggregation beats it by "
            f"> {AUC_MARGIN} AUC in most probes)",
            "; ".join(e for _, e in gains), sum(g > AUC_MARGIN for g, _ in gains) > len(gains) / 2)
    return out
