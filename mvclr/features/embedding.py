"""Filling a feature store: a frozen backbone over the analysis window of every segment, row i
of the store = segment i of the segment store, computed block by block (mvclr.features.filling)
so that a run computes only the blocks whose inputs (settings, or the segment store's per-row
`digest`) differ from what their markers record; `shard` i/n computes only blocks i-1, i-1+n, ...
A backbone has `dim`, `batch_size` (chosen for its device), `prepare` (reader thread: host side),
`forward` (device side) and `info`. `plan` is shared with the Ray executor
(mvclr.compute.actors), which fills the same blocks on actors.
"""
from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import zarr
from tqdm import tqdm

from mvclr.features import reuse, store as feature_store
from mvclr.features.filling import fill
from mvclr.features.windows import window_info, window_reader


def fingerprint_spec(modality: str, params: dict, backbone_info: dict, window: dict) -> dict:
    """Everything that determines the stored values besides the segments' own content: the
    backbone as `info` describes it (weights actually used, runtime, layers, preprocessing,
    library versions) and the analysis window; not the batch size or the device."""
    spec = {"modality": modality, "window_seconds": params["decode"]["window_seconds"],
            "window": window,
            **{k: v for k, v in backbone_info.items() if k not in ("device", "weights_note")}}
    if modality == "video":
        spec["frames"] = params["features"]["video"]["frames"]
        if backbone_info["weights"] != "kinetics400":
            spec["seed"] = params["seed"]            # the random init's
    return spec


def input_digests(f: h5py.File, spec_fingerprint: str, block_rows: int) -> np.ndarray:
    """The digest each block's marker must carry: `spec_fingerprint` and the segment store's
    per-row `digest` of the block's rows (16 bytes a segment held in memory)."""
    return feature_store.block_digests(spec_fingerprint, f["digest"][:], block_rows)


@dataclass
class Work:
    """What a run computes: `blocks` ({block: Task}) of `store`, whose blocks' current input
    digests are `digests`; `copied`: segments whose vectors were found by content."""
    store: feature_store.FeatureStore
    blocks: dict[int, feature_store.Task]
    digests: np.ndarray
    copied: int = 0

    @property
    def segments(self) -> int:
        return sum(len(t.compute) for t in self.blocks.values())


def plan(modality: str, info: dict, dim: int, params: dict, segments: str | Path,
         out: str | Path, shard: str | None = None) -> Work:
    """Open (create, resize) the modality's feature store for a backbone described by `info`
    computing `dim`-d vectors; copy into the blocks (of `shard`) whose inputs changed or were
    never computed every vector the store already holds for their segments
    (mvclr.features.reuse); the rows left to compute."""
    part = feature_store.parse_shard(shard)
    block_rows = params["features"]["block_rows"]
    with h5py.File(segments, "r") as f:
        window = window_info(f, modality, params)
        spec = fingerprint_spec(modality, params, info, window)
        row_digests = f["digest"][:]
    fp = feature_store.fingerprint(spec)
    rows = len(row_digests)
    attrs = {**info, "window": window, "segments": {"path": str(segments), "rows": rows},
             "fingerprint": fp, "fingerprint_of": spec}
    attrs["versions"] = {**info["versions"], "zarr": zarr.__version__, "h5py": h5py.__version__}
    store = feature_store.FeatureStore.open(Path(out), rows=rows, dim=dim,
                                            block_rows=block_rows, attrs=attrs,
                                            fresh_if_changed=part == (1, 1), resize=False)
    tasks, digests, copied = reuse.plan(store, fp, row_digests, part)
    return Work(store, tasks, digests, copied)


def embed(modality: str, backbone, params: dict, segments: str | Path, out: str | Path,
          shard: str | None = None, progress: bool = True) -> dict:
    """Fill the blocks (of `shard`) of the modality's feature store whose inputs changed or
    were never computed, with `backbone.batch_size` rows a batch; returns a summary: segments
    computed, seconds, blocks computed and the store's path."""
    info = backbone.info()
    work = plan(modality, info, backbone.dim, params, segments, out, shard)
    start = time.perf_counter()
    with h5py.File(segments, "r") as f, bar(work, f"embed {modality} ({info['device']})",
                                              progress) as shown:
        computed = fill(work.store, work.blocks, window_reader(f, modality, params),
                        backbone.prepare, backbone.forward, backbone.batch_size, shown)
    return finish(work, computed, time.perf_counter() - start, progress)


def bar(work: Work, desc: str, progress: bool) -> tqdm:
    """The run's one progress bar, over the segments to compute."""
    return tqdm(total=work.segments, unit="seg", desc=desc, disable=not progress, smoothing=0.1)


def finish(work: Work, computed: int, seconds: float, progress: bool) -> dict:
    """The run's summary (printed when `progress`); once every block is done, the blocks set
    aside for copying are removed (mvclr.features.store.FeatureStore.retire)."""
    done = work.store.completed(work.digests)
    if done.all():
        work.store.drop_previous()
    if progress:
        print(f"{work.store.path}: {computed} segments computed in {seconds:.1f} s "
              f"({computed / max(seconds, 1e-9):.1f} segments/s), {work.copied} copied by content, "
              f"{int(done.sum())} of {work.store.n_blocks} blocks done")
    return {"segments": computed, "copied": work.copied, "seconds": seconds,
            "blocks": sorted(work.blocks), "path": str(work.store.path)}


def stale_blocks(store: str | Path, segments: str | Path) -> list[int]:
    """Blocks of a feature store that do not hold the values of the segment store's current
    rows under the settings the store was last computed with (never written, computed from
    other segments, or under other settings)."""
    attrs = feature_store.attrs(store)
    with h5py.File(segments, "r") as f:
        digests = input_digests(f, attrs["fingerprint"], attrs["block_rows"])
    stored = feature_store.markers(store)
    same = np.zeros(len(digests), bool)
    n = min(len(digests), len(stored))
    same[:n] = (stored[:n] == digests[:n]).all(axis=1)
    return np.flatnonzero(~same).tolist()


def shard_argument(doc: str, argv: list[str] | None = None) -> str | None:
    """The `--shard i/n` option of an embed stage's command line."""
    parser = argparse.ArgumentParser(description=doc,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shard", help="i/n: compute only this worker's blocks (1 <= i <= n)")
    return parser.parse_args(argv).shard
