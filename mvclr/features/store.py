"""Zarr v3 feature stores (`features/{audio,video}.zarr`): row i = segment i of the segment store.

A store is a zarr group:
  features  float32 [n_segments, dim], one chunk per block of `block_rows` rows. A block is
            the unit of work: of writing, of resuming and of `--shard i/n` assignment.
  done      uint8 [n_blocks, 16], one chunk per block: the digest of the block's inputs
            (`block_digests`: how the values are computed and the segment store's `digest` of
            each of its rows), written once the block's rows are; zeros until then.
A block is done iff its marker equals the digest of its current inputs, so a change confined to
some segments, or to the settings, recomputes exactly the blocks it touches. zarr's local store
writes every chunk atomically (temporary file, then rename) and a marker is written after its
rows, so a run killed at any moment leaves only whole blocks marked done. Workers of `--shard`
write disjoint chunk files, so they never race, and their store folders can be merged by copying.
A change in the number of segments resizes the store (the blocks whose rows changed then carry
stale markers); only a change of the layout (dim, block_rows) starts a store afresh.

Attributes: backbone, weights (actually used), layers, window, versions, device(s), the
fingerprint of the latest run's settings and what it covers, and the shapes.
"""
from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import zarr

FEATURES, DONE = "features", "done"
DIGEST_BYTES = 16


