"""reports/tables.md from the evaluation's and the diagnosis' metrics: Tables 1 and 2 laid out as
in the paper, this run beside the paper's figures; Table 3, the video-level aggregations; the
diagnostics and which explanations of the paper's result hold on this data
(mvclr.reporting.verdicts)."""
from __future__ import annotations

import html

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


def _text(value) -> str:
    """A name from the data (a genre, a tag, a configuration) as Markdown text: HTML escaped, so
    no viewer renders markup a catalogue's metadata holds, and `|` escaped, so no cell splits."""
    return html.escape(str(value), quote=False).replace("|", "\\|")


def _row(cells: list) -> str:
    return "| " + " | ".join(_text(c) for c in cells) + " |"


def _with_ci(entry: dict, key: str) -> str:
    """'4.0 [3.0–6.5]': a median rank with its bootstrap interval when there is one."""
    value = entry.get(key)
    ci = entry.get("ci95", {}).get(key)
    if value is None:
        return "–"
    return f"{value:.1f}" + (f" [{ci[0]:.1f}–{ci[1]:.1f}]" if ci else "")


def table1(retrieval: dict) -> str:
    """Median ranks of every configuration (retrieval.json), chance level as the last row."""
    header = ["Configuration", "MR a→v", "MR v→a", "MR a→v (whole test)", "MR v→a (whole test)",
              "authors' code", "authors' code, variant a→v / v→a", "paper a→v", "paper v→a"]
    lines = [_row(header), _row(["---"] + ["---:"] * (len(header) - 1))]
    entries = {"main": retrieval["main"], **retrieval.get("configs", {})}
    for name, m in entries.items():
        paper = PAPER_TABLE1.get(name, (None, None)) if name != "main" else (None, None)
        code, variant = m["authors_code"], m["authors_code_variant"]
        lines.append(_row([
            CONFIG_TITLES.get(name, name),
            _with_ci(m["paper"], "median_rank_a2v"), _with_ci(m["paper"], "median_rank_v2a"),
            _with_ci(m["full"], "median_rank_a2v"), _with_ci(m["full"], "median_rank_v2a"),
            _with_ci(code, "median_rank_v2a") if code["n_chunks"] else "– (no full chunk)",
            f"{_num(variant['median_rank_a2v'], 1)} / {_num(variant['median_rank_v2a'], 1)}",
            _num(paper[0], 0), _num(paper[1], 0)]))
    main = retrieval["main"]
    chance, chance_full = main["paper"]["chance"]["median_rank"], main["full"]["chance"]["median_rank"]
    lines.append(_row(["*chance*"] + [_num(chance, 1)] * 2 + [_num(chance_full, 1)] * 2
                      + [_num(main["authors_code"]["chance_median_rank"], 1),
                         _num(main["authors_code_variant"]["chance_median_rank"], 1)]
                      + ["≈500", "≈500"]))
    p, f = main["paper"], main["full"]
    pool = retrieval["rank_pool"]
    caption = (
        "**Table 1.** Median rank (1 = best) of the true partner in cross-modal retrieval on the "
        f"test split, with 95 % bootstrap intervals over test videos ({retrieval['bootstrap']} "
        f"resamples). *MR*: the paper's way, ranks within chunks of {pool} segments, medians "
        f"averaged over {p['n_chunks']} chunk(s) of {p['min_chunk']}–{p['max_chunk']} segments; "
        "the chunks are consecutive runs of a seeded random order of the test videos (a "
        "video's segments together), a partial last chunk folded into the previous one. "
        f"*Whole test*: one pool of all {f['n_segments']} test segments. Ties count against the "
        "model. *Authors' code*: what their `get_validation_metrics` outputs, literally: "
        f"consecutive chunks of {pool}, the partial chunk dropped (a test split under {pool} "
        "segments gives no chunk and every value 0), diag(argsort) of the similarity matrix, "
        "0-based, which is not a rank and sits at chance for any embeddings; its a→v is its v→a "
        "(the code reuses the row argsort). *Variant*: the same diag(argsort), 1-based, a→v "
        "from the columns, over the paper's-way chunks.")
    return caption + "\n\n" + "\n".join(lines)


