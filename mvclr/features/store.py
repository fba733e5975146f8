"""Zarr v3 feature stores (`features/{audio,video}.zarr`): row i = segment i of the segment store.

A store is a zarr group:
  features  float32 [n_segments, dim], one chunk per block of `block_rows` rows. A block is
            the unit of work: of writing, of resuming and of `--shard i/n` assignment.
  done      uint8 [n_blocks], one chunk per block, set to 1 once the block's rows are written.
zarr's local store writes every chunk atomically (temporary file, then rename) and a block's
marker is written after its rows, so a run killed at any moment leaves only whole blocks
marked done; the next run computes the others. Workers of `--shard` write disjoint chunk
files, so they never race, and their store folders can be merged by copying.

Attributes: backbone, weights (actually used), layers, window, versions, device(s),
fingerprint (of everything that determines the values) and the shapes. A store whose
fingerprint differs from the current one is started afresh.
"""
from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import zarr

FEATURES, DONE = "features", "done"


def fingerprint(spec: dict) -> str:
    """Stable digest of a JSON-able description of how the values are computed."""
    text = json.dumps(spec, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def parse_shard(text: str | None) -> tuple[int, int]:
    """`i/n` (1 <= i <= n) -> (i, n); None -> (1, 1), the whole store."""
    if text is None:
        return 1, 1
    try:
        i, n = (int(part) for part in text.split("/"))
    except ValueError:
        raise ValueError(f"--shard {text!r}: expected i/n, e.g. 2/4") from None
    if not 1 <= i <= n:
        raise ValueError(f"--shard {text!r}: need 1 <= i <= n")
    return i, n


class FeatureStore:
    def __init__(self, path: str | Path, group: zarr.Group):
        self.path = Path(path)
        self.group = group
        self.features = group[FEATURES]
        self.done = group[DONE]
        self.rows, self.dim = self.features.shape
        self.block_rows = self.features.chunks[0]
        self.n_blocks = self.done.shape[0]

    @classmethod
    def open(cls, path: str | Path, *, rows: int, dim: int, block_rows: int, attrs: dict,
             fresh_if_changed: bool = True) -> "FeatureStore":
        """Open the store at `path` to (re)compute it, creating it if needed.

        `attrs` must hold "fingerprint". An existing store with another fingerprint or
        another number of rows is deleted and created anew when `fresh_if_changed` (a lone
        worker), else it is an error (a `--shard` worker must not wipe blocks that other
        workers may be writing).
        """
        path = Path(path)
        if (path / "zarr.json").exists():
            group = zarr.open_group(path, mode="r+")
            stored = group[FEATURES].shape[0]
            if group.attrs.get("fingerprint") == attrs["fingerprint"] and stored == rows:
                _remove_partials(path)
                store = cls(path, group)
                store._note_device(attrs.get("device"))
                return store
            reason = (f"it has {stored} rows but the segment store has {rows} segments"
                      if stored != rows else
                      "it was computed with other settings or from other segments")
            if not fresh_if_changed:
                raise ValueError(f"{path}: {reason}. A --shard worker does not wipe it (other "
                                 "workers may be filling it): delete it or run without --shard")
            print(f"{path}: {reason}: starting afresh")
            shutil.rmtree(path)
        elif path.exists() and any(path.iterdir()):
            raise FileExistsError(f"{path} exists but is not a feature store (no zarr.json); "
                                  "move it away or delete it")
        group = zarr.open_group(path, mode="w")
        n_blocks = -(-rows // block_rows)
        group.create_array(FEATURES, shape=(rows, dim), chunks=(block_rows, dim),
                           dtype="float32", fill_value=np.nan)
        group.create_array(DONE, shape=(n_blocks,), chunks=(1,), dtype="uint8", fill_value=0,
                           compressors=None)
        devices = [attrs["device"]] if "device" in attrs else []
        group.attrs.update({**attrs, "devices": devices, "rows": rows, "dim": dim,
                            "block_rows": block_rows})
        return cls(path, group)

    def block(self, b: int) -> slice:
        return slice(b * self.block_rows, min((b + 1) * self.block_rows, self.rows))

    def completed(self) -> np.ndarray:
        """Boolean [n_blocks]: which blocks hold their final values."""
        return self.done[:] == 1

    def missing(self, shard: tuple[int, int] = (1, 1)) -> list[int]:
        """Blocks not yet done among those of shard i/n (blocks i-1, i-1+n, ...)."""
        i, n = shard
        done = self.completed()
        return [b for b in range(i - 1, self.n_blocks, n) if not done[b]]

    def write(self, b: int, values: np.ndarray) -> None:
        rows = self.block(b)
        if values.shape != (rows.stop - rows.start, self.dim):
            raise ValueError(f"block {b} needs shape {(rows.stop - rows.start, self.dim)}, "
                             f"got {values.shape}")
        self.features[rows] = values.astype(np.float32, copy=False)
        self.done[b] = 1

    def _note_device(self, device: str | None) -> None:
        devices = list(self.group.attrs.get("devices", []))
        if device and device not in devices:
            self.group.attrs["devices"] = [*devices, device]


def _remove_partials(path: Path) -> None:
    """Temporary chunk files of writes a killed run left behind."""
    for tmp in path.rglob("*.partial"):
        tmp.unlink(missing_ok=True)


def load(path: str | Path, rows: int | None = None) -> np.ndarray:
    """All features [n_segments, dim] float32. An error if some blocks are still missing or,
    given `rows` (the segment store's length), if the store has another number of rows."""
    return open_complete(path, rows)[:]


def open_complete(path: str | Path, rows: int | None = None) -> zarr.Array:
    """The features array, read-only, to read by blocks; the errors of `load`."""
    group = _open(path)
    stored = group[FEATURES].shape[0]
    if rows is not None and stored != rows:
        raise ValueError(f"{path} has {stored} rows but the segment store has {rows} segments: "
                         "re-run its embed stage")
    done = group[DONE][:] == 1
    if not done.all():
        raise RuntimeError(f"{path} is incomplete: {int((~done).sum())} of {len(done)} blocks "
                           "missing; run its embed stage to finish it")
    return group[FEATURES]


def attrs(path: str | Path) -> dict:
    return dict(_open(path).attrs)


def _open(path: str | Path) -> zarr.Group:
    if not (Path(path) / "zarr.json").exists():
        raise FileNotFoundError(f"no feature store at {path}")
    return zarr.open_group(path, mode="r")
