"""Cross-modal retrieval metrics (Table 1): ranks of the true partner, median rank, R@k.

Segment i's audio embedding za[i] and video embedding zv[i] are partners. For the
query za[i] (a->v) the candidates are all zv[j] of the pool, ranked by cosine similarity;
v->a is symmetric. Other segments of the partner's video are candidates too, as in the paper.

Rank of the true partner = number of candidates at least as similar as the partner,
the partner included; i.e. 1 + the candidates strictly more similar + the other candidates
tied with it. Ties therefore never flatter the model: a collapsed model (all embeddings
equal, e.g. saturated sigmoids) ranks every partner last, not first. Similarities within
TIE_TOL of the partner's count as tied, so float32 rounding cannot split exact ties.

Pools:
- `paper`: the paper's way, consecutive chunks of `pool` segments (store order), ranks within
  each chunk, the median (and the other metrics) per chunk, averaged over chunks with equal
  weight. The last partial chunk is folded into the previous full chunk, so every chunk holds
  between pool and 2*pool-1 segments (a tiny remainder chunk would otherwise weigh as much as
  a full one); with fewer than `pool` segments there is one chunk of all of them. The authors'
  code drops the partial chunk instead, which would leave nothing on a small test split.
- `full`: one pool of the whole split.
The chance level of a pool of n is the expectation for random embeddings: median and mean rank
(n+1)/2, R@k = min(k, n)/n; for `paper` averaged over the chunks like the metrics.

`authors_code` reproduces the computation of the authors' evaluation code
(get_validation_metrics in KarelVeldkamp/Multimodal-Musicvideo-Representation): it takes
diag(argsort(similarity)), the index of the candidate sorted into position i, which is not the
rank of the partner at all, so its "median rank" sits at chance whatever the embeddings (even
perfect ones). Given here (1-based, same chunks as `paper`) to explain the paper's Table 1.
That code also computes a->v from the row argsort (a slip); here a->v uses the columns.

Memory stays bounded: `ranks` reads the embeddings by blocks (arrays, or RowFiles of
mvclr.evaluation.rowfile for a split too large to hold) and holds one block of queries against
one block of candidates at a time (similarity.BLOCK_ELEMENTS similarities), counting both directions from
the same block; a chunk of the paper's way is gathered into memory (at most 2 * pool rows).
The whole-split ranking stays exact; its time grows with the square of the split.
"""
from __future__ import annotations

import numpy as np

from mvclr.evaluation import similarity
from mvclr.evaluation.similarity import normalise, query_blocks

TIE_TOL = 1e-6
RECALL_AT = (1, 5, 10)
QUERY_ROWS = 16384           # queries per block of `ranks`


def _check_pair(za, zv) -> int:
    """The number of pairs; an error unless za and zv hold equally many rows of equal width."""
    if za.shape != zv.shape:
        raise ValueError(f"audio and video embeddings must have the same shape, "
                         f"got {za.shape} and {zv.shape}")
    if len(za) == 0:
        raise ValueError("no segments to rank")
    return len(za)


def _slices(n: int, step: int):
    return (slice(a, min(a + step, n)) for a in range(0, n, step))


