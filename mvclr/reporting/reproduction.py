"""Whether a run's metrics reproduce committed ones within the uncertainty they carry
(`mvclr check-results`).

Bit-for-bit identity holds only on machines that compute the backbones' features identically;
elsewhere the last bits of a feature move the heads' training (early stopping at another
epoch) and every metric a little. A metric reproduces when the run's value lies within what
resampling the test split allows:
- median ranks, their ratio to chance and probe AUCs: within the committed value's own 95 %
  bootstrap interval over test videos (retrieval.json `ci95`, probes.json `auc_ci95`);
- recall@k and mean ranks, which carry no interval: within Z_DIFF standard errors of the
  committed value (a recall as a proportion of the n test segments, a rank as a uniform rank
  among n: the band in which two runs on resampled segments differ 95 % of the time).
Probe F1 is not checked: on the demo's 5-6 test videos per task one video moves it by ~0.1.
"""
from __future__ import annotations

import math

Z_DIFF = 1.96 * math.sqrt(2)        # 95 % band of the difference of two independent estimates
RANKS = ("median_rank_a2v", "median_rank_v2a")
RECALLS = tuple(f"r{k}_{d}" for k in (1, 5, 10) for d in ("a2v", "v2a"))
MEAN_RANKS = ("mean_rank_a2v", "mean_rank_v2a")


def _retrieval_models(retrieval: dict) -> dict[str, dict]:
    return {"main": retrieval.get("main", {}), **retrieval.get("configs", {})}


def _check(name: str, value, committed, low: float, high: float, out: list[str]) -> None:
    if value is None or not (low - 1e-12 <= value <= high + 1e-12):
        out.append(f"{name}: {value} (committed {committed}, allowed {low:.4g} to {high:.4g})")


def retrieval_failures(run: dict, committed: dict) -> list[str]:
    """Every retrieval metric of `run` outside its allowed band around `committed`."""
    out = []
    runs = _retrieval_models(run)
    for model, protocols in _retrieval_models(committed).items():
        for protocol in ("paper", "full"):
            ref = protocols.get(protocol)
            if ref is None:
                continue
            got = runs.get(model, {}).get(protocol, {})
            where = f"retrieval.json {model}.{protocol}"
            for key in RANKS:
                low, high = ref["ci95"][key]
                _check(f"{where}.{key}", got.get(key), ref[key], low, high, out)
            chance = ref["chance"]["median_rank"]
            ratio = (got[RANKS[0]] + got[RANKS[1]]) / 2 / chance if all(k in got for k in RANKS) else None
            low, high = ref["ci95"]["ratio"]
            _check(f"{where}.ratio", ratio, (ref[RANKS[0]] + ref[RANKS[1]]) / 2 / chance, low, high, out)
            n = ref["n_segments"]
            for key in RECALLS:
                p = ref[key]
                band = Z_DIFF * math.sqrt(max(p * (1 - p), 1 / n) / n)
                _check(f"{where}.{key}", got.get(key), p, p - band, p + band, out)
            for key in MEAN_RANKS:
                band = Z_DIFF * math.sqrt((n * n - 1) / 12 / n)
                _check(f"{where}.{key}", got.get(key), ref[key], ref[key] - band, ref[key] + band, out)
    return out


def probe_failures(run: dict, committed: dict) -> list[str]:
    """Every probe AUC of `run` outside the committed value's bootstrap interval."""
    out = []
    for representation, tasks in committed.items():
        for task in ("genre", "tags"):
            ref = tasks.get(task)
            if not isinstance(ref, dict) or ref.get("auc") is None:
                continue
            got = run.get(representation, {}).get(task, {}).get("auc")
            low, high = ref["auc_ci95"]
            _check(f"probes.json {representation}.{task}.auc", got, ref["auc"], low, high, out)
    return out


def failures(run: dict[str, dict], committed: dict[str, dict]) -> list[str]:
    """Every metric of the run's reports (`run`: {"retrieval": ..., "probes": ...}, as read
    from reports/) that does not reproduce the committed ones."""
    return (retrieval_failures(run["retrieval"], committed["retrieval"])
            + probe_failures(run["probes"], committed["probes"]))
