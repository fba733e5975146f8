"""What the `similar` command searches: every decoded video as one vector per representation
(the segment vectors of mvclr.evaluation.pooling.representations, aggregated by `probe.aggregate`), and
the same vector for a new video file, computed as the pipeline would (cold start): its segments
decoded with the decode stage's rules and `decode` params, both frozen backbones as the feature
stores record them, the main configuration's heads (models/main.pt).

`mismatches` lists where the stores and the model were built with other params than
params.yaml now holds, or from other segments than data/segments.h5 holds.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mvclr import paths
from mvclr.config import train_config
from mvclr.contrastive import heads
from mvclr.data import media, reader, sampling
from mvclr.data.index import read_index
from mvclr.data.layout import Layout
from mvclr.data.segment_store import SegmentMeta
from mvclr.evaluation.pooling import aggregate, representations
from mvclr.evaluation.similarity import top_k
from mvclr.evaluation.videos import Videos, video_table
from mvclr.features import store as feature_store
from mvclr.features.embedding import stale_blocks
from mvclr.features.paired import load_paired
from mvclr.paths import AUDIO, INDEX, SEGMENTS, VIDEO

MODEL = paths.model("main")
DECODE_KEYS = ("sample_rate", "segment_seconds", "frames", "height", "width")


class CatalogueError(Exception):
    """A query that cannot be answered; the message says why."""


def _plain(x):
    """numpy scalars and arrays (as h5py and zarr return attributes) as Python values."""
    return x.tolist() if isinstance(x, (np.ndarray, np.generic)) else x


def _differ(where, name, built, now) -> str:
    return f"{where} was built with {name}={_plain(built)!r}, params.yaml says {now!r}"


def mismatches(params: dict, segment_attrs: dict, audio_attrs: dict, video_attrs: dict,
               model_meta: dict, stale: dict | None = None) -> list[str]:
    """Every difference between what the stores and the model were built with and params;
    `stale`: {store path: its blocks not computed from the segments SEGMENTS holds}."""
    out = []
    dec = params["decode"]
    for key in DECODE_KEYS:
        if key in segment_attrs and _plain(segment_attrs[key]) != dec[key]:
            out.append(_differ(SEGMENTS, f"decode.{key}", segment_attrs[key], dec[key]))
    if "seed" in segment_attrs and _plain(segment_attrs["seed"]) != params["seed"]:
        out.append(_differ(SEGMENTS, "seed", segment_attrs["seed"], params["seed"]))
    for path, attrs in ((AUDIO, audio_attrs), (VIDEO, video_attrs)):
        spec = attrs.get("fingerprint_of", {})
        if stale and stale.get(path):
            out.append(f"{path} was computed from other segments than {SEGMENTS} now holds "
                       f"(blocks {stale[path]})")
        if "window_seconds" in spec and spec["window_seconds"] != dec["window_seconds"]:
            out.append(_differ(path, "decode.window_seconds", spec["window_seconds"], dec["window_seconds"]))
    audio_params, video_params = params["features"]["audio"], params["features"]["video"]
    spec = audio_attrs.get("fingerprint_of", {})
    for key in ("model", "layers"):
        if key in spec and spec[key] != audio_params[key]:
            out.append(_differ(AUDIO, f"features.audio.{key}", spec[key], audio_params[key]))
    spec = video_attrs.get("fingerprint_of", {})
    if "frames" in spec and spec["frames"] != video_params["frames"]:
        out.append(_differ(VIDEO, "features.video.frames", spec["frames"], video_params["frames"]))
    used, policy = video_attrs.get("weights"), video_params["weights"]
    if used is not None and (policy == "kinetics400") != (used == "kinetics400") and policy != "auto":
        out.append(_differ(VIDEO, "R(2+1)D weights", used, policy))
    if used is not None and used != "kinetics400" and spec.get("seed", params["seed"]) != params["seed"]:
        out.append(_differ(VIDEO, "seed (random R(2+1)D init)", spec["seed"], params["seed"]))
    built = model_meta.get("train_config")
    if built is not None:
        now = train_config(params, "main")
        for key in now:
            if key in built and built[key] != now[key]:
                out.append(_differ(MODEL, key, built[key], now[key]))
    return out


@dataclass
class Catalogue:
    root: Path
    params: dict
    meta: SegmentMeta
    videos: Videos          # every video of the segment store, in store order
    audio: np.ndarray              # backbone vectors of every segment
    video: np.ndarray
    model: heads.ProjectionModel
    audio_attrs: dict
    video_attrs: dict
    skipped: dict[str, str]        # video id -> why it has no segments (prepare / decode)
    _reps: dict = field(default_factory=dict)

    def embed(self, audio: np.ndarray, video: np.ndarray) -> dict[str, np.ndarray]:
        """Segment vectors of every representation for backbone vectors of segments."""
        try:
            za, zv = heads.embed(self.model, audio, video)
        except ValueError as e:
            raise CatalogueError(f"{self.root / MODEL} does not fit the feature stores: {e}; "
                                 "run `dvc repro`") from e
        return representations(audio, video, za, zv)

    def video_vectors(self, name: str) -> np.ndarray:
        """[n_videos, dim]: each video's segment vectors aggregated."""
        if name not in self._reps:
            segs = self.embed(self.audio, self.video)[name]
            self._reps[name] = aggregate(segs, self.meta.video_id, self.videos.ids,
                                                self.params["probe"]["aggregate"])
        return self._reps[name]

    def index_of(self, video_id: str) -> int:
        hit = np.flatnonzero(self.videos.ids == video_id)
        if len(hit):
            return int(hit[0])
        if video_id in self.skipped:
            raise CatalogueError(f"video {video_id!r} has no segments in {self.root / SEGMENTS}: "
                                 f"{self.skipped[video_id]}")
        examples = ", ".join(self.videos.ids[:3])
        raise CatalogueError(f"unknown video id {video_id!r} (not in {self.root / SEGMENTS}, "
                             f"which holds {len(self.videos.ids)} videos, e.g. {examples}), "
                             "and no such file")

    def nearest(self, name: str, k: int, video_id: str | None = None,
                vector: np.ndarray | None = None, splits=None) -> list[tuple[int, float]]:
        """(video index, cosine similarity) of the k nearest videos to a catalogue video
        (itself left out) or to a vector, among the videos of `splits` (default all)."""
        x = self.video_vectors(name)
        allowed = np.ones(len(x), bool) if not splits else np.isin(self.videos.split, list(splits))
        if video_id is not None:
            seed = self.index_of(video_id)
            allowed[seed] = True
            rows = np.flatnonzero(allowed)
            index, sim = top_k(x[rows], [int(np.searchsorted(rows, seed))], k)
        else:
            rows = np.flatnonzero(allowed)
            index, sim = top_k(np.vstack([vector[None, :], x[rows]]), [0], k)
            rows = np.concatenate([[-1], rows])
        return [(int(rows[i]), float(s)) for i, s in zip(index[0], sim[0]) if i >= 0]


