"""Which explanations of the paper's result hold on the data at hand: statements drawn from the
diagnostics (mvclr.evaluation.diagnostics), the retrieval metrics and the probe scores, each
with its criterion (the constants below)."""
from __future__ import annotations

import numpy as np

from mvclr.evaluation.diagnostics import SATURATED

NEAR_UNIFORM = 0.9       # softmax entropy share above which the softmax is near-uniform
AT_CHANCE = 0.8          # median rank / chance above which a configuration counts as at chance
ALIGNED = 0.5            # ... and below which it aligns (far below chance)
CHANCE_BAND = 0.15       # |authors' code median rank / chance - 1| within which it sits at chance
AUC_MARGIN = 0.02        # probe AUC difference counted as a real difference
GAP_SHARE = 0.5          # modality gap / partner RMS distance above which the gap dominates
COHERENT_AUC = 0.6       # same-video vs different-video AUC below which segments are incoherent
SATURATION_SHARE = 0.5   # share of saturated output units above which the sigmoid blocks gradients


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
