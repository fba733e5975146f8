"""The video vectors of a new file for `mvclr similar` (cold start), computed as the pipeline
would: its segments decoded with the decode stage's rules and `decode` params, both frozen
backbones as the feature stores the index was built from record them (mvclr.catalogue: the
index's manifest), the main configuration's heads (models/main.pt), each representation's
segment vectors aggregated by the index's aggregation. The file alone is decoded and embedded.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from mvclr.catalogue import MODEL, Catalogue, CatalogueError
from mvclr.contrastive import heads
from mvclr.data import media, reader, sampling
from mvclr.data.layout import Layout
from mvclr.evaluation.pooling import aggregate_runs, representations
from mvclr.paths import VIDEO


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

    from mvclr.features.musicnn_runtime import audio_backbone
    built = {k: spec_a[k] for k in ("model", "layers", "runtime") if k in spec_a}
    musicnn = audio_backbone({**params, "features": {**params["features"], "audio": {
        **params["features"]["audio"], **built}}}, "cpu")
    return musicnn(audio), v


def file_vectors(path: str | Path, catalogue: Catalogue) -> tuple[dict[str, np.ndarray], int]:
    """Video vector of every representation for a new file, and its number of segments."""
    audio, frames = decode_file(path, catalogue.params)
    a, v = backbone_vectors(audio, frames, catalogue)
    if not (catalogue.root / MODEL).exists():
        raise CatalogueError(f"{catalogue.root / MODEL} not found: run `dvc repro` first")
    try:
        za, zv = heads.embed(heads.load(catalogue.root / MODEL), a, v)
    except ValueError as e:
        raise CatalogueError(f"{catalogue.root / MODEL} does not fit the feature stores: {e}; "
                             "run `dvc repro`") from e
    how = catalogue.manifest["aggregate"]
    return ({name: aggregate_runs(x, [len(x)], how)[0]
             for name, x in representations(a, v, za, zv).items()}, len(a))
