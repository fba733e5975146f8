"""A synthetic catalogue at the store level, written as the pipeline leaves it after embed, for
benchmarks/scale.py --segments: data/segments.h5 (the segment metadata; its audio and frames
datasets are allocated but never written, so they read as silence and black frames and take no
disk), data/index.csv (genre and tags of every video), features/{audio,video}.zarr (1506-d and
512-d vectors, musicnn's and R(2+1)D's sizes) with done-markers and attributes as the embed
stages write them.

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
from mvclr.data.segment_store import DIGEST_BYTES, STR
from mvclr.features import store as feature_store
from mvclr.features.embedding import segments_digest
from mvclr.paths import AUDIO, INDEX, SEGMENTS, VIDEO

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


def _write_segments(path: Path, counts: np.ndarray, split: np.ndarray, ids: np.ndarray,
                    decode: dict, seed: int) -> None:
    n = int(counts.sum())
    samples = int(round(decode["segment_seconds"] * decode["sample_rate"]))
    path.parent.mkdir(parents=True, exist_ok=True)
    video_of = np.repeat(np.arange(len(counts)), counts)
    index = np.arange(n) - np.repeat(np.cumsum(counts) - counts, counts)
    with h5py.File(path, "w") as f:
        f.create_dataset("audio", (n, samples), np.float32, chunks=(16, samples))
        f.create_dataset("frames", (n, decode["frames"], decode["height"], decode["width"], 3),
                         np.uint8, chunks=(1, decode["frames"], decode["height"], decode["width"], 3),
                         compression="lzf")
        columns = {"video_id": STR, "segment_index": np.int32, "start_seconds": np.float64,
                   "split": STR}
        for name, dtype in columns.items():
            f.create_dataset(name, (n,), dtype, chunks=(min(4096, n),))
        f.create_dataset("digest", (n, DIGEST_BYTES), np.uint8, chunks=(min(4096, n), DIGEST_BYTES))
        for a in range(0, n, META_ROWS):
            rows = slice(a, min(a + META_ROWS, n))
            f["video_id"][rows] = ids[video_of[rows]].astype(object)
            f["segment_index"][rows] = index[rows]
            f["start_seconds"][rows] = index[rows] * decode["segment_seconds"]
            f["split"][rows] = split[video_of[rows]].astype(object)
        f.attrs.update({k: decode[k] for k in ("sample_rate", "segment_seconds", "frames",
                                               "height", "width")}, seed=seed)


def _write_features(path: Path, x_of, n: int, dim: int, block_rows: int, attrs: dict) -> None:
    store = feature_store.FeatureStore.open(path, rows=n, dim=dim, block_rows=block_rows,
                                            attrs=attrs)
    for b in range(store.n_blocks):
        store.write(b, x_of(b, store.block(b)))


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
    _write_segments(root / SEGMENTS, counts, split, ids, params["decode"], seed)
    digest = segments_digest(root / SEGMENTS)

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

    features = params["features"]
    for name, path, dim in (("audio", AUDIO, AUDIO_DIM), ("video", VIDEO, VIDEO_DIM)):
        spec = {"modality": name, "window_seconds": params["decode"]["window_seconds"],
                "block_rows": features["block_rows"], "segments": digest, "backbone": "synthetic"}
        spec.update(model=features["audio"]["model"], layers=list(features["audio"]["layers"])) \
            if name == "audio" else spec.update(frames=features["video"]["frames"], seed=seed)
        attrs = {"fingerprint": feature_store.fingerprint(spec), "fingerprint_of": spec,
                 "backbone": "synthetic", "weights": "synthetic" if name == "audio" else
                 f"random init (seed {seed})"}
        _write_features(root / path, lambda b, rows: modality(name, b, rows), segments, dim,
                        features["block_rows"], attrs)
    return {"segments": segments, "videos": n_videos, "test_video": str(ids[split == "test"][0]),
            "splits": {s: int(np.sum(split == s)) for s in ("train", "val", "test")}}