def open_catalogue(root: str | Path, params: dict) -> Catalogue:
    """The stores and the model under `root`; a CatalogueError naming what is missing."""
    root = Path(root)
    for path in (SEGMENTS, INDEX, AUDIO, VIDEO, MODEL):
        if not (root / path).exists():
            raise CatalogueError(f"{root / path} not found: run `dvc repro` in {root.resolve()} first")
    rows = read_index(root / INDEX)
    try:
        features = load_paired(root)
        videos = video_table(features.meta.video_id, features.meta.split, rows, str(root / INDEX))
        model = heads.load(root / MODEL)
    except (ValueError, RuntimeError) as e:
        raise CatalogueError(f"{e}; run `dvc repro`") from e
    skipped = {r["video_id"]: f"skipped by prepare ({r['reason']})" for r in rows if r["status"] != "ok"}
    decoded = set(videos.ids)
    skipped.update({r["video_id"]: "decoding failed" for r in rows
                    if r["status"] == "ok" and r["video_id"] not in decoded})
    return Catalogue(root, params, features.meta, videos, features.audio, features.video, model,
                     feature_store.attrs(root / AUDIO), feature_store.attrs(root / VIDEO), skipped)


def check(catalogue: Catalogue) -> list[str]:
    """`mismatches` of the catalogue's stores and model against its params."""
    return mismatches(catalogue.params, catalogue.meta.attrs, catalogue.audio_attrs,
                      catalogue.video_attrs, getattr(catalogue.model, "meta", {}),
                      {path: stale_blocks(catalogue.root / path, catalogue.root / SEGMENTS)
                       for path in (AUDIO, VIDEO)})


