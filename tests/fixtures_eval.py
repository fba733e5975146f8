"""A tiny workspace for the evaluate stage: segment store, index, feature stores, params, models.

Features carry the genre (audio strongly, video weakly) and each video's audio and video
vectors share a per-segment signal, so probes and retrieval have something to find.
"""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import torch
import yaml

from mvclr.contrastive import heads
from mvclr.config import train_config
from mvclr.features.store import FeatureStore, load
from mvclr.data.segment_store import SegmentWriter
from mvclr.data.split import write_split

GENRES = ["jazz", "pop", "rock"]
TAGS = {"jazz": ["sax", "mellow"], "pop": ["catchy", "dance"], "rock": ["guitar", "loud"]}
AUDIO_DIM, VIDEO_DIM, SEGMENTS = 12, 8, 3
REPO = Path(__file__).resolve().parents[1]


def params(configs: dict | None = None, **main) -> dict:
    """The repository's params.yaml with small heads and probes and the given configurations."""
    p = yaml.safe_load((REPO / "params.yaml").read_text())
    p.update(hidden_dim=16, embed_dim=6, **main)
    p["paper_base"].update(hidden_dim=16, embed_dim=6)
    p["configs"] = {"cl_base": {}, "single_head": {"single_head": True}} if configs is None else configs
    p["eval"]["rank_pool"] = 8
    p["probe"].update(hidden=[32, 16], max_epochs=60, patience=5, batch_size=16, top_tags=3,
                      configs=[])
    p["probe"]["attention"]["pool"].update(hidden=8, max_epochs=30, patience=5)
    p["probe"]["attention"]["shared_space"].update(dim=8, max_epochs=10)
    return p


def write_models(root: Path, p: dict, seed: int = 0) -> None:
    """Untrained (seeded) models of `main` and every configuration, standardised on the data."""
    audio, video = load(root / "features/audio.zarr"), load(root / "features/video.zarr")
    for i, name in enumerate(["main", *p["configs"]]):
        torch.manual_seed(seed * 100 + i)
        model = heads.build(train_config(p, name), AUDIO_DIM, VIDEO_DIM)
        model.set_standardisation(heads.mean_std([audio]), heads.mean_std([video]))
        heads.save(model, root / "models" / f"{name}.pt", config_name=name)


def write_features(path: Path, x: np.ndarray) -> None:
    store = FeatureStore.open(path, rows=len(x), dim=x.shape[1], block_rows=16,
                              attrs={"fingerprint": "test"})
    for b in range(store.n_blocks):
        store.write(b, x[store.block(b)], np.full(16, 1, np.uint8))


def make_workspace(root: Path, n_videos: int = 30, seed: int = 0, p: dict | None = None) -> dict:
    """Write data/segments.h5, data/index.csv, features/*.zarr, params.yaml and models/ under
    root; returns the params. One skipped video in the index; split 60/20/20 by video."""
    root = Path(root)
    p = params() if p is None else p
    rng = np.random.default_rng(seed)
    n_train, n_val = int(0.6 * n_videos), int(0.2 * n_videos)
    split = ["train"] * n_train + ["val"] * n_val + ["test"] * (n_videos - n_train - n_val)
    genre = [GENRES[i % 3] for i in range(n_videos)]
    rows, audio, video = [], [], []
    (root / "data").mkdir(parents=True, exist_ok=True)
    with SegmentWriter(root / "data/segments.h5", sample_rate=100, segment_seconds=1.0,
                       frames=2, height=2, width=2, seed=seed) as w:
        for i in range(n_videos):
            vid = f"v{i:03d}"
            w.append(np.zeros((SEGMENTS, 100), np.float32), np.zeros((SEGMENTS, 2, 2, 2, 3), np.uint8),
                     vid, np.arange(SEGMENTS) * 1.0, np.arange(SEGMENTS))
            g = GENRES.index(genre[i])
            shared = rng.normal(size=(SEGMENTS, 4))
            audio.append(np.hstack([3 * np.eye(3)[g] + rng.normal(size=(SEGMENTS, 3)), shared,
                                    rng.normal(size=(SEGMENTS, AUDIO_DIM - 7))]))
            video.append(np.hstack([np.eye(3)[g] + rng.normal(size=(SEGMENTS, 3)), shared,
                                    rng.normal(size=(SEGMENTS, VIDEO_DIM - 7))]))
            rows.append({"video_id": vid, "path": f"{vid}.mp4", "genre": genre[i],
                         "tags": "|".join(TAGS[genre[i]]), "duration": "30.0", "status": "ok",
                         "reason": "", "split": split[i]})
    rows.append({"video_id": "broken", "path": "broken.mp4", "genre": "rock", "tags": "",
                 "duration": "", "status": "skipped", "reason": "unreadable", "split": ""})
    with open(root / "data/index.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    write_split({r["video_id"]: r["split"] for r in rows if r["split"]}, root / "data/split.csv",
                [r["video_id"] for r in rows])
    write_features(root / "features/audio.zarr", np.vstack(audio).astype(np.float32))
    write_features(root / "features/video.zarr", np.vstack(video).astype(np.float32))
    (root / "params.yaml").write_text(yaml.safe_dump(p))
    write_models(root, p, seed)
    return p
