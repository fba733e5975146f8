"""Diagnosis of every trained configuration (main and every key of `configs`) on the test split:
the statistics of mvclr.evaluation.diagnostics per configuration over pools of `eval.rank_pool`
test segments (the paper's chunks, in their seeded order of test videos), the saturation of its
output sigmoids, its similarity histograms, its validation curve, and 95 % bootstrap intervals
over test videos (mvclr.evaluation.intervals) of every quantity a verdict tests.

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
from mvclr.evaluation import authors_code, diagnostics, intervals, retrieval
from mvclr.evaluation.embedded import spill
from mvclr.evaluation.rowfile import RowFile
from mvclr.features.paired import PairedStores


class SaturationCounter:
    """A transform for `spill`: a model's embeddings, keeping on the way each segment's share of
    output-sigmoid units beyond +-diagnostics.SATURATED, per head."""

    def __init__(self, model: heads.ProjectionModel):
        self.model = model
        self.per_segment = {"audio": [], "video": []}

    @torch.no_grad()
    def __call__(self, audio: np.ndarray, video: np.ndarray):
        if self.model.config["head_activation"] == "sigmoid":
            for name, x in (("audio", audio), ("video", video)):
                head = getattr(self.model, f"{name}_head")
                if head is not None:
                    standardise = getattr(self.model, f"standardise_{name}")
                    pre = head[:-1](standardise(torch.as_tensor(x, dtype=torch.float32))).numpy()
                    self.per_segment[name].append(np.mean(np.abs(pre) > diagnostics.SATURATED, axis=1))
        return heads.embed(self.model, audio, video)

    def shares(self) -> dict[str, np.ndarray]:
        """Each head's per-segment saturated shares (heads with an output sigmoid only)."""
        return {name: np.concatenate(v) for name, v in self.per_segment.items() if v}


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


def configuration(counter: SaturationCounter, za: RowFile, zv: RowFile, ids: np.ndarray,
                  pools: list, n_boot: int, seed: int) -> tuple[dict, dict]:
    """The diagnostics of one configuration on the test split with intervals, and its
    similarity histograms."""
    model, tau = counter.model, counter.model.tau.item()
    stats = diagnostics.diagnose(za, zv, ids, tau, pools)
    histograms = stats.pop("histograms")
    shares = counter.shares()
    sigmoid = model.config["head_activation"] == "sigmoid"
    entry = {"head_activation": model.config["head_activation"], **stats,
             "saturation": {m: float(shares[m].mean()) if m in shares else None
                            for m in ("audio", "video")} if sigmoid else None}
    ci = {"entropy_share": intervals.entropy_share(za, zv, tau, ids, n_boot, seed, pools),
          "gap_share": intervals.gap_share(za, zv, ids, n_boot, seed)}
    if sigmoid:
        ci["saturation"] = {m: intervals.saturation(x, ids, n_boot, seed) for m, x in shares.items()}
    entry["ci95"] = ci
    return entry, histograms


def diagnose_all(params: dict, stores: PairedStores, directory: Path) -> tuple[dict, dict, dict]:
    """(report, similarity histograms per configuration, validation curve per configuration)."""
    layout = stores.layout
    test = layout.videos_of("test")
    ids = layout.row_codes(test)                  # the test video of each test row
    n = len(ids)
    if n < 2:
        raise ValueError("the segment store holds fewer than 2 test segments")
    pool, seed, n_boot = params["eval"]["rank_pool"], params["seed"], params["eval"]["bootstrap"]
    order = retrieval.chunk_order(ids, seed)
    pools = [order[a:b] for a, b in retrieval.chunk_bounds(n, pool)]
    names = config_names(params)
    counters = {name: SaturationCounter(heads.load_trained(name)) for name in names}
    spilled = spill(stores, {"frozen": (None, "test"),
                             **{name: (counters[name], "test") for name in names}}, directory)
    frozen = {}
    for name, x in zip(("musicnn", "r2plus1d"), spilled["frozen"]):
        frozen[name] = {**diagnostics.coherence_over_pools(x, ids, pools),
                        "ci95": {"same_video_auc": intervals.same_video_auc(x, ids, n_boot, seed, pools)}}
    report = {"split": "test", "n_segments": n, "bootstrap": n_boot,
              "pairwise": {"pool": pool, "pools": len(pools),
                           "auc_interval_pools": min(len(pools), intervals.AUC_POOLS),
                           "auc_interval_negatives": intervals.NEGATIVE_PAIRS},
              "configs": {}, "frozen": frozen}
    histograms, curves = {}, {}
    for name in tqdm(names, desc="diagnose"):
        za, zv = spilled[name]
        report["configs"][name], histograms[name] = configuration(counters[name], za, zv, ids,
                                                                  pools, n_boot, seed)
        if name == "main":      # the authors' evaluation code on perfect partners (true ranks 1)
            report["authors_code_perfect"] = {
                "literal": authors_code.literal(za, za, pool, order, ids, n_boot, seed),
                "variant": authors_code.variant(za, za, pool, order, ids, n_boot, seed)}
        curves[name] = read_curve(paths.curve(name))
    return report, histograms, curves
