"""Segment vectors to video vectors: which rows belong to which video, the representations of
Table 2 per segment, and the aggregations that make one vector per video (Table 3).

Representations (REPRESENTATIONS): musicnn, r2plus1d, their concatenation, and a
configuration's CL embeddings cl_audio, cl_video and cl_agg (see combine_modalities).
Aggregations: mean (the paper's), l2mean, max, and the fitted `attention`, a weighted mean with
per-segment weights from mvclr.evaluation.attention_pool.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from mvclr.evaluation.similarity import normalise


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


def _mean(x: np.ndarray) -> np.ndarray:
    return x.mean(axis=0)


def _l2mean(x: np.ndarray) -> np.ndarray:
    return normalise(x).mean(axis=0)


def _max(x: np.ndarray) -> np.ndarray:
    return x.max(axis=0)


# name -> function from one video's segment vectors [k, d] to its video vector [d']
AGGREGATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "mean": _mean,        # the paper's
    "l2mean": _l2mean,    # mean of the L2-normalised segment vectors: every segment weighs the same
    "max": _max,          # element-wise maximum
}
# Aggregations fitted on the training split: a weighted mean with per-segment weights given
# by the caller (attention: mvclr.evaluation.attention_pool.segment_weights).
FITTED_AGGREGATIONS = ("attention",)

REPRESENTATIONS = ("musicnn", "r2plus1d", "musicnn+r2plus1d", "cl_audio", "cl_video", "cl_agg")
# the modality whose attention weights pool a representation (both: the mean of the two)
MODALITIES = {"musicnn": ("audio",), "r2plus1d": ("video",), "musicnn+r2plus1d": ("audio", "video"),
              "cl_audio": ("audio",), "cl_video": ("video",), "cl_agg": ("audio", "video")}


def combine_modalities(za: np.ndarray, zv: np.ndarray) -> np.ndarray:
    """CL_agg per segment: the mean of the L2-normalised audio and video embeddings, which share
    one space; concatenated instead when their dimensionalities differ."""
    za, zv = normalise(za), normalise(zv)
    if za.shape == zv.shape:
        return (za + zv) / 2
    return np.hstack([za, zv])


def representations(audio: np.ndarray, video: np.ndarray, za: np.ndarray, zv: np.ndarray
                    ) -> dict[str, np.ndarray]:
    """The six segment-level representations of Table 2: the frozen backbone features
    (musicnn, R(2+1)D, concatenated) and the main configuration's embeddings (za, zv)."""
    return {"musicnn": audio, "r2plus1d": video,
            "musicnn+r2plus1d": np.hstack([audio, video]),
            "cl_audio": za, "cl_video": zv, "cl_agg": combine_modalities(za, zv)}


def aggregate(x: np.ndarray, segment_video_ids: np.ndarray, video_ids: np.ndarray,
              how: str = "mean", weights: np.ndarray | None = None) -> np.ndarray:
    """One vector per video of `video_ids` from its segments' rows of x: AGGREGATIONS[how],
    or for a fitted aggregation the weighted sum with per-segment `weights` [n_segments]."""
    if how in FITTED_AGGREGATIONS:
        if weights is None:
            raise ValueError(f"aggregation {how!r} is fitted on the training split and needs "
                             "per-segment weights; a fixed one is needed here: "
                             f"{', '.join(AGGREGATIONS)}")
        if len(weights) != len(x):
            raise ValueError(f"{len(weights)} segment weights for {len(x)} feature rows")
    elif how not in AGGREGATIONS:
        raise ValueError(f"unknown probe.aggregate {how!r}; known: "
                         f"{', '.join([*AGGREGATIONS, *FITTED_AGGREGATIONS])}")
    if len(x) != len(segment_video_ids):
        raise ValueError(f"{len(x)} feature rows for {len(segment_video_ids)} segments")
    groups = video_rows(segment_video_ids, video_ids)
    if weights is not None and how in FITTED_AGGREGATIONS:
        w = np.asarray(weights, dtype=np.float32)
        return np.stack([w[rows] @ np.asarray(x[rows], dtype=np.float32)
                         for rows in groups]).astype(np.float32)
    fn = AGGREGATIONS[how]
    return np.stack([fn(np.asarray(x[rows], dtype=np.float32)) for rows in groups]).astype(np.float32)
