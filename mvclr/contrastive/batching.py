"""Batches that never hold two segments of the same video (they would be false negatives).

One epoch: the videos in random order, each video's segments shuffled and laid out
contiguously; position p of that sequence goes to batch p mod m. A video's segments occupy
at most m consecutive positions, hence m different batches. m is the smallest number of
batches that holds every segment with at most `batch_size` per batch and that is at least
the largest number of segments of one video, so every segment is used once per epoch and
batch sizes differ by at most one (equal-sized batches give every pair the same number of
negatives). When one video holds more than half of the segments some batches necessarily
hold a single segment; a contrastive loss cannot use those.
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

