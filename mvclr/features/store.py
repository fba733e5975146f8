"""Zarr v3 feature stores (`features/{audio,video}.zarr`): row i = segment i of the segment store.

A store is a zarr group:
  features  float32 [n_segments, dim], one chunk per block of `block_rows` rows. A block is
            the unit of work: of writing, of resuming and of `--shard i/n` assignment.
  rows      uint8 [n_segments, 16], chunked as `features`: the segment store's `digest` of the
            segment each row's vector was computed from (what makes a vector findable by
            content wherever its segment moves: mvclr.features.reuse).
  done      uint8 [n_blocks, 32], one chunk per block: the digest of the block's inputs
            (`block_digests`: how the values are computed and the `rows` of the block), then
            the `checksum` of its values; zeros until the block is written.
A block is done iff its marker's digest equals the digest of its current inputs and its values
are present and match the marker's checksum (`verify`): a lost chunk, which zarr would read as
its fill value (NaN), or a damaged one is recomputed, never passed on. A change confined to
some segments, or to the settings, recomputes exactly the blocks it touches; vectors of
segments that only moved to other rows are copied (mvclr.features.reuse). zarr's local store
writes every chunk atomically (temporary file, then rename) and a marker is written after its
block's rows, so a run killed at any moment leaves only whole blocks marked done. Workers of
`--shard` write disjoint chunk files, so they never race, and their store folders can be merged
by copying. A change in the number of segments resizes the store; only a change of the layout
(dim, block_rows, the store's format) starts a store afresh. Non-finite values are never
written (`write` names their rows).

Attributes: backbone, weights (actually used), layers, window, versions, device(s), the
fingerprint of the latest run's settings and what it covers, and the shapes.
"""
from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import zarr

FEATURES, ROWS, DONE, PREVIOUS = "features", "rows", "done", "previous"
DIGEST_BYTES = 16
MARKER_BYTES = 2 * DIGEST_BYTES      # input digest, then checksum of the values


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


def checksum(values: np.ndarray) -> np.ndarray:
    """uint8 [16]: BLAKE2b-128 of a block's float32 values (row-major)."""
    data = np.ascontiguousarray(values, dtype=np.float32)
    return np.frombuffer(hashlib.blake2b(data.tobytes(), digest_size=DIGEST_BYTES).digest(), np.uint8)


def non_finite_rows(values: np.ndarray, first: int = 0) -> list[int]:
    """Rows (offset by `first`) holding a NaN or an infinity."""
    return (np.flatnonzero(~np.isfinite(values).all(axis=1)) + first).tolist()


def non_finite_error(path, rows: list[int], what: str) -> ValueError:
    shown = ", ".join(map(str, rows[:10])) + (", ..." if len(rows) > 10 else "")
    return ValueError(f"{path}: non-finite vectors in {len(rows)} row(s) ({shown}); {what}")


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


@dataclass
class Task:
    """What a run does for one block: the digest its marker will carry, the segment digests of
    its rows (`rows` of the store) and which of its rows (absolute indices, increasing) must be
    computed; the others already hold their vectors, copied (mvclr.features.reuse)."""
    digest: np.ndarray
    rows: np.ndarray
    compute: np.ndarray