def ranks(za, zv) -> tuple[np.ndarray, np.ndarray]:
    """Rank (1 = best) of every segment's partner a->v (query za[i] among all zv) and v->a, by
    cosine similarity, ties counted against the model: 1 + the other candidates at least as
    similar as the partner (within TIE_TOL). int64 [n] each. za, zv: arrays or RowFiles."""
    n = _check_pair(za, zv)
    partner = np.empty(n, dtype=np.float32)
    for rows in _slices(n, QUERY_ROWS):
        partner[rows] = np.einsum("ij,ij->i", normalise(za[rows]), normalise(zv[rows]))
    a2v, v2a = np.ones(n, dtype=np.int64), np.ones(n, dtype=np.int64)
    q_step = min(n, QUERY_ROWS)
    for q in _slices(n, q_step):
        a, bar_q = normalise(za[q]), partner[q] - TIE_TOL
        for c in _slices(n, max(1, similarity.BLOCK_ELEMENTS // q_step)):
            sims = a @ normalise(zv[c]).T                      # [q, c]
            own = np.arange(max(q.start, c.start), min(q.stop, c.stop))
            sims[own - q.start, own - c.start] = -np.inf       # the partner itself: the 1
            a2v[q] += np.count_nonzero(sims >= bar_q[:, None], axis=1)
            v2a[c] += np.count_nonzero(sims >= (partner[c] - TIE_TOL)[None, :], axis=0)
    return a2v, v2a


def partner_ranks(queries, candidates) -> np.ndarray:
    """Rank (1 = best) of candidates[i] for queries[i] among all candidates (`ranks`, one
    direction). int64 [n]."""
    return ranks(queries, candidates)[0]


def chunk_bounds(n: int, pool: int | None) -> list[tuple[int, int]]:
    """Consecutive chunks of `pool` items, the partial remainder folded into the last full
    chunk; one chunk of everything when pool is None or n <= pool."""
    if pool is not None and pool < 1:
        raise ValueError(f"rank pool must be >= 1, got {pool}")
    if pool is None or n <= pool:
        return [(0, n)]
    starts = list(range(0, n - n % pool, pool))
    bounds = [(s, s + pool) for s in starts]
    bounds[-1] = (bounds[-1][0], n)
    return bounds


def rank_summary(ranks: np.ndarray) -> dict:
    """Median rank, mean rank and R@k of one pool's ranks."""
    ranks = np.asarray(ranks)
    out = {"median_rank": float(np.median(ranks)), "mean_rank": float(np.mean(ranks))}
    out.update({f"r{k}": float(np.mean(ranks <= k)) for k in RECALL_AT})
    return out


def chance_summary(n: int) -> dict:
    """Expected metrics of a pool of n for random embeddings."""
    out = {"median_rank": (n + 1) / 2, "mean_rank": (n + 1) / 2}
    out.update({f"r{k}": min(k, n) / n for k in RECALL_AT})
    return out


def _mean_dicts(dicts: list[dict]) -> dict:
    return {k: float(np.mean([d[k] for d in dicts])) for k in dicts[0]}


def evaluate_pool(za, zv, pool: int | None) -> dict:
    """Metrics a->v and v->a averaged over the chunks of `pool` (None: one pool of all, read by
    blocks), with the chance level and the chunk sizes."""
    n = _check_pair(za, zv)
    per_chunk, chance = [], []
    bounds = chunk_bounds(n, pool)
    for start, stop in bounds:
        a, v = (za, zv) if (start, stop) == (0, n) else (za[start:stop], zv[start:stop])
        a2v, v2a = (rank_summary(r) for r in ranks(a, v))
        per_chunk.append({**{f"{k}_a2v": x for k, x in a2v.items()},
                          **{f"{k}_v2a": x for k, x in v2a.items()}})
        chance.append(chance_summary(stop - start))
    sizes = [b - a for a, b in bounds]
    return {**_mean_dicts(per_chunk), "chance": _mean_dicts(chance),
            "n_segments": n, "n_chunks": len(sizes),
            "min_chunk": min(sizes), "max_chunk": max(sizes)}


def authors_code_ranks(za: np.ndarray, zv: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """What the authors' code took for ranks, 1-based: diag(argsort(sim)) of the
    video x audio cosine similarity matrix, along rows for v->a and along columns for a->v
    (a column of video x audio is a row of audio x video). One chunk, in memory."""
    _check_pair(za, zv)
    za, zv = normalise(za), normalise(zv)
    n = len(za)
    a2v, v2a = np.empty(n, dtype=np.int64), np.empty(n, dtype=np.int64)
    for rows in query_blocks(n, n):
        local, diag = np.arange(rows.stop - rows.start), np.arange(rows.start, rows.stop)
        v2a[rows] = np.argsort(zv[rows] @ za.T, axis=1)[local, diag] + 1
        a2v[rows] = np.argsort(za[rows] @ zv.T, axis=1)[local, diag] + 1
    return a2v, v2a


def evaluate_authors_code(za, zv, pool: int) -> dict:
    """Median 'ranks' of the authors' code, over the same chunks as the paper's way."""
    meds = []
    for start, stop in chunk_bounds(len(za), pool):
        a2v, v2a = authors_code_ranks(za[start:stop], zv[start:stop])
        meds.append({"median_rank_a2v": float(np.median(a2v)),
                     "median_rank_v2a": float(np.median(v2a))})
    return _mean_dicts(meds)


def evaluate(za, zv, pool: int) -> dict:
    """Table 1 metrics of one configuration on the test split: the paper's way (chunks of
    `pool`), the whole split, and the authors' code's computation."""
    return {"paper": evaluate_pool(za, zv, pool),
            "full": evaluate_pool(za, zv, None),
            "authors_code": evaluate_authors_code(za, zv, pool)}


def median_rank(za, zv, pool: int | None = None) -> float:
    """One number for validation curves: the mean of the a->v and v->a median ranks,
    over one pool of all rows (pool=None) or the paper's chunks of `pool`."""
    m = evaluate_pool(za, zv, pool)
    return (m["median_rank_a2v"] + m["median_rank_v2a"]) / 2