def fingerprint(spec: dict) -> str:
    """Stable digest of a JSON-able description of how the values are computed."""
    text = json.dumps(spec, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def block_digests(spec_fingerprint: str, row_digests: np.ndarray, block_rows: int) -> np.ndarray:
    """uint8 [n_blocks, 16]: BLAKE2b-128 of the settings' fingerprint and the input digests
    (uint8 [n_rows, 16]) of the block's rows, in order. Never all zeros in practice."""
    row_digests = np.ascontiguousarray(row_digests, dtype=np.uint8)
    n_blocks = -(-len(row_digests) // block_rows)
    out = np.empty((n_blocks, DIGEST_BYTES), np.uint8)
    for b in range(n_blocks):
        h = hashlib.blake2b(spec_fingerprint.encode(), digest_size=DIGEST_BYTES)
        h.update(row_digests[b * block_rows:(b + 1) * block_rows].tobytes())
        out[b] = np.frombuffer(h.digest(), np.uint8)
    return out


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
        """Open the store at `path` to (re)compute it, creating it if needed, resized to `rows`,
        its attributes updated with `attrs`.

        An existing store of another layout (dim, block_rows) is deleted and created anew when
        `fresh_if_changed` (a lone worker), else it is an error (a `--shard` worker must not
        wipe blocks that other workers may be writing).
        """
        path = Path(path)
        if (path / "zarr.json").exists():
            group = zarr.open_group(path, mode="r+")
            layout = (group[FEATURES].shape[1], group[FEATURES].chunks[0], group[DONE].ndim)
            if layout == (dim, block_rows, 2):
                _remove_partials(path)
                if group[FEATURES].shape[0] != rows:
                    print(f"{path}: {group[FEATURES].shape[0]} rows -> {rows} segments: resized; "
                          "the blocks whose rows changed are recomputed")
                    group[FEATURES].resize((rows, dim))
                    group[DONE].resize((-(-rows // block_rows), DIGEST_BYTES))
                devices = list(group.attrs.get("devices", []))
                if attrs.get("device") and attrs["device"] not in devices:
                    devices.append(attrs["device"])
                group.attrs.update({**attrs, "devices": devices, "rows": rows})
                return cls(path, group)
            reason = (f"it holds {layout[0]}-d vectors in blocks of {layout[1]} rows, this run "
                      f"computes {dim}-d vectors in blocks of {block_rows}")
            if not fresh_if_changed:
                raise ValueError(f"{path}: {reason}. A --shard worker does not wipe it (other "
                                 "workers may be filling it): delete it or run without --shard")
            print(f"{path}: {reason}: starting afresh")
            shutil.rmtree(path)
        elif path.exists() and any(path.iterdir()):
            raise FileExistsError(f"{path} exists but is not a feature store (no zarr.json); "
                                  "move it away or delete it")
        group = zarr.open_group(path, mode="w")
        group.create_array(FEATURES, shape=(rows, dim), chunks=(block_rows, dim),
                           dtype="float32", fill_value=np.nan)
        group.create_array(DONE, shape=(-(-rows // block_rows), DIGEST_BYTES),
                           chunks=(1, DIGEST_BYTES), dtype="uint8", fill_value=0,
                           compressors=None)
        devices = [attrs["device"]] if "device" in attrs else []
        group.attrs.update({**attrs, "devices": devices, "rows": rows, "dim": dim,
                            "block_rows": block_rows})
        return cls(path, group)

    def block(self, b: int) -> slice:
        return slice(b * self.block_rows, min((b + 1) * self.block_rows, self.rows))

    def completed(self, digests: np.ndarray) -> np.ndarray:
        """Boolean [n_blocks]: which blocks hold the values of the inputs `digests` describes
        (uint8 [n_blocks, 16], `block_digests`)."""
        if len(digests) != self.n_blocks:
            raise ValueError(f"{self.path}: {len(digests)} block digests for {self.n_blocks} blocks")
        return (self.done[:] == digests).all(axis=1)

    def missing(self, digests: np.ndarray, shard: tuple[int, int] = (1, 1)) -> dict[int, np.ndarray]:
        """The blocks of shard i/n (blocks i-1, i-1+n, ...) not done for `digests`, each with
        the digest its marker will carry."""
        i, n = shard
        done = self.completed(digests)
        return {b: digests[b] for b in range(i - 1, self.n_blocks, n) if not done[b]}

    def write(self, b: int, values: np.ndarray, digest: np.ndarray) -> None:
        """Block b's rows, then its marker: the digest of the inputs they were computed from."""
        rows = self.block(b)
        if values.shape != (rows.stop - rows.start, self.dim):
            raise ValueError(f"block {b} needs shape {(rows.stop - rows.start, self.dim)}, "
                             f"got {values.shape}")
        digest = np.asarray(digest, np.uint8)
        if digest.shape != (DIGEST_BYTES,) or not digest.any():
            raise ValueError(f"block {b}: a marker is {DIGEST_BYTES} bytes, not all zero")
        self.features[rows] = values.astype(np.float32, copy=False)
        self.done[b] = digest


def _remove_partials(path: Path) -> None:
    """Temporary chunk files of writes a killed run left behind."""
    for tmp in path.rglob("*.partial"):
        tmp.unlink(missing_ok=True)


def load(path: str | Path, rows: int | None = None) -> np.ndarray:
    """All features [n_segments, dim] float32. An error if some blocks were never written or,
    given `rows` (the segment store's length), if the store has another number of rows."""
    return open_complete(path, rows)[:]


def open_complete(path: str | Path, rows: int | None = None) -> zarr.Array:
    """The features array, read-only, to read by blocks; the errors of `load`."""
    group = _open(path)
    stored = group[FEATURES].shape[0]
    if rows is not None and stored != rows:
        raise ValueError(f"{path} has {stored} rows but the segment store has {rows} segments: "
                         "re-run its embed stage")
    done = group[DONE][:].any(axis=1)
    if not done.all():
        raise RuntimeError(f"{path} is incomplete: {int((~done).sum())} of {len(done)} blocks "
                           "missing; run its embed stage to finish it")
    return group[FEATURES]


def markers(path: str | Path) -> np.ndarray:
    """The stored block markers, uint8 [n_blocks, 16] (zeros: never written)."""
    return _open(path)[DONE][:]


def attrs(path: str | Path) -> dict:
    return dict(_open(path).attrs)


def _open(path: str | Path) -> zarr.Group:
    if not (Path(path) / "zarr.json").exists():
        raise FileNotFoundError(f"no feature store at {path}")
    return zarr.open_group(path, mode="r")
