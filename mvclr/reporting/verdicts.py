"""Which explanations of the paper's result hold on the data at hand: statements drawn from the
diagnostics (mvclr.evaluation.diagnostics), the retrieval metrics and the probe scores, each
with its criterion (the constants below).

Every tested quantity comes with its 95 % bootstrap interval over test videos: a statement
HOLDS when the whole interval lies on its side of the threshold, DOES NOT HOLD when the whole
interval lies on the other side, and is INCONCLUSIVE when the interval straddles the threshold
(a small test split cannot tell). The one structural statement (sigmoid outputs bound the
logits) is checked exactly. A statement of several conditions holds when all hold and fails
when any fails.
"""
from __future__ import annotations

import numpy as np

from mvclr.evaluation.diagnostics import SATURATED

NEAR_UNIFORM = 0.9       # softmax entropy share above which the softmax is near-uniform
AT_CHANCE = 0.8          # median rank / chance above which a configuration counts as at chance
ALIGNED = 0.5            # ... and below which it aligns (far below chance)
CHANCE_BAND = 0.15       # |authors' code median rank / chance - 1| within which it sits at chance
AUC_MARGIN = 0.02        # probe AUC gain counted as a real difference
GAP_SHARE = 0.5          # modality gap / partner RMS distance above which the gap dominates
COHERENT_AUC = 0.6       # same-video vs different-video AUC below which segments are incoherent
SATURATION_SHARE = 0.5   # share of saturated output units above which the sigmoid blocks gradients

HOLDS, FAILS, INCONCLUSIVE, NA = "HOLDS", "DOES NOT HOLD", "INCONCLUSIVE", "n/a"


def above(interval, threshold: float) -> str:
    """The statement 'value >= threshold' judged on the value's interval."""
    low, high = interval
    return HOLDS if low >= threshold else FAILS if high < threshold else INCONCLUSIVE


def below(interval, threshold: float) -> str:
    """The statement 'value < threshold' judged on the value's interval."""
    low, high = interval
    return HOLDS if high < threshold else FAILS if low >= threshold else INCONCLUSIVE


def within(interval, centre: float, band: float) -> str:
    """The statement '|value - centre| <= band' judged on the value's interval."""
    low, high = interval
    if centre - band <= low and high <= centre + band:
        return HOLDS
    return FAILS if high < centre - band or low > centre + band else INCONCLUSIVE


def both(*verdicts: str) -> str:
    if FAILS in verdicts:
        return FAILS
    return HOLDS if all(v == HOLDS for v in verdicts) else INCONCLUSIVE


def any_of(*verdicts: str) -> str:
    if HOLDS in verdicts:
        return HOLDS
    return FAILS if all(v == FAILS for v in verdicts) else INCONCLUSIVE


def _ci(interval) -> str:
    return f"[{interval[0]:.2f}, {interval[1]:.2f}]"


def rank_ratio(entry: dict, pool: str = "full") -> float:
    """Mean of the a->v and v->a median ranks over the chance median rank, of one
    configuration's retrieval.json entry (`full`: the whole test split; `paper`: chunks)."""
    m = entry[pool]
    return (m["median_rank_a2v"] + m["median_rank_v2a"]) / 2 / m["chance"]["median_rank"]


def authors_ratio(code: dict) -> tuple[float, list[float], str]:
    """The authors' code's median 'rank' over its chance level, its interval and which output
    gave it: the literal one when the test split fills a chunk, else the variant."""
    literal, variant = code["literal"], code["variant"]
    if literal["n_chunks"]:
        value = (literal["median_rank_a2v"] + literal["median_rank_v2a"]) / 2
        return value / literal["chance_median_rank"], literal["ci95"]["ratio"], "literal"
    value = (variant["median_rank_a2v"] + variant["median_rank_v2a"]) / 2
    return value / variant["chance_median_rank"], variant["ci95"]["ratio"], "variant"


