"""reports/tables.md from the evaluation's and the diagnosis' metrics: Tables 1 and 2 laid out as
in the paper, this run beside the paper's figures; Table 3, the video-level aggregations; the
diagnostics and which explanations of the paper's result hold on this data
(mvclr.reporting.verdicts)."""
from __future__ import annotations

from mvclr.evaluation.diagnostics import SATURATED
from mvclr.reporting.verdicts import rank_ratio, verdicts


# Table 1 of the paper: median rank a->v, v->a per configuration of params `configs`
PAPER_TABLE1 = {
    "cl_base": (507, 502), "emb512": (494, 498), "four_layers": (503, 501),
    "single_head": (499, 497), "tau03": (497, 503), "ae_init": (501, 500),
}
CONFIG_TITLES = {
    "main": "main (top-level params)", "cl_base": "CL_base", "emb512": "Embedding size 512",
    "four_layers": "Four projection layers", "single_head": "Single projection head",
    "tau03": "τ = 0.3", "ae_init": "Autoencoder initiated",
    "aligned": "Aligned (no sigmoid, learned τ)",
}
# Table 2 of the paper: tagging AUC, F1; genre AUC, F1
PAPER_TABLE2 = {
    "musicnn": (0.78, 0.22, 0.79, 0.18), "r2plus1d": (0.66, 0.09, 0.68, 0.05),
    "musicnn+r2plus1d": (0.78, 0.24, 0.82, 0.21), "cl_audio": (0.70, 0.10, 0.69, 0.08),
    "cl_video": (0.61, 0.09, 0.63, 0.04), "cl_agg": (0.71, 0.11, 0.68, 0.07),
}
REPRESENTATION_TITLES = {
    "musicnn": "Musicnn", "r2plus1d": "R(2+1)D", "musicnn+r2plus1d": "Musicnn+R(2+1)D",
    "cl_audio": "CL_a", "cl_video": "CL_v", "cl_agg": "CL_agg",
}


AGGREGATION_TITLES = {"mean": "mean", "l2mean": "mean of L2-normalised", "max": "max",
                      "attention": "attention (learned)"}


def representation_title(name: str) -> str:
    """'cl_audio' -> 'CL_a'; 'cl_audio@aligned' -> 'CL_a (aligned)'."""
    rep, _, config = name.partition("@")
    title = REPRESENTATION_TITLES.get(rep, rep)
    return f"{title} ({config})" if config else title


def _num(x, digits: int) -> str:
    return "–" if x is None else f"{x:.{digits}f}"


def _row(cells: list) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def table1(retrieval: dict) -> str:
    """Median ranks of every configuration (retrieval.json), chance level as the last row."""
    header = ["Configuration", "MR a→v", "MR v→a", "MR a→v (whole test)", "MR v→a (whole test)",
              "authors' code a→v", "authors' code v→a", "paper a→v", "paper v→a"]
    lines = [_row(header), _row(["---"] + ["---:"] * (len(header) - 1))]
    entries = {"main": retrieval["main"], **retrieval.get("configs", {})}
    for name, m in entries.items():
        paper = PAPER_TABLE1.get(name, (None, None)) if name != "main" else (None, None)
        lines.append(_row([
            CONFIG_TITLES.get(name, name),
            _num(m["paper"]["median_rank_a2v"], 1), _num(m["paper"]["median_rank_v2a"], 1),
            _num(m["full"]["median_rank_a2v"], 1), _num(m["full"]["median_rank_v2a"], 1),
            _num(m["authors_code"]["median_rank_a2v"], 1),
            _num(m["authors_code"]["median_rank_v2a"], 1),
            _num(paper[0], 0), _num(paper[1], 0)]))
    main = retrieval["main"]
    chance, chance_full = main["paper"]["chance"]["median_rank"], main["full"]["chance"]["median_rank"]
    lines.append(_row(["*chance*"] + [_num(chance, 1)] * 2 + [_num(chance_full, 1)] * 2
                      + [_num(chance, 1)] * 2 + ["≈500", "≈500"]))
    p, f = main["paper"], main["full"]
    caption = (
        "**Table 1.** Median rank (1 = best) of the true partner in cross-modal retrieval on the "
        f"test split. *MR*: the paper's way, ranks within consecutive chunks of "
        f"{retrieval['rank_pool']} segments, medians averaged over {p['n_chunks']} chunk(s) of "
        f"{p['min_chunk']}–{p['max_chunk']} segments (a partial last chunk is folded into the "
        f"previous one). *Whole test*: one pool of all {f['n_segments']} test segments. "
        "*Authors' code*: the computation of the authors' evaluation code (diag of argsort, "
        "not a rank; at chance for any embeddings), same chunks. Ties count against the model.")
    return caption + "\n\n" + "\n".join(lines)


