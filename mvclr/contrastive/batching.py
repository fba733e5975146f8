"""Batches that never hold two segments of the same video (they would be false negatives).

One epoch: the videos in random order, each video's segments shuffled and laid out
contiguously; position p of that sequence goes to batch p mod m. A video's segments occupy
at most m consecutive positions, hence m different batches. m is the smallest number of
batches that holds every segment with at most `batch_size` per batch and that is at least
the largest number of segments of one video, so every segment is used once per epoch and
batch sizes differ by at most one (equal-sized batches give every pair the same number of
negatives). When one video holds more than half of the segments some batches necessarily
hold a single segment; a contrastive loss cannot use those.

A catalogue too large to hold is read by blocks (mvclr.contrastive.sources): an epoch visits
the blocks in random order, a window of `per_window` blocks at a time (`epoch_windows`), and
draws the batches above from the rows of each window. A video whose segments straddle two
blocks is one video within a window and split across two windows otherwise, so no batch ever
holds two segments of one video either way.
"""
from __future__ import annotations

import numpy as np


def n_batches(counts: np.ndarray, batch_size: int) -> int:
    """Batches needed for videos with `counts` segments each."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    n = int(np.sum(counts))
    return max(-(-n // batch_size), int(np.max(counts, initial=0)))


def epoch_batches(video_ids: np.ndarray, batch_size: int,
                  rng: np.random.Generator) -> list[np.ndarray]:
    """One epoch's batches: lists of row indices into `video_ids`, in random order."""
    video_ids = np.asarray(video_ids)
    if len(video_ids) == 0:
        return []
    _, video, counts = np.unique(video_ids, return_inverse=True, return_counts=True)
    m = n_batches(counts, batch_size)
    # random video order, random order within each video, videos kept contiguous
    video_rank = rng.permutation(len(counts))[video]
    order = np.lexsort((rng.random(len(video_ids)), video_rank))
    return [order[b::m] for b in rng.permutation(m)]



def epoch_windows(blocks, per_window: int, rng: np.random.Generator) -> list[np.ndarray]:
    """The blocks in random order, `per_window` at a time; each window's blocks sorted (read in
    store order)."""
    order = rng.permutation(np.asarray(blocks))
    return [np.sort(order[i:i + per_window]) for i in range(0, len(order), max(per_window, 1))]


def store_windows(blocks, per_window: int) -> list[np.ndarray]:
    """The blocks in store order, `per_window` at a time (validation: the same every epoch)."""
    blocks = np.asarray(blocks)
    return [blocks[i:i + per_window] for i in range(0, len(blocks), max(per_window, 1))]


def window_blocks(shuffle_rows: int | None, block_rows: int, n_blocks: int) -> int:
    """Blocks per window: `shuffle_rows` rows' worth (all blocks when None)."""
    return n_blocks if shuffle_rows is None else max(1, shuffle_rows // block_rows)
