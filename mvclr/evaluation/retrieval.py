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
- `paper`: the paper's way, chunks of `pool` segments, ranks within each chunk, the median (and
  the other metrics) per chunk, averaged over chunks with equal weight. Chunks are consecutive
  runs of a seeded random order of the test videos (`chunk_order`: a video's segments stay
  together), so a catalogue sorted by artist or genre does not make chunks homogeneous. The
  last partial chunk is folded into the previous full chunk, so every chunk holds between pool
  and 2*pool-1 segments (a tiny remainder chunk would otherwise weigh as much as a full one);
  with fewer than `pool` segments there is one chunk of all of them.
- `full`: one pool of the whole split.
The chance level of a pool of n is the expectation for random embeddings: median and mean rank
(n+1)/2, R@k = min(k, n)/n; for `paper` averaged over the chunks like the metrics.
Every median rank comes with a 95 % bootstrap interval over test videos (`ci95`,
mvclr.evaluation.bootstrap), also for `ratio`: the mean of the a->v and v->a median ranks over
chance, the quantity the verdicts test. What the authors' evaluation code computes is in
mvclr.evaluation.authors_code; mvclr.evaluation.table1 puts both together.

Memory stays bounded: `ranks` reads the embeddings by blocks (arrays, or RowFiles of
mvclr.evaluation.rowfile for a split too large to hold) and holds one block of queries against
one block of candidates at a time (similarity.BLOCK_ELEMENTS similarities), counting both
directions from the same block; a chunk of the paper's way is gathered into memory (at most
2 * pool rows). The whole-split ranking stays exact; its time grows with the square of the split.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mvclr.evaluation import bootstrap, similarity
from mvclr.evaluation.similarity import normalise

TIE_TOL = 1e-6
RECALL_AT = (1, 5, 10)
CHUNK_STREAM = 0x636875      # seeds the chunk order apart from every other use of `seed`
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


def chunk_order(video_ids: np.ndarray, seed: int) -> np.ndarray:
    """Row order of the paper's chunks: the videos in a random order seeded by `seed`, each
    video's segments together and in their store order."""
    _, video = np.unique(np.asarray(video_ids), return_inverse=True)
    n_videos = int(video.max()) + 1 if len(video) else 0
    position = np.empty(n_videos, dtype=np.int64)
    position[np.random.default_rng([seed, CHUNK_STREAM]).permutation(n_videos)] = np.arange(n_videos)
    return np.lexsort((np.arange(len(video)), position[video]))


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


def mean_dicts(dicts: list[dict]) -> dict:
    """Key-wise mean of dicts of numbers."""
    return {k: float(np.mean([d[k] for d in dicts])) for k in dicts[0]}


@dataclass
class PoolRanks:
    """Partner ranks of one pool layout, rows in the embeddings' order."""
    a2v: np.ndarray            # int [n]: rank of zv[i] for the query za[i], within i's chunk
    v2a: np.ndarray            # int [n]: rank of za[i] for the query zv[i], within i's chunk
    chunk: np.ndarray          # int [n]: the chunk of row i
    sizes: list[int]           # segments per chunk

    @property
    def chance(self) -> float:
        """Chance median rank, averaged over the chunks like the metrics."""
        return float(np.mean([(s + 1) / 2 for s in self.sizes]))


def pool_ranks(za, zv, pool: int | None, order: np.ndarray | None = None) -> PoolRanks:
    """Ranks within chunks of `pool` consecutive rows of `order` (default: the rows as given;
    pool None: one pool of all, read by blocks). za, zv: arrays or RowFiles."""
    n = _check_pair(za, zv)
    a2v, v2a = np.empty(n, np.int64), np.empty(n, np.int64)
    chunk = np.empty(n, np.int64)
    bounds = chunk_bounds(n, pool)
    for c, (start, stop) in enumerate(bounds):
        if order is None and (start, stop) == (0, n):
            a2v[:], v2a[:] = ranks(za, zv)
            chunk[:] = c
            continue
        rows = np.arange(start, stop) if order is None else np.asarray(order)[start:stop]
        a2v[rows], v2a[rows] = ranks(za[rows], zv[rows])
        chunk[rows] = c
    return PoolRanks(a2v, v2a, chunk, [b - a for a, b in bounds])


def summarise(ranks: PoolRanks) -> dict:
    """Metrics a->v and v->a averaged over the chunks, with the chance level and chunk sizes."""
    per_chunk, chance = [], []
    for c, size in enumerate(ranks.sizes):
        rows = ranks.chunk == c
        a2v, v2a = rank_summary(ranks.a2v[rows]), rank_summary(ranks.v2a[rows])
        per_chunk.append({**{f"{k}_a2v": x for k, x in a2v.items()},
                          **{f"{k}_v2a": x for k, x in v2a.items()}})
        chance.append(chance_summary(size))
    return {**mean_dicts(per_chunk), "chance": mean_dicts(chance), "n_segments": len(ranks.chunk),
            "n_chunks": len(ranks.sizes), "min_chunk": min(ranks.sizes),
            "max_chunk": max(ranks.sizes)}


def chunk_medians(values: np.ndarray, chunk: np.ndarray, n_chunks: int, combine=np.nanmean):
    """Bootstrap statistic: per chunk, the median of `values` under the resample's weights,
    combined over the chunks (default: their mean; chunks a resample misses are left out)."""
    def statistic(w: np.ndarray) -> np.ndarray:
        medians = np.stack([bootstrap.weighted_median(values[chunk == c], w[:, chunk == c])
                            for c in range(n_chunks)], axis=1)
        with np.errstate(all="ignore"):
            return combine(medians, axis=1)
    return statistic


def median_rank_intervals(ranks: PoolRanks, video_ids: np.ndarray, n_boot: int,
                          seed: int) -> dict[str, list[float]]:
    """95 % bootstrap intervals over test videos of the a->v and v->a median ranks and of
    their mean over chance (`ratio`); the same resamples for all three."""
    n = len(ranks.sizes)
    a2v, v2a = (chunk_medians(r.astype(float), ranks.chunk, n) for r in (ranks.a2v, ranks.v2a))
    return {"median_rank_a2v": bootstrap.interval(a2v, video_ids, n_boot, seed),
            "median_rank_v2a": bootstrap.interval(v2a, video_ids, n_boot, seed),
            "ratio": bootstrap.interval(lambda w: (a2v(w) + v2a(w)) / 2 / ranks.chance,
                                        video_ids, n_boot, seed)}


def evaluate_pool(za, zv, pool: int | None, video_ids: np.ndarray,
                  seed: int, n_boot: int = 0) -> dict:
    """Metrics of one pool layout (`pool` None: one pool of all; else the paper's chunks in
    `chunk_order`), with bootstrap intervals over videos when n_boot > 0."""
    order = None if pool is None else chunk_order(video_ids, seed)
    ranks = pool_ranks(za, zv, pool, order)
    out = summarise(ranks)
    if n_boot:
        out["ci95"] = median_rank_intervals(ranks, video_ids, n_boot, seed)
    return out


def median_rank(za, zv, pool: int | None = None,
                video_ids: np.ndarray | None = None, seed: int = 0) -> float:
    """One number for validation curves: the mean of the a->v and v->a median ranks, over one
    pool of all rows (pool None) or the paper's chunks of `pool` (video_ids needed)."""
    order = None if pool is None else chunk_order(video_ids, seed)
    m = summarise(pool_ranks(za, zv, pool, order))
    return (m["median_rank_a2v"] + m["median_rank_v2a"]) / 2
