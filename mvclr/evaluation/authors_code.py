"""What the authors' evaluation code computes: `get_validation_metrics` in
KarelVeldkamp/Multimodal-Musicvideo-Representation (src/ecir_project/mmnet/evaluation.py).

`literal` reproduces its output: consecutive chunks of `batch_size` (1000) test segments, the
partial last chunk dropped (niter = n // batch_size: a test split under 1000 segments has no
chunk and every metric stays 0); cos_sim = videos @ audios.T; v2a "ranks" = diag(argsort(cos_sim,
axis=1)), i.e. the index of the candidate sorted into position i (ascending), 0-based, which is
not the rank of the partner at all; a2v = the same array (the code takes `diag(ranks_per_row)`
again, so its a->v equals its v->a); recall@k = mean(ranks < k); every metric averaged over
chunks by its AverageMeter, sum / (count + 0.0001). Its median "rank" therefore sits at chance,
about (n - 1) / 2, for any embeddings, perfect ones included: the paper's Table 1.

`variant` keeps the same diag(argsort) but 1-based, a->v from the columns, and the partial chunk
folded in as the paper's way of mvclr.evaluation.retrieval does, so it is defined on a small
test split too. Neither is a rank; both are reported to explain the paper's Table 1.

Both gather one chunk at a time from the embeddings (arrays or RowFiles).
"""
from __future__ import annotations

import numpy as np

from mvclr.evaluation import bootstrap
from mvclr.evaluation.retrieval import chunk_bounds, chunk_medians, mean_dicts
from mvclr.evaluation.similarity import normalise, query_blocks

METER_EPS = 0.0001      # AverageMeter.avg = sum / (0.0001 + count)
QUANTILES = (0.25, 0.75)


def argsort_diagonal(queries: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """diag(argsort(queries @ candidates.T, axis=1)), 0-based, by blocks of queries."""
    out = np.empty(len(queries), dtype=np.int64)
    for rows in query_blocks(len(queries), len(candidates)):
        local, diag = np.arange(rows.stop - rows.start), np.arange(rows.start, rows.stop)
        out[rows] = np.argsort(queries[rows] @ candidates.T, axis=1)[local, diag]
    return out


def _meter(values: list[float]) -> float:
    return float(np.sum(values) / (METER_EPS + len(values)))


def literal(za: np.ndarray, zv: np.ndarray, batch_size: int, order: np.ndarray,
            video_ids: np.ndarray, n_boot: int, seed: int) -> dict:
    """get_validation_metrics' dictionary for the test segments taken in `order`, with
    `n_chunks` and bootstrap intervals of its two median ranks (when it has a chunk)."""
    n_chunks = len(za) // batch_size
    per = {k: [] for k in ("median_rank", "q25", "q75", "mean_rank", "r1", "r5", "r10")}
    ranks = np.zeros(len(za), np.int64)
    chunk = np.full(len(za), -1, np.int64)
    for i in range(n_chunks):
        rows = order[batch_size * i: batch_size * (i + 1)]
        a, v = (np.asarray(z[rows], np.float64) for z in (za, zv))   # as given, as their code
        r = argsort_diagonal(v, a)                        # rows of cos_sim = videos @ audios.T
        ranks[rows], chunk[rows] = r, i
        per["median_rank"].append(np.median(r))
        per["mean_rank"].append(np.mean(r))
        for q, key in zip(QUANTILES, ("q25", "q75")):
            per[key].append(np.quantile(r, q))
        for k in (1, 5, 10):
            per[f"r{k}"].append(np.mean(r < k))
    metrics = {k: _meter(v) for k, v in per.items()}
    out = {f"{k}_{d}": metrics[k] for d in ("v2a", "a2v") for k in per}
    # random embeddings: each diag(argsort) value is uniform on 0 .. batch_size - 1
    out.update(n_chunks=n_chunks, chance_median_rank=(batch_size - 1) / 2)
    if n_boot and n_chunks:
        kept = chunk >= 0
        stat = chunk_medians(ranks[kept].astype(float), chunk[kept], n_chunks,
                             combine=lambda m, axis: np.nansum(m, axis=axis) / (METER_EPS + n_chunks))
        ci = bootstrap.interval(stat, np.asarray(video_ids)[kept], n_boot, seed)
        out["ci95"] = {"median_rank_a2v": ci, "median_rank_v2a": ci,
                       "ratio": [x / out["chance_median_rank"] for x in ci]}
    return out


def variant(za: np.ndarray, zv: np.ndarray, pool: int, order: np.ndarray,
            video_ids: np.ndarray, n_boot: int, seed: int) -> dict:
    """diag(argsort) 1-based, a->v along the columns, over the paper's chunks of `pool` in
    `order` (the partial chunk folded in), with bootstrap intervals of both medians."""
    a2v, v2a = np.empty(len(za), np.int64), np.empty(len(za), np.int64)
    chunk = np.empty(len(za), np.int64)
    meds = []
    bounds = chunk_bounds(len(za), pool)
    for c, (start, stop) in enumerate(bounds):
        rows = order[start:stop]
        a, v = normalise(za[rows]), normalise(zv[rows])
        v2a[rows] = argsort_diagonal(v, a) + 1
        a2v[rows] = argsort_diagonal(a, v) + 1
        chunk[rows] = c
        meds.append({"median_rank_a2v": float(np.median(a2v[rows])),
                     "median_rank_v2a": float(np.median(v2a[rows]))})
    chance = float(np.mean([(b - a + 1) / 2 for a, b in bounds]))
    out = {**mean_dicts(meds), "chance_median_rank": chance}
    if n_boot:
        stats = {d: chunk_medians(r.astype(float), chunk, len(bounds))
                 for d, r in (("a2v", a2v), ("v2a", v2a))}
        out["ci95"] = {f"median_rank_{d}": bootstrap.interval(s, video_ids, n_boot, seed)
                       for d, s in stats.items()}
        out["ci95"]["ratio"] = bootstrap.interval(
            lambda w: (stats["a2v"](w) + stats["v2a"](w)) / 2 / chance, video_ids, n_boot, seed)
    return out
