"""Stage `embed`: a frozen backbone over the analysis window of every segment, into a
feature store (row i = segment i of data/segments.h5).

    python -m stages.embed audio|video [--shard i/n]

audio: musicnn (TensorFlow) on the window's 16 kHz samples -> features/audio.zarr
video: R(2+1)D-18 (torch) on `features.video.frames` frames of the window -> features/video.zarr
The window is the centred `decode.window_seconds` of each segment. A run computes only the
blocks its store still lacks; `--shard i/n` computes only blocks i-1, i-1+n, ...
"""
from __future__ import annotations

import argparse
import hashlib
import json
import time
from pathlib import Path

import h5py
import numpy as np
import zarr
from tqdm import tqdm

from stages import feature_store, segment_store
from stages.config import load_params
from stages.paths import FEATURES, SEGMENTS



def segments_digest(path: str | Path) -> str:
    """Digest of what identifies the segments: their metadata, the store's attributes and
    shapes, and the first segment's audio and frames (a decoding change shows there)."""
    meta = segment_store.read_meta(path)
    h = hashlib.sha256()
    for array in (meta.video_id.astype(str), meta.segment_index, meta.start_seconds):
        h.update(np.ascontiguousarray(array).tobytes())
    h.update(json.dumps(meta.attrs, sort_keys=True, default=str).encode())
    with h5py.File(path, "r") as f:
        h.update(repr((f["audio"].shape, f["frames"].shape)).encode())
        if len(meta):
            h.update(f["audio"][0].tobytes())
            h.update(f["frames"][0].tobytes())
    return h.hexdigest()[:16]


def make_backbone(modality: str, params: dict):
    features, window = params["features"], params["decode"]["window_seconds"]
    if modality == "audio":
        from stages.musicnn_backbone import MusicnnBackbone
        audio = features["audio"]
        return MusicnnBackbone(audio["model"], audio["layers"], seconds=window)
    if modality == "video":
        from stages.r2plus1d_backbone import R2Plus1DBackbone
        return R2Plus1DBackbone(features["video"]["weights"], seed=params["seed"])
    raise ValueError(f"unknown modality {modality!r}: audio or video")


def window_reader(f: h5py.File, modality: str, params: dict):
    """rows -> the analysis window of those segments: audio [B, samples] float32 at the
    store's rate, or video [B, frames, H, W, 3] uint8."""
    attrs, window = dict(f.attrs), params["decode"]["window_seconds"]
    if modality == "audio":
        rate = attrs["sample_rate"]
        if rate != 16000:
            raise ValueError(f"{f.filename}: audio at {rate} Hz, musicnn needs 16000 Hz")
        samples = segment_store.window_samples(attrs, window)
        return lambda rows: f["audio"][rows, samples]
    index = segment_store.window_frames(attrs, window, params["features"]["video"]["frames"])
    stored, inverse = np.unique(index, return_inverse=True)   # h5py wants increasing indices
    return lambda rows: f["frames"][rows, stored][:, inverse]


def window_info(f: h5py.File, modality: str, params: dict) -> dict:
    attrs, window = dict(f.attrs), params["decode"]["window_seconds"]
    start, stop = segment_store.analysis_window(attrs["segment_seconds"], window)
    info = {"seconds": window, "start": start, "stop": stop,
            "relative_to": "segment start (centred in the segment)"}
    if modality == "audio":
        samples = segment_store.window_samples(attrs, window)
        info["samples"] = [samples.start, samples.stop]
    else:
        info["frames"] = segment_store.window_frames(
            attrs, window, params["features"]["video"]["frames"]).tolist()
    return info


def fingerprint_spec(modality: str, params: dict, backbone_info: dict, segments: str) -> dict:
    """Everything that determines the stored values (not the batch size or the device)."""
    features = params["features"]
    spec = {"modality": modality, "window_seconds": params["decode"]["window_seconds"],
            "block_rows": features["block_rows"], "segments": segments,
            "backbone": backbone_info["backbone"], "weights": backbone_info["weights"]}
    if modality == "audio":
        spec.update(model=features["audio"]["model"], layers=list(features["audio"]["layers"]))
    else:
        spec.update(frames=features["video"]["frames"], seed=params["seed"])
    return spec


def embed(modality: str, params: dict, segments: str | Path = SEGMENTS,
          out: str | Path | None = None, shard: str | None = None, backbone=None,
          progress: bool = True) -> dict:
    """Fill the missing blocks (of `shard`) of the modality's feature store; returns a
    summary: segments computed, seconds, blocks computed and the store's path."""
    out = Path(out or FEATURES[modality])
    part = feature_store.parse_shard(shard)
    backbone = backbone or make_backbone(modality, params)
    info = backbone.info()
    digest = segments_digest(segments)
    spec = fingerprint_spec(modality, params, info, digest)
    with h5py.File(segments, "r") as f:
        rows = len(f["video_id"])
        attrs = {**info, "window": window_info(f, modality, params),
                 "segments": {"path": str(segments), "rows": rows, "digest": digest},
                 "fingerprint": feature_store.fingerprint(spec), "fingerprint_of": spec}
        attrs["versions"] = {**info["versions"], "zarr": zarr.__version__,
                             "h5py": h5py.__version__}
        store = feature_store.FeatureStore.open(
            out, rows=rows, dim=backbone.dim, block_rows=params["features"]["block_rows"],
            attrs=attrs, fresh_if_changed=part == (1, 1))
        blocks = store.missing(part)
        todo = sum(store.block(b).stop - store.block(b).start for b in blocks)
        batch_size = params["features"][modality]["batch_size"]
        bar = tqdm(total=todo, unit="seg", desc=f"embed {modality} ({info['device']})",
                   disable=not progress, smoothing=0.1)
        start = time.perf_counter()
        with bar:
            computed = feature_store.fill(store, blocks, window_reader(f, modality, params),
                                          backbone.prepare, backbone.forward, batch_size, bar)
        seconds = time.perf_counter() - start
    if progress:
        print(f"{out}: {computed} segments in {seconds:.1f} s "
              f"({computed / max(seconds, 1e-9):.1f} segments/s), "
              f"{store.n_blocks - len(store.missing())} of {store.n_blocks} blocks done")
    return {"segments": computed, "seconds": seconds, "blocks": blocks, "path": str(out)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m stages.embed", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("modality", choices=sorted(FEATURES))
    parser.add_argument("--shard", help="i/n: compute only this worker's blocks (1 <= i <= n)")
    args = parser.parse_args(argv)
    embed(args.modality, load_params(), shard=args.shard)


if __name__ == "__main__":
    main()