def table2(probes: dict) -> str:
    """Tagging and genre probe scores (probes.json), each cell 'this run (paper)'."""
    header = ["Model", "Tagging AUC", "Tagging F1 @0.5", "Tagging F1, tuned thresholds",
              "Genre AUC", "Genre F1 (arg-max)"]
    lines = [_row(header), _row(["---"] + ["---:"] * 5)]
    for name, tasks in probes.items():
        tags, genre = tasks["tags"], tasks["genre"]
        paper = PAPER_TABLE2.get(name, (None,) * 4)

        def auc(t):
            ci = t.get("auc_ci95")
            return _num(t["auc"], 3) + (f" [{ci[0]:.2f}–{ci[1]:.2f}]" if ci else "")
        lines.append(_row([representation_title(name),
                           f"{auc(tags)} ({_num(paper[0], 2)})",
                           f"{_num(tags.get('f1_at_half'), 3)} ({_num(paper[1], 2)})",
                           _num(tags["f1"], 3),
                           f"{auc(genre)} ({_num(paper[2], 2)})",
                           f"{_num(genre['f1'], 3)} ({_num(paper[3], 2)})"]))
    first = next(iter(probes.values()), None)
    notes = []
    if first is not None:
        for task, title in (("tags", "Tagging"), ("genre", "Genre")):
            t = first[task]
            excluded = ", ".join(map(_text, t["excluded"])) or "none"
            notes.append(f"{title}: {t['n_train']}/{t['n_val']}/{t['n_test']} train/val/test "
                         f"videos; AUC over {t['n_evaluated']} of {t['n_classes']} classes "
                         f"(without a positive or a negative test video: {excluded}); F1 over "
                         f"{t.get('f1_classes', '–')} classes.")
    caption = (
        "**Table 2.** MLP probes on video-level vectors (segments aggregated) of each "
        "representation, test split: macro ROC-AUC with its 95 % bootstrap interval over test "
        "videos, and macro F1. AUC averages the classes that have a positive and a negative "
        "test video; F1 averages every class that a test video has or the probe predicts (a "
        "predicted class missing from the test split counts, with F1 0). F1 protocols: genre, "
        "the arg-max class; tags, a threshold of 0.5 on each tag's sigmoid (*@0.5*, the plain "
        "protocol, beside the paper's figure) and, separately, a per-tag threshold chosen to "
        "maximise F1 on the validation videos (*tuned*: higher by construction, not comparable "
        "with the paper, whose protocol is not stated). The paper's figures in parentheses. 0.5 "
        "AUC is chance. CL rows name their configuration in parentheses; unmarked CL rows are "
        "the main one's.")
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


def pairwise_note(pairwise: dict | None) -> str:
    """How the pairwise statistics were computed at this test split's size (stage diagnose)."""
    if not pairwise or pairwise["pools"] <= 1:
        return ""
    return (f" Pairwise statistics (logits, softmax entropy, uniformity, cosine groups, AUCs, "
            f"coherence) are computed within each of {pairwise['pools']} pools of "
            f"{pairwise['pool']}–{2 * pairwise['pool'] - 1} test segments (the paper's chunks) and "
            "merged: entropy and partner probability averaged over segments, AUCs over pools, "
            "means, histograms and uniformity pooled over the within-pool pairs; alignment and "
            "the modality gap are exact over the whole split. The same-video AUC's interval comes "
            f"from a seeded sample of {pairwise['auc_interval_pools']} pools, each with a seeded "
            f"sample of at most {pairwise['auc_interval_negatives']} different-video pairs.")


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
        "Test MR / chance: mean of the a→v and v→a median ranks over the whole test split."
        + pairwise_note(diagnostics.get("pairwise")))
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
            + "\n\nWhich explanations hold on this data (criteria in mvclr/reporting/verdicts.py; "
              "each tested quantity with its 95 % bootstrap interval over test videos: HOLDS or "
              "DOES NOT HOLD when the whole interval lies on one side of the criterion, "
              "INCONCLUSIVE when it straddles it):\n\n"
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