def table2(probes: dict) -> str:
    """Tagging and genre probe scores (probes.json), each cell 'this run (paper)'."""
    header = ["Model", "Tagging AUC", "Tagging F1", "Genre AUC", "Genre F1"]
    lines = [_row(header), _row(["---"] + ["---:"] * 4)]
    for name, tasks in probes.items():
        paper = PAPER_TABLE2.get(name, (None,) * 4)
        ours = [tasks["tags"]["auc"], tasks["tags"]["f1"], tasks["genre"]["auc"], tasks["genre"]["f1"]]
        lines.append(_row([representation_title(name)]
                          + [f"{_num(o, 3)} ({_num(q, 2)})" for o, q in zip(ours, paper)]))
    first = next(iter(probes.values()), None)
    notes = []
    if first is not None:
        for task, title in (("tags", "Tagging"), ("genre", "Genre")):
            t = first[task]
            excluded = ", ".join(t["excluded"]) or "none"
            notes.append(f"{title}: {t['n_train']}/{t['n_val']}/{t['n_test']} train/val/test "
                         f"videos, {t['n_evaluated']} of {t['n_classes']} classes evaluated "
                         f"(excluded, lacking a positive or a negative test video: {excluded}).")
    caption = (
        "**Table 2.** MLP probes on video-level vectors (segments aggregated) of each "
        "representation, test split: macro ROC-AUC and macro F1 (genre: arg-max; tags: per-tag "
        "threshold chosen on validation). The paper's figures in parentheses. 0.5 AUC is chance. "
        "CL rows name their configuration in parentheses; unmarked CL rows are the main one's.")
    return caption + "\n\n" + "\n".join(lines) + "\n\n" + "\n".join(f"- {n}" for n in notes)


def table3(probes: dict) -> str:
    """Probe AUCs of every representation under every compared aggregation (probes.json
    `by_aggregate`); '' when no probe compared aggregations."""
    hows = list(dict.fromkeys(h for t in probes.values() for h in t.get("by_aggregate", {})))
    if not hows:
        return ""
    header = ["Model"] + [f"{AGGREGATION_TITLES.get(h, h)}: tags / genre AUC" for h in hows]
    lines = [_row(header), _row(["---"] + ["---:"] * len(hows))]
    for name, tasks in probes.items():
        by = tasks.get("by_aggregate", {})
        cells = []
        for h in hows:
            scores = by.get(h)
            cells.append("–" if scores is None else
                         f"{_num(scores['tags']['auc'], 3)} / {_num(scores['genre']['auc'], 3)}")
        lines.append(_row([representation_title(name)] + cells))
    caption = (
        "**Table 3.** Video-level aggregation of the segment vectors: the probes of Table 2 "
        "(same seeds, same classifiers) on each aggregation, macro ROC-AUC on the test split. "
        "*mean*: the paper's; *mean of L2-normalised*: every segment weighs the same; *max*: "
        "element-wise; *attention*: a weighted mean whose weights a small scorer per modality "
        "learns on the training videos with the contrastive loss at video level "
        "(mvclr/evaluation/attention_pool.py).")
    return caption + "\n\n" + "\n".join(lines)


def _pct(x) -> str:
    return "–" if x is None else f"{x:.0%}"


