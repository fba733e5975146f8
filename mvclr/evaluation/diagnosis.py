"""Diagnosis of every trained configuration (main and every key of `configs`) on the test split:
the statistics of mvclr.evaluation.diagnostics per configuration over pools of `eval.rank_pool`
test segments (the paper's chunks), the saturation of its output sigmoids, its similarity
histograms and its validation curve.

Scale: one pass over the stores embeds the test rows with every configuration (counting the
saturated sigmoid units on the way) and keeps them, with the frozen features of the test rows, in
a scratch directory (mvclr.evaluation.embedded); each pool is then gathered alone, so memory
holds one block and one pool's pairwise matrices."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from mvclr import paths
from mvclr.config import config_names
from mvclr.contrastive import heads
from mvclr.evaluation import diagnostics, retrieval
from mvclr.evaluation.embedded import spill, split_counts
from mvclr.features.paired import PairedStores


class SaturationCounter:
    """A transform for `spill`: a model's embeddings, counting on the way the output-sigmoid
    units beyond +-diagnostics.SATURATED of each head."""

    def __init__(self, model: heads.ProjectionModel):
        self.model = model
        self.counts = {"audio": [0, 0], "video": [0, 0]}        # saturated, all

    @torch.no_grad()
    def __call__(self, audio: np.ndarray, video: np.ndarray):
        if self.model.config["head_activation"] == "sigmoid":
            for name, x in (("audio", audio), ("video", video)):
                head = getattr(self.model, f"{name}_head")
                if head is not None:
                    standardise = getattr(self.model, f"standardise_{name}")
                    pre = head[:-1](standardise(torch.as_tensor(x, dtype=torch.float32))).numpy()
                    self.counts[name][0] += diagnostics.saturation(pre) * pre.size
                    self.counts[name][1] += pre.size
        return heads.embed(self.model, audio, video)

    def shares(self) -> dict[str, float | None] | None:
        """Saturated share of each head's output sigmoid (None: no such head or no sigmoid)."""
        if self.model.config["head_activation"] != "sigmoid":
            return None
        return {name: (float(c[0] / c[1]) if c[1] else None) for name, c in self.counts.items()}


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


def diagnose_all(params: dict, stores: PairedStores, directory: Path) -> tuple[dict, dict, dict]:
    """(report, similarity histograms per configuration, validation curve per configuration)."""
    counts = split_counts(stores.layout, "test")
    n = int(counts.sum())
    if n < 2:
        raise ValueError("the segment store holds fewer than 2 test segments")
    ids = np.repeat(np.arange(len(counts)), counts)        # test video of each test row
    pool = params["eval"]["rank_pool"]
    pools = retrieval.chunk_bounds(n, pool)
    names = config_names(params)
    counters = {name: SaturationCounter(heads.load_trained(name)) for name in names}
    jobs = {"frozen": (None, "test"), **{name: (counters[name], "test") for name in names}}
    spilled = spill(stores, jobs, directory)
    audio, video = spilled["frozen"]
    report = {"split": "test", "n_segments": n,
              "pairwise": {"pool": pool, "pools": len(pools),
                           "how": "within pools of test segments (the paper's chunks), merged"},
              "configs": {},
              "frozen": {"musicnn": diagnostics.coherence_over_pools(audio, ids, pools),
                         "r2plus1d": diagnostics.coherence_over_pools(video, ids, pools)}}
    histograms, curves = {}, {}
    for name in tqdm(names, desc="diagnose"):
        model, (za, zv) = counters[name].model, spilled[name]
        stats = diagnostics.diagnose(za, zv, ids, model.tau.item(), pools)
        histograms[name] = stats.pop("histograms")
        report["configs"][name] = {"head_activation": model.config["head_activation"], **stats,
                                   "saturation": counters[name].shares()}
        if name == "main":      # the authors' evaluation code on perfect partners (true ranks 1)
            report["authors_code_perfect"] = {**retrieval.evaluate_authors_code(za, za, pool),
                                              "chance_median_rank": chance_median_rank(n, pool)}
        curves[name] = read_curve(paths.curve(name))
    return report, histograms, curves