def _aggregation_gains(probes: dict) -> list[tuple[str, str]]:
    """(verdict on 'gain > AUC_MARGIN', evidence) per CL representation and task: the best
    other aggregation's AUC against the primary one's, with the interval of the difference."""
    out = []
    for name, entry in probes.items():
        by, primary = entry.get("by_aggregate", {}), entry.get("aggregate")
        if not name.startswith("cl_") or primary not in by:
            continue
        for task in ("genre", "tags"):
            base = by[primary][task]["auc"]
            others = [(v[task]["auc"], k) for k, v in by.items()
                      if k != primary and v[task]["auc"] is not None
                      and "auc_minus_primary_ci95" in v[task]]
            if base is not None and others:
                auc, how = max(others)
                ci = by[how][task]["auc_minus_primary_ci95"]
                out.append((above(ci, AUC_MARGIN + 1e-12),
                            f"{name} {task}: {primary} {base:.3f}, {how} {auc:.3f} "
                            f"(gain {_ci(ci)})"))
    return out


def verdicts(diagnostics: dict, retrieval: dict, probes: dict,
             paper_config: str = "cl_base", aligned_config: str = "aligned") -> list[dict]:
    """Which explanations hold on the data at hand: a list of {claim, evidence, verdict}
    computed from diagnostics.json (stage diagnose), retrieval.json and probes.json (stage
    evaluate). Claims about a configuration or representation that is missing are left out."""
    diag = diagnostics["configs"]
    ret = {"main": retrieval["main"], **retrieval.get("configs", {})}
    out = []

    def add(claim: str, evidence: str, verdict: str) -> None:
        out.append({"claim": claim, "evidence": evidence, "verdict": verdict})

    p = diag.get(paper_config)
    if p is not None:
        add(f"{paper_config}: sigmoid outputs and τ = {p['tau']:g} confine the logits to a range "
            "of at most 1/τ",
            f"smallest cosine {p['cos_min']:.3f}; logit range {p['logit_range']:.3f} "
            f"(1/τ = {1 / p['tau']:.3f})",
            HOLDS if p["cos_min"] >= -1e-6 and p["logit_range"] <= 1 / p["tau"] + 1e-6 else FAILS)
        ci = p["ci95"]["entropy_share"]
        add(f"{paper_config}: hence the softmax over the test pool is near-uniform (entropy "
            f"≥ {NEAR_UNIFORM:.0%} of its maximum log n)",
            f"entropy {p['entropy_share']:.1%} of log {p['n']} {_ci(ci)}; partner probability "
            f"{p['partner_prob_x_n']:.2f} × uniform",
            above(ci, NEAR_UNIFORM))
    if p is not None and paper_config in ret:
        ci = ret[paper_config]["full"]["ci95"]["ratio"]
        add(f"{paper_config}: hence it does not align (test median rank ≥ {AT_CHANCE:.0%} of chance)",
            f"test median rank {rank_ratio(ret[paper_config]):.2f} × chance {_ci(ci)} (whole test "
            f"split); partner-vs-negative similarity AUC {p['separation_auc']:.3f}",
            above(ci, AT_CHANCE))
    perfect = diagnostics.get("authors_code_perfect")
    if perfect is not None and all("authors_code" in e for e in ret.values()):
        codes = {name: authors_ratio({"literal": e["authors_code"],
                                      "variant": e["authors_code_variant"]})
                 for name, e in ret.items()}
        cp, cp_ci, which = authors_ratio(perfect)
        mean = float(np.mean([c for c, _, _ in codes.values()]))
        true = float(np.mean([rank_ratio(e, "paper") for e in ret.values()]))
        add("the paper's chance-level Table 1 is what the authors' evaluation code reports "
            f"whatever the embeddings (within {CHANCE_BAND:.0%} of chance for every "
            "configuration, also for perfectly aligned embeddings)",
            f"authors' code ({which} output) {mean:.2f} × chance on average over the "
            f"{len(codes)} configurations (true median rank {true:.2f} × chance); {cp:.2f} × "
            f"chance {_ci(cp_ci)} for embeddings whose true median rank is 1 (video := audio "
            "embedding of main)",
            both(within(cp_ci, 1.0, CHANCE_BAND),
                 *(within(ci, 1.0, CHANCE_BAND) for _, ci, _ in codes.values())))
    if p is not None and p.get("saturation") is not None:
        cis = p["ci95"]["saturation"]
        add(f"{paper_config}: the output sigmoids saturate, so little gradient reaches the heads "
            f"(> {SATURATION_SHARE:.0%} of output units beyond ±{SATURATED:g} in a head)",
            "saturated: " + ", ".join(f"{m} {p['saturation'][m]:.1%} {_ci(ci)}"
                                      for m, ci in cis.items()),
            any_of(*(above(ci, SATURATION_SHARE + 1e-12) for ci in cis.values())))
    a = diag.get(aligned_config)
    if a is not None and p is not None and aligned_config in ret and paper_config in ret:
        ra_ci = ret[aligned_config]["full"]["ci95"]["ratio"]
        ea, ep = a["ci95"]["entropy_share"], p["ci95"]["entropy_share"]
        sharper = HOLDS if ea[1] < ep[0] else FAILS if ea[0] > ep[1] else INCONCLUSIVE
        add(f"{aligned_config} (no sigmoid, learned τ) sharpens the softmax and aligns far below "
            f"chance (median rank < {ALIGNED:.0%} of chance)",
            f"entropy {a['entropy_share']:.1%} {_ci(ea)} vs {p['entropy_share']:.1%} {_ci(ep)} "
            f"of {paper_config}; τ {a['tau']:.3f}; test median rank "
            f"{rank_ratio(ret[aligned_config]):.2f} × chance {_ci(ra_ci)} vs "
            f"{rank_ratio(ret[paper_config]):.2f}",
            both(sharper, below(ra_ci, ALIGNED)))
    for name in (paper_config, aligned_config):
        if name in diag:
            d = diag[name]
            share = d["modality_gap"] / max(np.sqrt(d["alignment"]), 1e-12)
            ci = d["ci95"]["gap_share"]
            add(f"{name}: a modality gap separates audio from video (the offset between the "
                f"modality means is > {GAP_SHARE:.0%} of the partners' RMS distance)",
                f"gap {d['modality_gap']:.3f}, partner RMS distance {np.sqrt(d['alignment']):.3f} "
                f"({share:.0%}, {_ci(ci)}); uniformity audio {d['uniformity_audio']:.2f}, video "
                f"{d['uniformity_video']:.2f}",
                above(ci, GAP_SHARE + 1e-12))
    frozen = diagnostics.get("frozen", {}).get("r2plus1d")
    if frozen is not None and frozen["same_video_auc"] is not None:
        ci = frozen["ci95"]["same_video_auc"]
        add("segments of one video are barely more alike than segments of different videos "
            f"(R(2+1)D features, same-video AUC < {COHERENT_AUC}), so their mean mixes unrelated content",
            f"cosine within a video {frozen['within_video']:.3f}, between videos "
            f"{frozen['between_video']:.3f}, same-video AUC {frozen['same_video_auc']:.3f} {_ci(ci)}",
            below(ci, COHERENT_AUC))
    gains = _aggregation_gains(probes)
    if gains:
        held = sum(v == HOLDS for v, _ in gains)
        failed = sum(v == FAILS for v, _ in gains)
        add("mean-pooling segments hurts the CL video vector (another aggregation beats it by "
            f"> {AUC_MARGIN} AUC in most probes)",
            "; ".join(e for _, e in gains),
            HOLDS if held > len(gains) / 2 else FAILS if failed >= len(gains) / 2 else INCONCLUSIVE)
    return out
