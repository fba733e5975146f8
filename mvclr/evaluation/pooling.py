"""Segment vectors to video vectors: which rows belong to which video, the representations of
Table 2 per segment, and the aggregations that make one vector per video (Table 3).

Representations (REPRESENTATIONS): musicnn, r2plus1d, their concatenation, and a
configuration's CL embeddings cl_audio, cl_video and cl_agg (see combine_modalities).
Aggregations: mean (the paper's), l2mean, max, and the fitted `attention`, a weighted mean with
per-segment weights from mvclr.evaluation.attention_pool.

At catalogue scale the segment vectors are never held: `video_vectors` aggregates a stream of
blocks that each hold whole videos (consecutive rows: mvclr.features.paired.PairedStores.
video_blocks, or `video_chunks` of a RowFile), so memory holds one block and the output, one
vector per video.
"""
from __future__ import annotations

from typing import Iterable, Iterator

import numpy as np

from mvclr.evaluation.similarity import normalise

CHUNK_ROWS = 1 << 15          # rows per chunk of `video_chunks`

AGGREGATIONS = ("mean", "l2mean", "max")   # mean: the paper's; l2mean: mean of the L2-normalised
                                           # segment vectors (every segment weighs the same);
                                           # max: element-wise maximum
# Aggregations fitted on the training split: a weighted mean with per-segment weights given
# by the caller (attention: mvclr.evaluation.attention_pool.segment_weights).
FITTED_AGGREGATIONS = ("attention",)

REPRESENTATIONS = ("musicnn", "r2plus1d", "musicnn+r2plus1d", "cl_audio", "cl_video", "cl_agg")
# the modality whose attention weights pool a representation (both: the mean of the two)
MODALITIES = {"musicnn": ("audio",), "r2plus1d": ("video",), "musicnn+r2plus1d": ("audio", "video"),
              "cl_audio": ("audio",), "cl_video": ("video",), "cl_agg": ("audio", "video")}


def video_rows(segment_video_ids: np.ndarray, video_ids) -> list[np.ndarray]:
    """Row indices of each video's segments (in store order), one array per video of
    `video_ids`; a ValueError names videos without segments."""
    segment_video_ids = np.asarray(segment_video_ids)
    order = np.argsort(segment_video_ids, kind="stable")
    sorted_ids = segment_video_ids[order]
    starts = np.searchsorted(sorted_ids, video_ids, side="left")
    stops = np.searchsorted(sorted_ids, video_ids, side="right")
    if np.any(stops == starts):
        missing = np.asarray(video_ids)[stops == starts]
        raise ValueError(f"videos without segments: {list(missing[:5])}")
    return [order[a:b] for a, b in zip(starts, stops)]


def combine_modalities(za: np.ndarray, zv: np.ndarray) -> np.ndarray:
    """CL_agg per segment: the mean of the L2-normalised audio and video embeddings, which share
    one space; concatenated instead when their dimensionalities differ."""
    za, zv = normalise(za), normalise(zv)
    if za.shape == zv.shape:
        return (za + zv) / 2
    return np.hstack([za, zv])


