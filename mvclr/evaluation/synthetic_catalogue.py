"""A synthetic catalogue at the store level, written as the pipeline leaves it after embed, for
benchmarks/scale.py --segments: data/segments.h5 (the segment metadata and row digests; its
audio and frames datasets, the analysis window's, are allocated but never written, so they read
as silence and black frames and take no disk), data/index.csv (genre and tags of every video),
data/split.csv, features/{audio,video}.zarr (1506-d and 512-d vectors, musicnn's and R(2+1)D's
sizes) with the block markers and attributes the embed stages write.

Planted structure, so that ranks and probes land far from chance:
- each video has a genre g (uniform over `genres`) and a latent u = 2 c_g + N(0, I_r) (c_g a
  unit genre centre in r = LATENT dimensions);
- each of its segments a latent z = u + SEGMENT_SPREAD N(0, I_r): segments of one video are
  alike, each still has its own content;
- audio = z A + NOISE N(0, I) with each column scaled and shifted (musicnn's dimensions differ
  widely in scale), video = z V + NOISE N(0, I): partners share z, so cross-modal retrieval is
  learnable; genre and tags are readable from either side;
- tags: two of the genre's own (each with probability 0.7) and TAGS shared ones, tag t present
  when u[t] > 0.8.
Generated block by block (seeded per block): memory holds one block and the per-video latents.
"""
from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from mvclr.data.index import write_index
from mvclr.data.layout import Layout
from mvclr.data.segment_store import AUDIO_FILTER, DIGEST_BYTES, FRAMES_FILTER, STR, row_digest
from mvclr.data.split import write_split
from mvclr.features import store as feature_store
from mvclr.features.embedding import fingerprint_spec, input_digests
from mvclr.features.windows import window_info
from mvclr.paths import AUDIO, INDEX, SEGMENTS, SPLIT, VIDEO

AUDIO_DIM, VIDEO_DIM = 1506, 512
LATENT, SEGMENT_SPREAD, NOISE = 16, 0.6, 1.5
SHARED_TAGS = ("dance", "mellow", "live performance", "acoustic")
META_ROWS = 1 << 16


def _split(n_videos: int, rng: np.random.Generator) -> np.ndarray:
    split = np.array(["train"] * n_videos, dtype="<U5")
    order = rng.permutation(n_videos)
    n_val, n_test = n_videos // 10, n_videos // 10
    split[order[:n_val]], split[order[n_val:n_val + n_test]] = "val", "test"
    return split


def _write_segments(path: Path, counts: np.ndarray, ids: np.ndarray, layout: Layout,
                    seed: int) -> None:
    n = int(counts.sum())
    samples, frame_shape = layout.audio_samples, (layout.window_frames, layout.height, layout.width, 3)
    path.parent.mkdir(parents=True, exist_ok=True)
    video_of = np.repeat(np.arange(len(counts)), counts)
    index = np.arange(n) - np.repeat(np.cumsum(counts) - counts, counts)
    silent = row_digest(np.zeros(samples, np.float32), np.zeros(frame_shape, np.uint8))
    with h5py.File(path, "w") as f:
        f.create_dataset("audio", (n, samples), np.float32, chunks=(1, samples), **AUDIO_FILTER)
        f.create_dataset("frames", (n, *frame_shape), np.uint8, chunks=(1, *frame_shape),
                         **FRAMES_FILTER)
        columns = {"video_id": STR, "segment_index": np.int32, "start_seconds": np.float64}
        for name, dtype in columns.items():
            f.create_dataset(name, (n,), dtype, chunks=(min(4096, n),))
        f.create_dataset("digest", (n, DIGEST_BYTES), np.uint8, chunks=(min(4096, n), DIGEST_BYTES))
        for a in range(0, n, META_ROWS):
            rows = slice(a, min(a + META_ROWS, n))
            f["video_id"][rows] = ids[video_of[rows]].astype(object)
            f["segment_index"][rows] = index[rows]
            f["start_seconds"][rows] = index[rows] * layout.segment_seconds
            f["digest"][rows] = np.broadcast_to(silent, (rows.stop - rows.start, DIGEST_BYTES))
        f.attrs.update(layout.attrs(), seed=seed)


