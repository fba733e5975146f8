"""Tiny workspaces for the neighbour report and the `similar` command.

`synthetic_workspace`: a segment store of tones and coloured frames, random feature stores
and an untrained (seeded) model, enough for the report stage.
`pipeline_workspace`: real video files decoded and embedded by the pipeline's own decode and
embed functions (musicnn, random-init R(2+1)D), for the cold-start path of `similar`.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import yaml

from mvclr.contrastive import heads
from mvclr.config import train_config
from mvclr.features.store import FeatureStore, load
from mvclr.data.index import write_index
from mvclr.data.segment_store import SegmentWriter
from mvclr.data.split import write_split

REPO = Path(__file__).resolve().parents[1]
GENRES = ["jazz", "pop", "rock"]
TAGS = {"jazz": ["sax", "mellow"], "pop": ["catchy", "dance"], "rock": ["guitar", "loud"]}


def base_params() -> dict:
    p = yaml.safe_load((REPO / "params.yaml").read_text())
    p.update(hidden_dim=16, embed_dim=6)
    return p


def index_row(vid: str, path: str, genre: str, tags: list[str], split: str, status: str = "ok",
              reason: str = "") -> dict:
    return {"video_id": vid, "path": path, "genre": genre, "tags": tags, "duration": 30.0,
            "status": status, "reason": reason, "split": split}


def write_features(path: Path, x: np.ndarray, **attrs) -> None:
    store = FeatureStore.open(path, rows=len(x), dim=x.shape[1], block_rows=16,
                              attrs={"fingerprint": "test", **attrs})
    for b in range(store.n_blocks):
        store.write(b, x[store.block(b)], np.full(16, 1, np.uint8))


def write_model(root: Path, p: dict, seed: int = 0) -> None:
    audio, video = load(root / "features/audio.zarr"), load(root / "features/video.zarr")
    torch.manual_seed(seed)
    model = heads.build(train_config(p, "main"), audio.shape[1], video.shape[1])
    model.set_standardisation(heads.mean_std([audio]), heads.mean_std([video]))
    heads.save(model, root / "models/main.pt", name="main", train_config=train_config(p, "main"),
               seed=p["seed"])


def synthetic_workspace(root: Path, n_videos: int = 10, segments: int = 2, seed: int = 0) -> dict:
    """data/segments.h5 (2 s segments at 16 kHz: the 1 s window, 3 frames of 24 x 32), data/index.csv,
    data/split.csv,
    features/*.zarr, models/main.pt and params.yaml under root; returns the params."""
    root = Path(root)
    rng = np.random.default_rng(seed)
    p = base_params()
    p["decode"].update(sample_rate=16000, segment_seconds=2.0, window_seconds=1.0, frames=6,
                       height=24, width=32)
    p["eval"].update(seed_videos=3, seed_segments=2, neighbours=2, summary_seeds=50)
    split = ["train"] * (n_videos - 5) + ["val"] + ["test"] * 4
    rows, audio, video = [], [], []
    t = np.arange(16000) / 16000
    (root / "data").mkdir(parents=True, exist_ok=True)
    with SegmentWriter(root / "data/segments.h5", sample_rate=16000, segment_seconds=2.0,
                       window_seconds=1.0, frames=6, window_frames=3, height=24, width=32,
                       seed=p["seed"]) as w:
        for i in range(n_videos):
            vid, genre = f"v{i:02d}", GENRES[i % 3]
            tone = np.stack([0.3 * np.sin(2 * np.pi * (220 * (i + 1) + 50 * s) * t) for s in range(segments)])
            colour = rng.integers(0, 256, 3)
            frames = np.clip(colour + rng.integers(-40, 40, (segments, 3, 24, 32, 3)), 0, 255)
            w.append(tone.astype(np.float32), frames.astype(np.uint8), vid,
                     np.arange(segments) * 4.0, np.arange(segments))
            g = GENRES.index(genre)
            audio.append(np.eye(3)[g] * 2 + rng.normal(size=(segments, 3)))
            video.append(rng.normal(size=(segments, 4)))
            rows.append(index_row(vid, f"{vid}.mp4", genre, TAGS[genre][: 1 + i % 2], split[i]))
    rows.append(index_row("broken", "broken.mp4", "rock", [], "", "skipped", "truncated"))
    write_index(rows, root / "data/index.csv")
    write_split({r["video_id"]: r["split"] for r in rows if r["split"]}, root / "data/split.csv",
                [r["video_id"] for r in rows])
    write_features(root / "features/audio.zarr", np.vstack(audio).astype(np.float32))
    write_features(root / "features/video.zarr", np.vstack(video).astype(np.float32),
                   weights=f"random init (seed {p['seed']})")
    (root / "params.yaml").write_text(yaml.safe_dump(p, sort_keys=False))
    write_model(root, p)
    return p


def pipeline_workspace(root: Path, media_dir: Path) -> dict:
    """Four real videos in media_dir, decoded and embedded into root by the pipeline's
    functions with small settings (3 s segments, 8 frames of 64 x 86, 8 frames for R(2+1)D,
    random init); returns the params (also written to root/params.yaml)."""
    from mvclr.data import decoding, media, scan, shards
    from mvclr.data.layout import Layout
    from mvclr.features.embedding import embed
    from mvclr.features.musicnn import MusicnnBackbone
    from mvclr.features.r2plus1d import R2Plus1DBackbone
    from make_media import write_media
    root = Path(root)
    p = base_params()
    p["decode"].update(segments=2, segment_seconds=3.0, window_seconds=3.0, frames=8,
                       height=64, width=86, workers=1)
    p["features"]["video"].update(weights="none", frames=8)
    p["features"]["block_rows"] = 4
    rows = []
    for i, seconds in enumerate((7.0, 8.5, 9.5, 11.0)):
        vid = f"clip{i}"
        write_media(media_dir / f"{vid}.mp4", seconds, width=96 + 16 * i, height=64)
        probe = media.probe(media_dir / f"{vid}.mp4")
        rows.append({**index_row(vid, f"{vid}.mp4", GENRES[i % 3], TAGS[GENRES[i % 3]],
                                 ["train", "train", "val", "test"][i]), "duration": probe.duration,
                     "fingerprint": scan.fingerprint(str(media_dir / f"{vid}.mp4"))[0]})
    rows.append(index_row("broken", "broken.mp4", "rock", [], "", "skipped", "truncated"))
    (root / "data").mkdir(parents=True, exist_ok=True)
    write_index(rows, root / "data/index.csv")
    write_split({r["video_id"]: r["split"] for r in rows if r["split"]}, root / "data/split.csv",
                [r["video_id"] for r in rows])
    layout = Layout.from_params(p)
    jobs = decoding.jobs(rows, media_dir, p["seed"], p["decode"]["segments"], p["decode"]["segment_seconds"])
    shards.build(decoding.plan(jobs, layout, p["decode"]["unit_videos"]), root / "data/segments.h5",
                 root / "data/segments", {**layout.attrs(), "seed": p["seed"]}, timeout_seconds=60,
                 workers=1, progress=False)
    # R(2+1)D before musicnn: torchvision's R(2+1)D crashes after TensorFlow was loaded
    backbones = {"video": R2Plus1DBackbone.from_params(p), "audio": MusicnnBackbone.from_params(p)}
    for modality, backbone in backbones.items():
        embed(modality, backbone, p, root / "data/segments.h5", root / f"features/{modality}.zarr",
              progress=False)
    (root / "params.yaml").write_text(yaml.safe_dump(p, sort_keys=False))
    write_model(root, p)
    return p
