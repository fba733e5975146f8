"""Diagnosis of every trained configuration (main and every key of `configs`) on the test split:
the statistics of mvclr.evaluation.diagnostics per configuration, the saturation of its output
sigmoids, its similarity groups (for the histograms) and its validation curve."""
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
from mvclr.features.paired import PairedFeatures


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


def diagnose_all(params: dict, features: PairedFeatures) -> tuple[dict, dict, dict]:
    """(report, similarity groups per configuration, validation curve per configuration)."""
    meta, audio, video = features.meta, features.audio, features.video
    test = features.rows("test")
    if test.sum() < 2:
        raise ValueError("the segment store holds fewer than 2 test segments")
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
    return report, groups, curves
