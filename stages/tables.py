"""reports/tables.md: Tables 1 and 2 laid out as in the paper, this run beside the paper's figures."""
from __future__ import annotations

# Table 1 of the paper: median rank a->v, v->a per configuration of params `configs`
PAPER_TABLE1 = {
    "cl_base": (507, 502), "emb512": (494, 498), "four_layers": (503, 501),
    "single_head": (499, 497), "tau03": (497, 503), "ae_init": (501, 500),
}
CONFIG_TITLES = {
    "main": "main (top-level params)", "cl_base": "CL_base", "emb512": "Embedding size 512",
    "four_layers": "Four projection layers", "single_head": "Single projection head",
    "tau03": "τ = 0.3", "ae_init": "Autoencoder initiated",
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
        lines.append(_row([REPRESENTATION_TITLES.get(name, name)]
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
        "threshold chosen on validation). The paper's figures in parentheses. 0.5 AUC is chance.")
    return caption + "\n\n" + "\n".join(lines) + "\n\n" + "\n".join(f"- {n}" for n in notes)


def render(retrieval: dict, probes: dict) -> str:
    return ("# Results\n\nRegenerated by `dvc repro` (stage `evaluate`); figures from "
            "reports/retrieval.json and reports/probes.json.\n\n"
            + table1(retrieval) + "\n\n" + table2(probes) + "\n")
