"""Vectors found by content: the rows a run must fill whose segments (by the segment store's
`digest`) a feature store already holds in some block that verifies, wherever that block is.

Inserting, removing or reordering videos moves segments to other rows; their vectors are
copied, not computed. Everything a run will copy is read before the store is written
(`gather`), so filling the store in place never overwrites a vector it still needs; reads go
block by block in store order, each block once, into a scratch file, so memory holds one block
and 24 bytes per wanted row whatever the store's size. A copy is taken only from a block whose
marker digest matches the settings' fingerprint and its rows' digests, and whose values match
its checksum (mvclr.features.store).
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from mvclr.features.store import DIGEST_BYTES, FeatureStore, Task, block_digests, checksum


def _keys(digests: np.ndarray) -> np.ndarray:
    """Each 16-byte digest as one comparable scalar."""
    return np.ascontiguousarray(digests, dtype=np.uint8).view(f"V{DIGEST_BYTES}").ravel()


def gather(stores: list[FeatureStore], spec_fingerprint: str, wanted: np.ndarray,
           scratch: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """For each of the segment digests `wanted` (uint8 [k, 16]): whether one of `stores` holds
    its vector under `spec_fingerprint` in a block that verifies, and that vector (float32
    [k, dim] in a scratch file under `scratch`; rows not found are undefined)."""
    found = np.zeros(len(wanted), bool)
    dim = stores[0].dim
    values = np.lib.format.open_memmap(Path(scratch) / "copies.npy", mode="w+", dtype=np.float32,
                                       shape=(max(len(wanted), 1), dim))[:len(wanted)]
    for store in stores:
        if found.all() or not store.rows:
            break
        stored = store.row_digests[:]
        order = np.argsort(_keys(stored), kind="stable")
        sorted_keys = _keys(stored)[order]
        at = np.searchsorted(sorted_keys, _keys(wanted)).clip(max=len(order) - 1)
        hit = (sorted_keys[at] == _keys(wanted)) & ~found
        source = np.where(hit, order[at], -1)
        markers = store.done[:]
        blocks = np.where(hit, source // store.block_rows, -1)
        for b in np.unique(blocks[hit]):
            first = int(b) * store.block_rows
            block = slice(first, first + store.length(int(b)))
            expected = block_digests(spec_fingerprint, stored[block], store.block_rows)[0]
            if not np.array_equal(markers[b, :DIGEST_BYTES], expected):
                continue
            data = store.features[block]
            if not np.array_equal(checksum(data), markers[b, DIGEST_BYTES:]):
                continue
            take = np.flatnonzero((blocks == b) & (source < block.stop))
            values[take] = data[source[take] - first]
            found[take] = True
    return found, values


def block_rows_of(blocks, block_rows: int, n_rows: int) -> np.ndarray:
    """The rows (absolute, increasing) of `blocks` in a store of `n_rows` rows."""
    parts = [np.arange(b * block_rows, min((b + 1) * block_rows, n_rows)) for b in sorted(blocks)]
    return np.concatenate(parts) if parts else np.zeros(0, np.int64)


def copy_into(store: FeatureStore, blocks: dict[int, np.ndarray], row_digests: np.ndarray,
              rows: np.ndarray, found: np.ndarray, values: np.ndarray) -> dict[int, Task]:
    """Write the copies `gather` found for `rows` (the rows of `blocks`, in order) into the
    resized `store`: a block found whole is written and marked done; a block found in part has
    its copies written and is left unmarked. Returns the blocks that still need computing,
    each with its Task."""
    tasks, at = {}, 0
    for b in sorted(blocks):
        block = store.block(b)
        n = block.stop - block.start
        got, vals = found[at:at + n], values[at:at + n]
        at += n
        task = Task(blocks[b], row_digests[block], np.arange(block.start, block.stop)[~got])
        if got.all():
            store.write(b, np.asarray(vals), task.digest, task.rows)
            continue
        if got.any():
            store.invalidate(b)
            store.write_rows(np.arange(block.start, block.stop)[got], np.asarray(vals[got]))
        tasks[b] = task
    return tasks


def plan(store: FeatureStore, spec_fingerprint: str, row_digests: np.ndarray,
         shard: tuple[int, int] = (1, 1)) -> tuple[dict[int, Task], np.ndarray, int]:
    """Bring `store` (opened without resizing) to the segments `row_digests` (uint8 [n, 16],
    the segment store's `digest`, in row order) under `spec_fingerprint`: the blocks of
    `shard` whose inputs changed or whose values do not verify get every vector the store
    holds for their segments copied, the store is resized, and the rest is left to compute.
    Returns ({block: Task} to compute, the block digests of the new rows, segments copied)."""
    digests = block_digests(spec_fingerprint, row_digests, store.block_rows)
    blocks = store.missing(digests, shard)
    i, n = shard
    store.retire([*blocks, *range(len(digests) + (i - 1 - len(digests)) % n, store.n_blocks, n)])
    wanted = block_rows_of(blocks, store.block_rows, len(row_digests))
    with tempfile.TemporaryDirectory(prefix=".reuse-", dir=store.path.parent) as scratch:
        sources = [store] + ([store.previous()] if store.previous() is not None else [])
        found, values = gather(sources, spec_fingerprint, row_digests[wanted], scratch)
        store.resize(len(row_digests))
        tasks = copy_into(store, blocks, row_digests, wanted, found, values)
        del values
    return tasks, digests, int(found.sum())
