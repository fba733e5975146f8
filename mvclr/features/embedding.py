"""Filling a feature store: a frozen backbone over the analysis window of every segment, row i
of the store = segment i of the segment store, computed block by block (mvclr.features.filling)
so that a run computes only the blocks the store still lacks; `shard` i/n computes only blocks
i-1, i-1+n, ...  A backbone has `dim`, `prepare` (CPU side), `forward` (device side) and `info`.
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

from mvclr.data import segment_store
from mvclr.features import store as feature_store
from mvclr.features.filling import fill
from mvclr.features.windows import window_info, window_reader


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


def embed(modality: str, backbone, params: dict, segments: str | Path, out: str | Path,
          shard: str | None = None, progress: bool = True) -> dict:
    """Fill the missing blocks (of `shard`) of the modality's feature store; returns a
    summary: segments computed, seconds, blocks computed and the store's path."""
    out = Path(out)
    part = feature_store.parse_shard(shard)
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
            computed = fill(store, blocks, window_reader(f, modality, params),
                                          backbone.prepare, backbone.forward, batch_size, bar)
        seconds = time.perf_counter() - start
    if progress:
        print(f"{out}: {computed} segments in {seconds:.1f} s "
              f"({computed / max(seconds, 1e-9):.1f} segments/s), "
              f"{store.n_blocks - len(store.missing())} of {store.n_blocks} blocks done")
    return {"segments": computed, "seconds": seconds, "blocks": blocks, "path": str(out)}


def shard_argument(doc: str, argv: list[str] | None = None) -> str | None:
    """The `--shard i/n` option of an embed stage's command line."""
    parser = argparse.ArgumentParser(description=doc,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shard", help="i/n: compute only this worker's blocks (1 <= i <= n)")
    return parser.parse_args(argv).shard
