"""Plots of the diagnostics: cosine-similarity histograms per configuration and validation
median rank per epoch."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from mvclr.evaluation.diagnostics import HIST_BINS

GROUPS = {"positive": ("partner", "tab:green"), "same_video": ("same video", "tab:orange"),
          "negative": ("other videos", "tab:blue")}


def plot_similarities(path: Path, histograms: dict[str, dict[str, list[int]]], info: dict) -> None:
    """Density of each similarity group per configuration from its counts over HIST_BINS."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = min(4, len(histograms))
    rows = -(-len(histograms) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 2.8 * rows), squeeze=False,
                             sharex=True)
    for ax, (name, g) in zip(axes.flat, histograms.items()):
        for key, (label, colour) in GROUPS.items():
            counts = np.asarray(g[key], dtype=float)
            if counts.sum():
                ax.stairs(counts / counts.sum() / np.diff(HIST_BINS), HIST_BINS, fill=True,
                          alpha=0.5, color=colour, label=label)
        d = info[name]
        ax.set_title(f"{name} ({d['head_activation']}, τ={d['tau']:.3g})\n"
                     f"partner-vs-other AUC {d['separation_auc']:.2f}", fontsize=9)
    for ax in axes.flat[len(histograms):]:
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