def segment_vectors(name: str, a: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Representation `name` of segments from its pair: the frozen (audio, video) features for
    musicnn, r2plus1d and their concatenation, a configuration's (za, zv) for the cl_* ones."""
    if name in ("musicnn", "cl_audio"):
        return a
    if name in ("r2plus1d", "cl_video"):
        return v
    if name == "musicnn+r2plus1d":
        return np.hstack([a, v])
    if name == "cl_agg":
        return combine_modalities(a, v)
    raise ValueError(f"unknown representation {name!r}; known: {', '.join(REPRESENTATIONS)}")


def representations(audio: np.ndarray, video: np.ndarray, za: np.ndarray, zv: np.ndarray
                    ) -> dict[str, np.ndarray]:
    """The six segment-level representations of Table 2: the frozen backbone features
    (musicnn, R(2+1)D, concatenated) and the main configuration's embeddings (za, zv)."""
    return {name: segment_vectors(name, *((za, zv) if name.startswith("cl_") else (audio, video)))
            for name in REPRESENTATIONS}


def _check_how(how: str, weights) -> None:
    if how in FITTED_AGGREGATIONS:
        if weights is None:
            raise ValueError(f"aggregation {how!r} is fitted on the training split and needs "
                             "per-segment weights; a fixed one is needed here: "
                             f"{', '.join(AGGREGATIONS)}")
    elif how not in AGGREGATIONS:
        raise ValueError(f"unknown probe.aggregate {how!r}; known: "
                         f"{', '.join([*AGGREGATIONS, *FITTED_AGGREGATIONS])}")


def aggregate_runs(x: np.ndarray, counts: np.ndarray, how: str = "mean",
                   weights: np.ndarray | None = None) -> np.ndarray:
    """One vector per video of consecutive runs of rows of x (video i: the next counts[i] rows):
    AGGREGATIONS[how], or for a fitted aggregation the weighted sum with per-row `weights`."""
    _check_how(how, weights)
    x = np.asarray(x, dtype=np.float32)
    counts = np.asarray(counts, dtype=np.int64)
    if counts.sum() != len(x) or np.any(counts < 1):
        raise ValueError(f"{len(x)} rows for videos of {counts.sum()} segments (each >= 1)")
    offsets = np.cumsum(counts) - counts
    if how in FITTED_AGGREGATIONS:
        if len(weights) != len(x):
            raise ValueError(f"{len(weights)} segment weights for {len(x)} feature rows")
        return np.add.reduceat(np.asarray(weights, np.float32)[:, None] * x, offsets, axis=0)
    if how == "max":
        return np.maximum.reduceat(x, offsets, axis=0)
    if how == "l2mean":
        x = normalise(x)
    return (np.add.reduceat(x, offsets, axis=0) / counts[:, None]).astype(np.float32)


def aggregate(x: np.ndarray, segment_video_ids: np.ndarray, video_ids: np.ndarray,
              how: str = "mean", weights: np.ndarray | None = None) -> np.ndarray:
    """One vector per video of `video_ids` from its segments' rows of x, in memory (any row
    order): `aggregate_runs` of each video's rows."""
    _check_how(how, weights)
    if len(x) != len(segment_video_ids):
        raise ValueError(f"{len(x)} feature rows for {len(segment_video_ids)} segments")
    if weights is not None and len(weights) != len(x):
        raise ValueError(f"{len(weights)} segment weights for {len(x)} feature rows")
    groups = video_rows(segment_video_ids, video_ids)
    rows = np.concatenate(groups)
    return aggregate_runs(np.asarray(x)[rows], [len(g) for g in groups], how,
                          None if weights is None else np.asarray(weights)[rows])


def video_chunks(counts: np.ndarray, rows: int = CHUNK_ROWS) -> Iterator[tuple[slice, slice]]:
    """(videos, rows) of consecutive whole videos of about `rows` rows each, for videos of
    `counts` segments laid out consecutively in that order."""
    ends = np.cumsum(counts)
    first = 0
    while first < len(ends):
        start = int(ends[first - 1]) if first else 0
        last = max(first + 1, int(np.searchsorted(ends, start + rows, side="right")))
        yield slice(first, last), slice(start, int(ends[last - 1]))
        first = last


def pair_blocks(a, v, counts: np.ndarray) -> Iterator[tuple[slice, slice, np.ndarray, np.ndarray]]:
    """(videos, rows, a rows, v rows) of whole videos from two row sources (arrays or RowFiles)
    whose rows are the segments of videos of `counts` segments, consecutively."""
    for videos, rows in video_chunks(counts):
        yield videos, rows, a[rows], v[rows]


def video_vectors(blocks: Iterable, name: str, counts: np.ndarray, how: str, out=None,
                  weights=None):
    """The video vectors of representation `name` from `blocks` of (videos, rows, a, v) holding
    whole videos (the pair of `segment_vectors`), written to `out` ([n_videos, dim]: an array,
    or a RowFile written in order; None: a new float32 array). weights: per-row weights of a
    fitted aggregation (array or RowFile [n_rows, 2]: audio and video modality, averaged as
    MODALITIES says)."""
    for videos, rows, a, v in blocks:
        w = None
        if weights is not None and how in FITTED_AGGREGATIONS:
            both = weights[rows]
            w = both[:, [("audio", "video").index(m) for m in MODALITIES[name]]].mean(axis=1)
        x = aggregate_runs(segment_vectors(name, a, v), counts[videos], how, w)
        if out is None:
            out = np.empty((len(counts), x.shape[1]), dtype=np.float32)
        out[videos] = x
    return out
