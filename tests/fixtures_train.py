"""Tiny stores for the training tests: a segment store with placeholder media and feature
stores of synthetic backbone vectors in which audio and video share a latent per segment."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from mvclr.features.store import FeatureStore
from mvclr.data.segment_store import SegmentWriter
from mvclr.data.split import write_split


def synthetic_pairs(video_ids: np.ndarray, audio_dim: int = 24, video_dim: int = 16,
                    latent: int = 8, noise: float = 0.3,
                    seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Audio and video vectors that are noisy linear images of one latent per segment; the
    audio dimensions get very different scales and offsets, as musicnn's do."""
    rng = np.random.default_rng(seed)
    n = len(video_ids)
    z = rng.normal(size=(n, latent))
    audio = z @ rng.normal(size=(latent, audio_dim)) + noise * rng.normal(size=(n, audio_dim))
    video = z @ rng.normal(size=(latent, video_dim)) + noise * rng.normal(size=(n, video_dim))
    audio = audio * rng.uniform(0.01, 100, size=audio_dim) + rng.uniform(0, 50, size=audio_dim)
    return audio.astype(np.float32), video.astype(np.float32)


def video_layout(n_videos: int, segments: int = 6, split=(0.8, 0.1, 0.1)):
    """video_id and split per segment, videos in order, split by video."""
    n_train = int(round(split[0] * n_videos))
    n_val = int(round(split[1] * n_videos))
    video_ids, splits = [], []
    for v in range(n_videos):
        part = "train" if v < n_train else "val" if v < n_train + n_val else "test"
        video_ids += [f"v{v:03d}"] * segments
        splits += [part] * segments
    return np.array(video_ids), np.array(splits)


def write_segments(path: Path, video_ids: np.ndarray, splits: np.ndarray) -> None:
    """A segment store with the given rows (consecutive rows of one video) and 1-sample media,
    and the videos' split beside it (split.csv)."""
    with SegmentWriter(path, sample_rate=4, segment_seconds=1.0, frames=1, height=2,
                       width=2, seed=0) as writer:
        start = 0
        while start < len(video_ids):
            stop = start
            while stop < len(video_ids) and video_ids[stop] == video_ids[start]:
                stop += 1
            k = stop - start
            writer.append(np.zeros((k, 4), np.float32), np.zeros((k, 1, 2, 2, 3), np.uint8),
                          str(video_ids[start]), np.arange(k) * 5.0, np.arange(k))
            start = stop
    split = dict(zip(video_ids.tolist(), splits.tolist()))
    write_split(split, Path(path).parent / "split.csv", list(split))


def write_features(path: Path, x: np.ndarray, block_rows: int = 64) -> None:
    store = FeatureStore.open(path, rows=len(x), dim=x.shape[1], block_rows=block_rows,
                              attrs={"fingerprint": "test"})
    for b in range(store.n_blocks):
        store.write(b, x[store.block(b)], np.full(16, 1, np.uint8))


def write_workspace(root: Path, n_videos: int = 30, **pairs) -> tuple[np.ndarray, np.ndarray]:
    """data/segments.h5 and features/{audio,video}.zarr under `root`; returns (audio, video)."""
    video_ids, splits = video_layout(n_videos)
    audio, video = synthetic_pairs(video_ids, **pairs)
    write_segments(root / "data" / "segments.h5", video_ids, splits)
    write_features(root / "features" / "audio.zarr", audio)
    write_features(root / "features" / "video.zarr", video)
    return audio, video


def skewed_stores(root: Path, block_rows: int = 4) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Stores under `root` of 25 videos of 1 to 9 segments, split by video, blocks of
    `block_rows` rows, the first audio column being the row number; (ids, split, audio, video)
    per segment."""
    rng = np.random.default_rng(3)
    counts = rng.integers(1, 10, size=25)
    ids = np.repeat([f"v{i:02d}" for i in range(25)], counts)
    split = np.repeat(np.array(["train", "val", "test", "train", "train"] * 5), counts)
    audio, video = synthetic_pairs(ids)
    audio[:, 0] = np.arange(len(ids))
    write_segments(root / "data/segments.h5", ids, split)
    write_features(root / "features/audio.zarr", audio, block_rows=block_rows)
    write_features(root / "features/video.zarr", video, block_rows=block_rows)
    return ids, split, audio, video