class FeatureStore:
    def __init__(self, path: str | Path, group: zarr.Group):
        self.path = Path(path)
        self.group = group
        self.features = group[FEATURES]
        self.row_digests = group[ROWS]
        self.done = group[DONE]
        self.rows, self.dim = self.features.shape
        self.block_rows = self.features.chunks[0]
        self.n_blocks = self.done.shape[0]
        self._verified: dict[int, str] = {}

    @staticmethod
    def layout_of(group: zarr.Group) -> tuple | None:
        """(dim, block_rows) of a store of this format, None for any other group."""
        if not all(name in group for name in (FEATURES, ROWS, DONE)) or \
                group[DONE].ndim != 2 or group[DONE].shape[1] != MARKER_BYTES:
            return None
        return group[FEATURES].shape[1], group[FEATURES].chunks[0]

    @classmethod
    def open(cls, path: str | Path, *, rows: int, dim: int, block_rows: int, attrs: dict,
             fresh_if_changed: bool = True, resize: bool = True) -> "FeatureStore":
        """Open the store at `path` to (re)compute it, creating it if needed, resized to `rows`
        (unless not `resize`: the caller first reads what it keeps, then calls `resize`), its
        attributes updated with `attrs`.

        An existing store of another layout (dim, block_rows, format) is deleted and created
        anew when `fresh_if_changed` (a lone worker), else it is an error (a `--shard` worker
        must not wipe blocks that other workers may be filling).
        """
        path = Path(path)
        if (path / "zarr.json").exists():
            group = zarr.open_group(path, mode="r+")
            layout = cls.layout_of(group)
            if layout == (dim, block_rows):
                _remove_partials(path)
                devices = list(group.attrs.get("devices", []))
                if attrs.get("device") and attrs["device"] not in devices:
                    devices.append(attrs["device"])
                group.attrs.update({**attrs, "devices": devices})
                store = cls(path, group)
                if resize:
                    store.resize(rows)
                return store
            reason = ("it is of an earlier format" if layout is None else
                      f"it holds {layout[0]}-d vectors in blocks of {layout[1]} rows, this run "
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
        _create_arrays(group, rows, dim, block_rows)
        devices = [attrs["device"]] if "device" in attrs else []
        group.attrs.update({**attrs, "devices": devices, "rows": rows, "dim": dim,
                            "block_rows": block_rows})
        return cls(path, group)

    def resize(self, rows: int) -> None:
        """To `rows` rows: blocks past the end are dropped, new ones are not done."""
        if rows != self.rows:
            print(f"{self.path}: {self.rows} rows -> {rows} segments: resized; "
                  "the blocks whose rows changed are recomputed or copied")
            self.features.resize((rows, self.dim))
            self.row_digests.resize((rows, DIGEST_BYTES))
            self.done.resize((-(-rows // self.block_rows), MARKER_BYTES))
            last = (self.rows - 1) // self.block_rows if self.rows else -1
            self._verified = {b: w for b, w in self._verified.items() if b < last}
            self.rows, self.n_blocks = rows, self.done.shape[0]
        self.group.attrs["rows"] = rows

    def block(self, b: int) -> slice:
        return slice(b * self.block_rows, min((b + 1) * self.block_rows, self.rows))

    def chunk_file(self, b: int) -> Path:
        """The file holding block b's values (zarr v3's default chunk key encoding)."""
        return self.path / FEATURES / "c" / str(b) / "0"

    def verify(self, b: int) -> str:
        """'' when block b's values are present and match its marker's checksum, else why not
        (naming the chunk file). Remembered until the block is written again."""
        if b not in self._verified:
            marker = self.done[b]
            if not marker.any():
                why = "never written"
            elif not self.chunk_file(b).is_file():
                why = f"its chunk file {self.chunk_file(b)} is missing"
            else:
                try:
                    values = self.features[self.block(b)]
                except Exception as e:  # noqa: BLE001 - a damaged chunk: recomputed, reported
                    why = f"its chunk file {self.chunk_file(b)} is unreadable ({type(e).__name__}: {e})"
                else:
                    why = "" if np.array_equal(checksum(values), marker[DIGEST_BYTES:]) else \
                        f"its chunk file {self.chunk_file(b)} does not match its checksum"
            self._verified[b] = why
        return self._verified[b]

    def completed(self, digests: np.ndarray) -> np.ndarray:
        """Boolean [n_blocks]: which blocks hold, intact, the values of the inputs `digests`
        describes (uint8 [n_blocks, 16], `block_digests`)."""
        if len(digests) != self.n_blocks:
            raise ValueError(f"{self.path}: {len(digests)} block digests for {self.n_blocks} blocks")
        marked = (self.done[:, :DIGEST_BYTES] == digests).all(axis=1)
        return np.array([bool(m) and not self.verify(b) for b, m in enumerate(marked)], bool)

    def missing(self, digests: np.ndarray, shard: tuple[int, int] = (1, 1)) -> dict[int, np.ndarray]:
        """The blocks of shard i/n (blocks i-1, i-1+n, ...) not done for `digests` (one per block
        of the store as it will be, which may differ from its current length), each with the
        digest its marker will carry; a block marked for these inputs whose values do not
        verify is reported by name."""
        i, n = shard
        stored = self.done[:, :DIGEST_BYTES]
        out = {}
        for b in range(i - 1, len(digests), n):
            marked = b < len(stored) and bool((stored[b] == digests[b]).all())
            why = self.verify(b) if marked else "stale"
            if why:
                if marked:
                    print(f"{self.path}: block {b} (rows {self.block(b).start}-"
                          f"{self.block(b).stop - 1}) is recomputed: {why}")
                out[b] = digests[b]
        return out

    def write(self, b: int, values: np.ndarray, digest: np.ndarray,
              rows: np.ndarray | None = None) -> None:
        """Block b's values and the segment digests of its rows (`rows`; zeros when unknown),
        then its marker: the digest of the inputs they were computed from and their checksum.
        Refuses non-finite values, naming their rows."""
        block = self.block(b)
        if values.shape != (block.stop - block.start, self.dim):
            raise ValueError(f"block {b} needs shape {(block.stop - block.start, self.dim)}, "
                             f"got {values.shape}")
        digest = np.asarray(digest, np.uint8)
        if digest.shape != (DIGEST_BYTES,) or not digest.any():
            raise ValueError(f"block {b}: a marker is {DIGEST_BYTES} bytes, not all zero")
        bad = non_finite_rows(values, block.start)
        if bad:
            raise non_finite_error(self.path, bad, f"block {b} is not written")
        values = values.astype(np.float32, copy=False)
        self.done[b] = np.zeros(MARKER_BYTES, np.uint8)
        self.features[block] = values
        self.row_digests[block] = np.zeros((len(values), DIGEST_BYTES), np.uint8) if rows is None else rows
        self.done[b] = np.concatenate([digest, checksum(values)])
        self._verified[b] = ""

    def write_rows(self, rows: np.ndarray, values: np.ndarray) -> None:
        """Values of some rows (absolute indices, increasing) of one block, marker untouched:
        the block is finished by `seal`."""
        self.features.set_orthogonal_selection((rows, slice(None)), values.astype(np.float32, copy=False))

    def seal(self, b: int, task: Task) -> None:
        """Mark block b done once every one of its rows holds its vector (`write_rows`)."""
        self.write(b, self.features[self.block(b)], task.digest, task.rows)

    def previous(self) -> "FeatureStore | None":
        """The blocks `retire` set aside, as a store of their own (None when there are none)."""
        if PREVIOUS not in self.group:
            return None
        return FeatureStore(self.path / PREVIOUS, self.group[PREVIOUS])

    def retire(self, blocks) -> None:
        """Set the current contents of `blocks` aside (their chunk files are moved, not copied)
        before they are rewritten, so that a worker planning later (another `--shard` worker)
        can still copy their vectors (mvclr.features.reuse); `drop_previous` removes them once
        the store is complete. A block set aside earlier in the same slot is replaced."""
        blocks = [b for b in blocks if b < self.n_blocks and self.done[b].any()]
        if not blocks:
            return
        if PREVIOUS not in self.group:
            try:
                _create_arrays(self.group.create_group(PREVIOUS), self.rows, self.dim, self.block_rows)
            except Exception:  # noqa: BLE001 - another worker created it first
                pass
        previous = self.previous()
        if previous.rows < self.rows:
            previous.resize(self.rows)
        for b in blocks:
            for name in (FEATURES, ROWS, DONE):
                source = self.path / name / "c" / str(b) / "0"
                target = self.path / PREVIOUS / name / "c" / str(b) / "0"
                target.parent.mkdir(parents=True, exist_ok=True)
                try:
                    source.replace(target)
                except FileNotFoundError:
                    target.unlink(missing_ok=True)
            self._verified.pop(b, None)
        n = self.rows - (self.n_blocks - 1) * self.block_rows
        lengths = dict(previous.group.attrs.get("lengths", {}))
        lengths.update({str(b): n if b == self.n_blocks - 1 else self.block_rows for b in blocks})
        previous.group.attrs["lengths"] = lengths

    def length(self, b: int) -> int:
        """Rows of block b (of a set-aside block: as it was when set aside)."""
        recorded = self.group.attrs.get("lengths", {}).get(str(b))
        return recorded if recorded is not None else self.block(b).stop - self.block(b).start

    def drop_previous(self) -> None:
        if PREVIOUS in self.group:
            shutil.rmtree(self.path / PREVIOUS, ignore_errors=True)

    def invalidate(self, b: int) -> None:
        """Unmark block b before its rows are rewritten piecemeal."""
        self.done[b] = np.zeros(MARKER_BYTES, np.uint8)
        self._verified.pop(b, None)


def _create_arrays(group: zarr.Group, rows: int, dim: int, block_rows: int) -> None:
    group.create_array(FEATURES, shape=(rows, dim), chunks=(block_rows, dim),
                       dtype="float32", fill_value=np.nan)
    group.create_array(ROWS, shape=(rows, DIGEST_BYTES), chunks=(block_rows, DIGEST_BYTES),
                       dtype="uint8", fill_value=0)
    group.create_array(DONE, shape=(-(-rows // block_rows), MARKER_BYTES),
                       chunks=(1, MARKER_BYTES), dtype="uint8", fill_value=0, compressors=None)


def _remove_partials(path: Path) -> None:
    """Temporary chunk files of writes a killed run left behind."""
    for tmp in path.rglob("*.partial"):
        tmp.unlink(missing_ok=True)


def load(path: str | Path, rows: int | None = None) -> np.ndarray:
    """All features [n_segments, dim] float32. An error if some blocks were never written or
    lost their values, if some value is not finite or, given `rows` (the segment store's
    length), if the store has another number of rows."""
    values = open_complete(path, rows)[:]
    bad = non_finite_rows(values)
    if bad:
        raise non_finite_error(path, bad, "run its embed stage")
    return values


def open_complete(path: str | Path, rows: int | None = None) -> zarr.Array:
    """The features array, read-only, to read by blocks; an error when the store has another
    number of rows than `rows`, a block was never written or a block's chunk file is missing
    (zarr would read it as NaN). Readers check the values they read are finite
    (`non_finite_rows`)."""
    group = _open(path)
    stored = group[FEATURES].shape[0]
    if rows is not None and stored != rows:
        raise ValueError(f"{path} has {stored} rows but the segment store has {rows} segments: "
                         "re-run its embed stage")
    done = group[DONE][:].any(axis=1)
    if not done.all():
        raise RuntimeError(f"{path} is incomplete: {int((~done).sum())} of {len(done)} blocks "
                           "missing; run its embed stage to finish it")
    lost = [b for b in range(len(done)) if not (Path(path) / FEATURES / "c" / str(b) / "0").is_file()]
    if lost:
        raise RuntimeError(f"{path}: the chunk files of {len(lost)} block(s) are missing, e.g. "
                           f"{Path(path) / FEATURES / 'c' / str(lost[0]) / '0'}; run its embed "
                           "stage to recompute them")
    return group[FEATURES]


def markers(path: str | Path) -> np.ndarray:
    """The stored blocks' input digests, uint8 [n_blocks, 16] (zeros: never written)."""
    return _open(path)[DONE][:, :DIGEST_BYTES]


def attrs(path: str | Path) -> dict:
    return dict(_open(path).attrs)


def _open(path: str | Path) -> zarr.Group:
    if not (Path(path) / "zarr.json").exists():
        raise FileNotFoundError(f"no feature store at {path}")
    return zarr.open_group(path, mode="r")
