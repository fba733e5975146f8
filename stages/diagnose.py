"""Stage `diagnose`: why each trained configuration (main and every key of `configs`) aligns or
not, on the test split (stages.diagnostics) -> reports/diagnostics.json, and plots under
reports/diagnostics/: similarities.png (histograms of the cosine similarities of partners,
of other segments of the partner's video and of other videos, per configuration) and
val_median_rank.png (validation median rank per epoch from reports/train/<config>.csv,
against chance)."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from stages import diagnostics, feature_store, heads, paths, retrieval
from stages.config import config_names, load_params
from stages.paths import AUDIO, SEGMENTS, VIDEO
from stages.segment_store import read_meta

METRICS, PLOTS = Path("reports/diagnostics.json"), Path("reports/diagnostics")
GROUPS = {"positive": ("partner", "tab:green"), "same_video": ("same video", "tab:orange"),
          "negative": ("other videos", "tab:blue")}


@torch.no_grad()
def sigmoid_saturation(model: heads.ProjectionModel, audio: np.ndarray,
                       video: np.ndarray) -> dict[str, float | None] | None:
    """Saturated share of each head's output sigmoid (None: no such head or no sigmoid)."""
    if model.config["head_activation"] != "sigmoid":
        return None
    out = {}
    for name, x, standardise in (("audio", audio, model.standardise_audio),
                                 ("video", video, model.standardise_video)):
        head = getattr(model, f"{name}_head")
        out[name] = None if head is None else diagnostics.saturation(
            head[:-1](standardise(torch.as_tensor(x, dtype=torch.float32))).numpy())
    return out


def chance_median_rank(n: int, pool: int) -> float:
    """Chance median rank of the validation curves (chunks of `pool`, as stage train)."""
    return float(np.mean([retrieval.chance_summary(b - a)["median_rank"]
                          for a, b in retrieval.chunk_bounds(n, pool)]))


def read_curve(path: Path) -> tuple[list[int], list[float]]:
    if not path.exists():
        raise FileNotFoundError(f"{path}: no training curve (run stage train)")
    with open(path) as f:
        rows = list(csv.DictReader(f))
    return [int(r["epoch"]) for r in rows], [float(r["val_median_rank"]) for r in rows]


def plot_similarities(path: Path, groups: dict[str, dict[str, np.ndarray]], info: dict) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = min(4, len(groups))
    rows = -(-len(groups) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 2.8 * rows), squeeze=False,
                             sharex=True)
    for ax, (name, g) in zip(axes.flat, groups.items()):
        for key, (label, colour) in GROUPS.items():
            if len(g[key]):
                ax.hist(g[key], bins=diagnostics.HIST_BINS, density=True, alpha=0.5,
                        color=colour, label=label)
        d = info[name]
        ax.set_title(f"{name} ({d['head_activation']}, τ={d['tau']:.3g})\n"
                     f"partner-vs-other AUC {d['separation_auc']:.2f}", fontsize=9)
    for ax in axes.flat[len(groups):]:
        ax.axis("off")
    for ax in axes[-1]:
        ax.set_xlabel("cosine similarity audio–video")
    axes.flat[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def plot_curves(path: Path, curves: dict[str, tuple[list[int], list[float]]], chance: float) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4))
    for name, (epochs, ranks) in curves.items():
        ax.plot(epochs, ranks, marker=".", label=name)
    ax.axhline(chance, color="grey", linestyle="--", label="chance")
    ax.set_xlabel("epoch")
    ax.set_ylabel("validation median rank")
    ax.set_ylim(0, chance * 1.1)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def main() -> None:
    params = load_params()
    meta = read_meta(SEGMENTS)
    audio, video = (feature_store.load(p, rows=len(meta)) for p in (AUDIO, VIDEO))
    test = meta.split == "test"
    if test.sum() < 2:
        raise ValueError(f"{SEGMENTS}: fewer than 2 test segments")
    ids = meta.video_id[test]
    pool = params["eval"]["rank_pool"]
    report = {"split": "test", "n_segments": int(test.sum()), "configs": {},
              "frozen": {"musicnn": diagnostics.coherence(audio[test], ids),
                         "r2plus1d": diagnostics.coherence(video[test], ids)}}
    groups, curves = {}, {}
    for name in tqdm(config_names(params), desc="diagnose"):
        model = heads.load_trained(name)
        za, zv = heads.embed(model, audio[test], video[test])
        report["configs"][name] = {
            "head_activation": model.config["head_activation"],
            **diagnostics.diagnose(za, zv, ids, model.tau.item()),
            "saturation": sigmoid_saturation(model, audio[test], video[test])}
        groups[name] = diagnostics.similarity_groups(za, zv, ids)
        if name == "main":      # the authors' evaluation code on perfect partners (true ranks 1)
            report["authors_code_perfect"] = {
                **retrieval.evaluate_authors_code(za, za, pool),
                "chance_median_rank": retrieval.evaluate_pool(za, za, pool)["chance"]["median_rank"]}
        curves[name] = read_curve(paths.curve(name))

    PLOTS.mkdir(parents=True, exist_ok=True)
    plot_similarities(PLOTS / "similarities.png", groups, report["configs"])
    n_val = int((meta.split == "val").sum())
    plot_curves(PLOTS / "val_median_rank.png", curves,
                chance_median_rank(n_val, pool))
    METRICS.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
