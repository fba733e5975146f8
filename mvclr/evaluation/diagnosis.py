"""Diagnosis of every trained configuration (main and every key of `configs`) on the test split:
the statistics of mvclr.evaluation.diagnostics per configuration, the saturation of its output
sigmoids, its similarity groups (for the histograms), its validation curve, and 95 % bootstrap
intervals over test videos (mvclr.evaluation.intervals) of every quantity a verdict tests."""
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
from mvclr.features.paired import PairedFeatures


@torch.no_grad()
def sigmoid_inputs(model: heads.ProjectionModel, audio: np.ndarray,
                   video: np.ndarray) -> dict[str, np.ndarray] | None:
    """The inputs [n, units] of each head's output sigmoid (None: no sigmoid)."""
    if model.config["head_activation"] != "sigmoid":
        return None
    out = {}
    for name, x, standardise in (("audio", audio, model.standardise_audio),
                                 ("video", video, model.standardise_video)):
        head = getattr(model, f"{name}_head")
        if head is not None:
            out[name] = head[:-1](standardise(torch.as_tensor(x, dtype=torch.float32))).numpy()
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


def configuration(model: heads.ProjectionModel, audio: np.ndarray, video: np.ndarray, ids,
                  n_boot: int, seed: int) -> tuple[dict, np.ndarray, np.ndarray]:
    """The diagnostics of one configuration on the test pool, with intervals; and (za, zv)."""
    za, zv = heads.embed(model, audio, video)
    tau = model.tau.item()
    pre = sigmoid_inputs(model, audio, video)
    entry = {"head_activation": model.config["head_activation"],
             **diagnostics.diagnose(za, zv, ids, tau),
             "saturation": None if pre is None else
             {m: diagnostics.saturation(pre.get(m)) if m in pre else None for m in ("audio", "video")}}
    ci = {"entropy_share": intervals.entropy_share(za, zv, tau, ids, n_boot, seed),
          "gap_share": intervals.gap_share(za, zv, ids, n_boot, seed)}
    if pre is not None:
        ci["saturation"] = {m: intervals.saturation(x, ids, n_boot, seed) for m, x in pre.items()}
    entry["ci95"] = ci
    return entry, za, zv


def diagnose_all(params: dict, features: PairedFeatures) -> tuple[dict, dict, dict]:
    """(report, similarity groups per configuration, validation curve per configuration)."""
    meta, audio, video = features.meta, features.audio, features.video
    test = features.rows("test")
    if test.sum() < 2:
        raise ValueError("the segment store holds fewer than 2 test segments")
    ids = meta.video_id[test]
    pool, seed, n_boot = params["eval"]["rank_pool"], params["seed"], params["eval"]["bootstrap"]
    frozen = {}
    for name, x in (("musicnn", audio[test]), ("r2plus1d", video[test])):
        frozen[name] = {**diagnostics.coherence(x, ids),
                        "ci95": {"same_video_auc": intervals.same_video_auc(x, ids, n_boot, seed)}}
    report = {"split": "test", "n_segments": int(test.sum()), "bootstrap": n_boot,
              "configs": {}, "frozen": frozen}
    groups, curves = {}, {}
    for name in tqdm(config_names(params), desc="diagnose"):
        model = heads.load_trained(name)
        report["configs"][name], za, zv = configuration(model, audio[test], video[test], ids,
                                                         n_boot, seed)
        groups[name] = diagnostics.similarity_groups(za, zv, ids)
        if name == "main":      # the authors' evaluation code on perfect partners (true ranks 1)
            order = retrieval.chunk_order(ids, seed)
            report["authors_code_perfect"] = {
                "literal": authors_code.literal(za, za, pool, order, ids, n_boot, seed),
                "variant": authors_code.variant(za, za, pool, order, ids, n_boot, seed)}
        curves[name] = read_curve(paths.curve(name))
    return report, groups, curves
