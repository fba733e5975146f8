"""Cosine-similarity primitives every evaluation uses: row normalisation, query blocks that
bound the memory of a similarity matrix, and the top-k search over candidates read by blocks.

Memory stays bounded: a block of queries is compared with all candidates at a time, at most
BLOCK_ELEMENTS similarities (64 MiB of float32, 128 MiB of float64).
"""
from __future__ import annotations

from typing import Iterable, Iterator

import numpy as np

BLOCK_ELEMENTS = 1 << 24      # similarities held at once


def normalise(z: np.ndarray, dtype=np.float32) -> np.ndarray:
    """Rows scaled to unit L2 norm, as `dtype`; all-zero rows stay zero."""
    z = np.asarray(z, dtype=dtype)
    if z.ndim != 2:
        raise ValueError(f"vectors must be a 2-d array [n, dim], got shape {z.shape}")
    return z / np.maximum(np.linalg.norm(z, axis=1, keepdims=True), np.finfo(dtype).tiny)


def query_blocks(n_queries: int, n_candidates: int) -> Iterator[slice]:
    """Consecutive slices of the queries such that a block against all candidates holds at
    most BLOCK_ELEMENTS similarities (at least one query per block)."""
    step = max(1, BLOCK_ELEMENTS // max(n_candidates, 1))
    for start in range(0, n_queries, step):
        yield slice(start, min(start + step, n_queries))


def group_codes(groups) -> np.ndarray:
    """Integer code per item for any array of group labels."""
    return np.unique(np.asarray(groups), return_inverse=True)[1].ravel()


def top_k_blocks(queries: np.ndarray, query_groups, blocks: Iterable, k: int
                 ) -> tuple[np.ndarray, np.ndarray]:
    """The k nearest candidates of each query row by cosine similarity, the candidates read by
    `blocks` of (first row, candidate vectors, their groups); a query's candidates are the rows
    of groups other than its own. Returns (row index [m, k] int64, similarity [m, k] float64),
    best first, ties by lower row; -1 / nan where a query has fewer than k candidates.
    Memory: the queries and one block against them."""
    q = normalise(queries, np.float64)
    query_groups = np.asarray(query_groups)
    index = np.full((len(q), k), -1, dtype=np.int64)
    sim = np.full((len(q), k), -np.inf)
    if k <= 0 or len(q) == 0:
        return index, np.full((len(q), max(k, 0)), np.nan)
    for start, candidates, groups in blocks:
        c, groups = normalise(candidates, np.float64), np.asarray(groups)
        for rows in query_blocks(len(q), len(c)):
            s = q[rows] @ c.T
            s[query_groups[rows][:, None] == groups[None, :]] = -np.inf
            best = np.argsort(-s, axis=1, kind="stable")[:, :k]
            # earlier (lower) rows first: a stable sort keeps them ahead of equal similarities
            both_sim = np.concatenate([sim[rows], np.take_along_axis(s, best, axis=1)], axis=1)
            both_idx = np.concatenate([index[rows], best + start], axis=1)
            order = np.argsort(-both_sim, axis=1, kind="stable")[:, :k]
            sim[rows] = np.take_along_axis(both_sim, order, axis=1)
            index[rows] = np.take_along_axis(both_idx, order, axis=1)
    valid = np.isfinite(sim)
    return np.where(valid, index, -1), np.where(valid, sim, np.nan)


def top_k(x: np.ndarray, seeds, k: int, groups=None, rows: int = 1 << 14
          ) -> tuple[np.ndarray, np.ndarray]:
    """The k nearest rows of x [n, d] (array or RowFile, read `rows` at a time) to each seed
    row, among the rows of other groups (groups: label per row; default every row its own
    group), as `top_k_blocks` returns them."""
    seeds = np.asarray(seeds, dtype=np.int64).ravel()
    n = len(x)
    codes = np.arange(n) if groups is None else group_codes(groups)
    if len(codes) != n:
        raise ValueError(f"{len(codes)} group labels for {n} rows")
    blocks = ((a, x[a:a + rows], codes[a:a + rows]) for a in range(0, n, rows))
    return top_k_blocks(x[seeds] if len(seeds) else np.zeros((0, x.shape[1])), codes[seeds], blocks, k)