def diagnostics_section(diagnostics: dict, retrieval: dict, probes: dict) -> str:
    """The per-configuration diagnostics (diagnostics.json) and the verdicts drawn from them."""
    ret = {"main": retrieval["main"], **retrieval.get("configs", {})}
    header = ["Configuration", "head", "τ", "logit range (bound)", "softmax entropy",
              "partner prob. × n", "sigmoid saturated a / v", "alignment", "uniformity a / v",
              "modality gap", "cos partner / same video / other", "partner-vs-other AUC",
              "test MR / chance"]
    lines = [_row(header), _row(["---"] * 2 + ["---:"] * (len(header) - 2))]
    for name, d in diagnostics["configs"].items():
        sim = d["similarity"]
        sat = d.get("saturation")
        lines.append(_row([
            CONFIG_TITLES.get(name, name), d["head_activation"], f"{d['tau']:.3g}",
            f"{d['logit_range']:.2f} ({d['logit_bound']:.2f})", _pct(d["entropy_share"]),
            f"{d['partner_prob_x_n']:.2f}",
            "–" if sat is None else f"{_pct(sat['audio'])} / {_pct(sat['video'])}",
            f"{d['alignment']:.2f}", f"{d['uniformity_audio']:.2f} / {d['uniformity_video']:.2f}",
            f"{d['modality_gap']:.2f}",
            " / ".join(_num(sim[k]["mean"], 2) for k in ("positive", "same_video", "negative")),
            _num(d["separation_auc"], 3),
            _num(rank_ratio(ret[name]), 2) if name in ret else "–"]))
    caption = (
        f"**Diagnostics** on the {diagnostics['n_segments']} test segments (stage `diagnose`, "
        "reports/diagnostics.json). Logits: cosine / τ over the test pool; bound: 1/τ when every "
        "cosine is ≥ 0, else 2/τ. Softmax entropy: mean over rows and columns of the logit matrix, "
        "share of its maximum log n. Partner prob. × n: the softmax probability of the true partner "
        f"against uniform (1 = chance). Sigmoid saturated: output units with |input| > "
        f"{SATURATED:g}. Alignment: mean squared distance of partners (Wang & Isola 2020; 0 "
        "best, 4 worst); uniformity: log mean exp(−2‖zi − zj‖²) per modality (0 = collapsed, lower "
        "= more spread). Modality gap: distance between the two modalities' mean embeddings. "
        "Test MR / chance: mean of the a→v and v→a median ranks over the whole test split.")
    findings = "\n".join(f"- **{v['verdict']}** — {v['claim']}: {v['evidence']}."
                         for v in verdicts(diagnostics, retrieval, probes))
    frozen = diagnostics.get("frozen", {})
    coherence = "; ".join(
        f"{REPRESENTATION_TITLES.get(k, k)}: cosine within a video {v['within_video']:.3f}, between "
        f"videos {v['between_video']:.3f}, same-video AUC {_num(v['same_video_auc'], 3)}"
        for k, v in frozen.items())
    return ("## Why alignment fails or works\n\n" + caption + "\n\n" + "\n".join(lines)
            + ("\n\nFrozen features, segments of one video against segments of different videos "
               f"(test split): {coherence}." if coherence else "")
            + "\n\nWhich explanations hold on this data (criteria in mvclr/reporting/verdicts.py):\n\n"
            + findings
            + "\n\nPlots: [similarity histograms](diagnostics/similarities.png), "
              "[validation median rank per epoch](diagnostics/val_median_rank.png).")


def render(retrieval: dict, probes: dict, diagnostics: dict | None = None) -> str:
    sources = "reports/retrieval.json, reports/probes.json" + \
        (" and reports/diagnostics.json" if diagnostics else "")
    parts = [table1(retrieval), table2(probes), table3(probes)]
    if diagnostics:
        parts.append(diagnostics_section(diagnostics, retrieval, probes))
    return (f"# Results\n\nRegenerated by `dvc repro` (stage `tables`); figures from {sources}.\n\n"
            + "\n\n".join(p for p in parts if p) + "\n")