def decode_file(path: str | Path, params: dict) -> tuple[np.ndarray, np.ndarray]:
    """The segments of a new video as the decode stage cuts them, with the windows seeded by
    `seed` and the file's stem as video id (so a file named <video_id>.<ext> gets the windows
    the decode stage gave that video), as the segment store keeps them (the analysis window):
    audio [k, samples], frames [k, F, H, W, 3].
    MediaError when the file is unusable; CatalogueError when it is too short for a segment."""
    dec = params["decode"]
    probe = media.probe(path)
    rng = sampling.video_rng(params["seed"], Path(path).stem)
    starts = sampling.segment_starts(probe.duration, dec["segments"], dec["segment_seconds"], rng)
    if len(starts) == 0:
        raise CatalogueError(f"{path}: too short ({probe.duration:.1f} s, a segment is "
                             f"{dec['segment_seconds']} s)")
    return reader.read_segments(path, starts, Layout.from_params(params))


def backbone_vectors(audio: np.ndarray, frames: np.ndarray, catalogue: Catalogue
                     ) -> tuple[np.ndarray, np.ndarray]:
    """musicnn and R(2+1)D vectors of decoded segments, with the models, layers, weights and
    analysis window the feature stores were computed with.

    R(2+1)D runs before TensorFlow is imported: torchvision's R(2+1)D crashes the process
    (segmentation fault) when TensorFlow was loaded first (torch 2.14, tensorflow 2.21)."""
    from mvclr.features.r2plus1d import R2Plus1DBackbone, WeightsUnavailable
    params = catalogue.params
    window = params["decode"]["window_seconds"]
    spec_a = catalogue.audio_attrs.get("fingerprint_of", {})
    spec_v = catalogue.video_attrs.get("fingerprint_of", {})
    used = catalogue.video_attrs.get("weights", "kinetics400")
    try:
        r2plus1d = R2Plus1DBackbone("kinetics400" if used == "kinetics400" else "none",
                                    seed=spec_v.get("seed", params["seed"]))
    except WeightsUnavailable as e:
        raise CatalogueError(f"{catalogue.root / VIDEO} was computed with them, but {e}") from e
    if r2plus1d.weights != used:
        raise CatalogueError(f"{catalogue.root / VIDEO} was computed with R(2+1)D weights {used!r}, "
                             f"but this run has {r2plus1d.weights!r}")
    v = r2plus1d(frames)

    from mvclr.features.musicnn import MusicnnBackbone
    musicnn = MusicnnBackbone(spec_a.get("model", params["features"]["audio"]["model"]),
                              spec_a.get("layers", params["features"]["audio"]["layers"]),
                              seconds=window)
    try:
        a = musicnn(audio)
    finally:
        musicnn.close()
    return a, v


def file_vectors(path: str | Path, catalogue: Catalogue) -> tuple[dict[str, np.ndarray], int]:
    """Video vector of every representation for a new file, and its number of segments."""
    audio, frames = decode_file(path, catalogue.params)
    a, v = backbone_vectors(audio, frames, catalogue)
    ids = np.array(["query"] * len(a))
    how = catalogue.params["probe"]["aggregate"]
    return ({name: aggregate(x, ids, ids[:1], how)[0]
             for name, x in catalogue.embed(a, v).items()}, len(a))
