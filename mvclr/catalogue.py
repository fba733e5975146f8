"""What the `similar` command searches: the catalogue's nearest-neighbour indexes (stage
`index`: every video's vector per representation, mvclr.evaluation.indexing) with the videos'
labels. A query by catalogue id is answered from the index alone (the video's stored vector);
the feature stores are never read.

`check` lists where the stores and the model the index was built from (its manifest) differ from
what params.yaml now holds, the feature stores' blocks that were not computed from the segments
the segment store held then, and where the model or the stores changed after the index was
built (the index is stale).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mvclr import paths
from mvclr.config import train_config
from mvclr.data.index import read_index
from mvclr.evaluation import index as video_index
from mvclr.evaluation.index_files import LABELS, MANIFEST, file_digest, read_labels
from mvclr.evaluation.videos import Videos
from mvclr.paths import AUDIO, INDEX, SEGMENTS, VIDEO, VIDEO_INDEX

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
    manifest: dict                 # what the index was built from (mvclr.evaluation.indexing)
    videos: Videos                 # row r of every index: its id, split and labels
    _rows: dict[str, int] = field(default_factory=dict)
    _indexes: dict = field(default_factory=dict)

    @property
    def audio_attrs(self) -> dict:
        return self.manifest["audio"]

    @property
    def video_attrs(self) -> dict:
        return self.manifest["video"]

    def index(self, name: str) -> video_index.VideoIndex:
        """The index of representation `name`, memory-mapped."""
        if name not in self._indexes:
            try:
                self._indexes[name] = video_index.load(self.root / VIDEO_INDEX / name)
            except video_index.VideoIndexError as e:
                raise CatalogueError(f"{e}; run `dvc repro`") from e
        return self._indexes[name]

    def row_of(self, video_id: str) -> int:
        if not self._rows:
            self._rows.update((v, r) for r, v in enumerate(self.videos.ids))
        if video_id in self._rows:
            return self._rows[video_id]
        skipped = skipped_videos(self.root, self._rows)
        if video_id in skipped:
            raise CatalogueError(f"video {video_id!r} has no segments in {self.root / SEGMENTS}: "
                                 f"{skipped[video_id]}")
        examples = ", ".join(self.videos.ids[:3])
        raise CatalogueError(f"unknown video id {video_id!r} (not in {self.root / SEGMENTS}, "
                             f"which holds {len(self.videos.ids)} videos, e.g. {examples}), "
                             "and no such file")

    def nearest(self, name: str, k: int, video_id: str | None = None,
                vector: np.ndarray | None = None, splits=None) -> list[tuple[int, float]]:
        """(row, cosine similarity) of the k nearest videos to a catalogue video (itself left
        out) or to a video vector, among the videos of `splits` (default all)."""
        try:
            found = (self.index(name).neighbours(video_id, k, splits) if video_id is not None
                     else self.index(name).nearest(vector, k, splits))
        except video_index.VideoIndexError as e:
            raise CatalogueError(str(e)) from e
        return [(int(r), float(s)) for r, s in zip(found.rows, found.similarity)]


def skipped_videos(root: Path, decoded) -> dict[str, str]:
    """video id -> why it has no segments (prepare / decode), from data/index.csv."""
    if not (root / INDEX).exists():
        return {}
    rows = read_index(root / INDEX)
    out = {r["video_id"]: f"skipped by prepare ({r['reason']})" for r in rows if r["status"] != "ok"}
    out.update({r["video_id"]: "decoding failed" for r in rows
                if r["status"] == "ok" and r["video_id"] not in decoded})
    return out


def open_catalogue(root: str | Path, params: dict) -> Catalogue:
    """The indexes' manifest and labels under `root`; a CatalogueError naming what is missing."""
    root = Path(root)
    for path in (VIDEO_INDEX / MANIFEST, VIDEO_INDEX / LABELS):
        if not (root / path).exists():
            raise CatalogueError(f"{root / path} not found: run `dvc repro` in {root.resolve()} first")
    return Catalogue(root, params, json.loads((root / VIDEO_INDEX / MANIFEST).read_text()),
                     read_labels(root / VIDEO_INDEX / LABELS))


def stale(catalogue: Catalogue) -> list[str]:
    """Where the model or a feature store present now differs from what the index was built
    from."""
    root, built = catalogue.root, catalogue.manifest
    out = []
    if (root / MODEL).exists() and file_digest(root / MODEL) != built["model"]["digest"]:
        out.append(f"{root / MODEL} changed after {root / VIDEO_INDEX} was built")
    for path, key in ((AUDIO, "audio"), (VIDEO, "video")):
        group = root / path / "zarr.json"        # a zarr v3 group's metadata and attributes
        if group.exists() and json.loads(group.read_text()).get("attributes", {}).get(
                "fingerprint") != built[key].get("fingerprint"):
            out.append(f"{root / path} changed after {root / VIDEO_INDEX} was built")
    return out


def check(catalogue: Catalogue) -> list[str]:
    """`mismatches` of what the index was built from against the params, and `stale`."""
    built, how = catalogue.manifest, catalogue.params["probe"]["aggregate"]
    out = mismatches(catalogue.params, built["segments"]["attrs"], built["audio"], built["video"],
                     built["model"]["meta"], {AUDIO: built["audio"]["stale"],
                                              VIDEO: built["video"]["stale"]})
    if built["aggregate"] != how:
        out.append(_differ(VIDEO_INDEX, "probe.aggregate", built["aggregate"], how))
    return [*out, *stale(catalogue)]
