"""Cosine-similarity primitives every evaluation uses: row normalisation, query blocks that
bound the memory of a similarity matrix, and the blocked top-k search.

Memory stays bounded: a block of queries is compared with all candidates at a time, at most
BLOCK_ELEMENTS similarities (64 MiB of float32, 128 MiB of float64).
"""
from __future__ import annotations

from typing import Iterator

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


def top_k(x: np.ndarray, seeds, k: int, groups=None) -> tuple[np.ndarray, np.ndarray]:
    """The k nearest candidates of each seed row by cosine similarity.

    x: [n, d]; seeds: row indices; groups: label per row (default: every row its own group),
    candidates of seed s are the rows j with groups[j] != groups[s].
    Returns (index [len(seeds), k] int64, similarity [len(seeds), k] float64), best first,
    ties by lower index; where a seed has fewer than k candidates the rest is -1 / nan."""
    xn = normalise(x, np.float64)
    seeds = np.asarray(seeds, dtype=np.int64).ravel()
    n = len(xn)
    codes = np.arange(n) if groups is None else group_codes(groups)
    if len(codes) != n:
        raise ValueError(f"{len(codes)} group labels for {n} rows")
    index = np.full((len(seeds), k), -1, dtype=np.int64)
    sim = np.full((len(seeds), k), np.nan)
    if k <= 0 or len(seeds) == 0:
        return index, sim
    for rows in query_blocks(len(seeds), n):
        block = seeds[rows]
        s = xn[block] @ xn.T
        s[codes[None, :] == codes[block][:, None]] = -np.inf
        order = np.argsort(-s, axis=1, kind="stable")[:, :k]
        top = np.take_along_axis(s, order, axis=1)
        valid = np.isfinite(top)
        m = order.shape[1]
        index[rows, :m] = np.where(valid, order, -1)
        sim[rows, :m] = np.where(valid, top, np.nan)
    return index, sim