def _write_features(path: Path, x_of, n: int, dim: int, block_rows: int, attrs: dict,
                    digests: np.ndarray) -> None:
    store = feature_store.FeatureStore.open(path, rows=n, dim=dim, block_rows=block_rows,
                                            attrs=attrs)
    for b in range(store.n_blocks):
        store.write(b, x_of(b, store.block(b)), digests[b])


def write_catalogue(root: str | Path, segments: int, params: dict,
                    segments_per_video: int = 6) -> dict:
    """Write the stores of `segments` segments (videos of `segments_per_video` segments, the
    last one shorter when they do not divide) under `root`; returns a summary."""
    root, seed = Path(root), params["seed"]
    rng = np.random.default_rng([seed, 5])
    n_videos = -(-segments // segments_per_video)
    counts = np.full(n_videos, segments_per_video)
    counts[-1] = segments - segments_per_video * (n_videos - 1)
    ids = np.array([f"v{i:07d}" for i in range(n_videos)])
    genres = list(params["demo"]["genres"])
    genre = rng.integers(0, len(genres), n_videos)
    centres = rng.normal(size=(len(genres), LATENT))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    latent = (2 * centres[genre] + rng.normal(size=(n_videos, LATENT))).astype(np.float32)
    split = _split(n_videos, rng)
    own = rng.random((n_videos, 2)) < 0.7
    shared = latent[:, :len(SHARED_TAGS)] > 0.8
    index_rows = [{"video_id": v, "path": f"{v}.mp4", "genre": genres[g],
                   "tags": [f"{genres[g]} {k}" for k in (1, 2) if own[i, k - 1]]
                   + [t for t, on in zip(SHARED_TAGS, shared[i]) if on],
                   "duration": 6 * params["decode"]["segment_seconds"], "status": "ok",
                   "reason": "", "split": s} for i, (v, g, s) in enumerate(zip(ids, genre, split))]
    write_index(index_rows, root / INDEX)
    write_split(dict(zip(ids, split)), root / SPLIT, list(ids))
    _write_segments(root / SEGMENTS, counts, ids, Layout.from_params(params), seed)

    maps = {name: rng.normal(size=(LATENT, dim)).astype(np.float32) / np.sqrt(LATENT)
            for name, dim in (("audio", AUDIO_DIM), ("video", VIDEO_DIM))}
    scale, shift = rng.uniform(0.01, 10, AUDIO_DIM), rng.uniform(0, 5, AUDIO_DIM)
    video_of = np.repeat(np.arange(n_videos), counts)

    def segment_latent(b: int, rows: slice) -> np.ndarray:
        noise = np.random.default_rng([seed, 6, b]).normal(size=(rows.stop - rows.start, LATENT))
        return latent[video_of[rows]] + SEGMENT_SPREAD * noise.astype(np.float32)

    def modality(name: str, b: int, rows: slice) -> np.ndarray:
        z = segment_latent(b, rows)
        dim = maps[name].shape[1]
        noise = np.random.default_rng([seed, 7 if name == "audio" else 8, b]).standard_normal(
            (len(z), dim), dtype=np.float32)
        x = z @ maps[name] + NOISE * noise
        return (x * scale + shift).astype(np.float32) if name == "audio" else x

    block_rows = params["features"]["block_rows"]
    audio_info = {"backbone": "synthetic", "weights": "synthetic",
                  "model": params["features"]["audio"]["model"],
                  "layers": list(params["features"]["audio"]["layers"])}
    video_info = {"backbone": "synthetic", "weights": f"random init (seed {seed})"}
    for name, path, dim, info in (("audio", AUDIO, AUDIO_DIM, audio_info),
                                  ("video", VIDEO, VIDEO_DIM, video_info)):
        with h5py.File(root / SEGMENTS, "r") as f:
            window = window_info(f, name, params)
            spec = fingerprint_spec(name, params, info, window)
            digests = input_digests(f, feature_store.fingerprint(spec), block_rows)
        attrs = {**info, "window": window, "fingerprint": feature_store.fingerprint(spec),
                 "fingerprint_of": spec}
        _write_features(root / path, lambda b, rows: modality(name, b, rows), segments, dim,
                        block_rows, attrs, digests)
    return {"segments": segments, "videos": n_videos, "test_video": str(ids[split == "test"][0]),
            "splits": {s: int(np.sum(split == s)) for s in ("train", "val", "test")}}
