"""The catalogue's stores opened together and read by blocks: the segment store's layout (which
rows hold which video's segments; each video's split from data/split.csv) and both feature
stores, row i of each being segment i.

Memory: the layout is per video (id, first row, number of segments, split); features are read
a block at a time (one chunk of the feature stores, `features.block_rows` rows), never whole.
The decode stage writes each video's segments in consecutive rows, which `read_layout` checks.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import sys
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Iterator

import h5py
import numpy as np

from mvclr.data.split import read_split
from mvclr.features import store
from mvclr.paths import AUDIO, SEGMENTS, SPLIT, VIDEO

META_ROWS = 1 << 16          # segment-store rows read at a time to build the layout
MMAP_THRESHOLD = 1 << 20     # bytes: glibc serves allocations this large by mmap


@dataclass
class Layout:
    """Where each video's segments are, videos in store order."""
    ids: np.ndarray          # str [n_videos]
    start: np.ndarray        # int64 [n_videos]: the video's first row
    count: np.ndarray        # int64 [n_videos]: its number of segments (consecutive rows)
    split: np.ndarray        # str [n_videos]: train | val | test
    attrs: dict              # the segment store's attributes

    @property
    def n_segments(self) -> int:
        return int(self.start[-1] + self.count[-1]) if len(self.start) else 0

    @cached_property
    def codes(self) -> np.ndarray:
        """int [n_videos]: each video's rank among the ids, so codes sort as the ids do (what
        seeded orders of videos, e.g. the paper's chunks, are drawn over)."""
        return np.argsort(np.argsort(self.ids, kind="stable"), kind="stable")

    def row_codes(self, videos) -> np.ndarray:
        """`codes` of the videos of each row of `videos` (indices into ids), consecutively."""
        videos = np.asarray(videos, dtype=np.int64)
        return np.repeat(self.codes[videos], self.count[videos])

    def video_of(self, rows) -> np.ndarray:
        """Video (index into `ids`) of each row."""
        return np.searchsorted(self.start, rows, side="right") - 1

    def rows_of(self, videos) -> np.ndarray:
        """The rows of `videos` (indices into `ids`) in the given order, each video's in store order."""
        videos = np.asarray(videos, dtype=np.int64)
        counts = self.count[videos]
        first = np.cumsum(counts) - counts
        return np.repeat(self.start[videos] - first, counts) + np.arange(counts.sum())

    def videos_of(self, split: str) -> np.ndarray:
        """Indices of the videos of `split`."""
        return np.flatnonzero(self.split == split)

    def split_rows(self, rows: slice, split: str) -> np.ndarray:
        """Boolean mask over `rows`: which are segments of `split`."""
        return self.split[self.video_of(np.arange(rows.start, rows.stop))] == split

    def rows_per_block(self, videos, block_rows: int) -> np.ndarray:
        """Rows of `videos` (sorted video indices) within each block of `block_rows` rows."""
        start, count = self.start[videos], self.count[videos]
        n_blocks = -(-self.n_segments // block_rows)
        if len(start) == 0:
            return np.zeros(n_blocks, dtype=np.int64)
        edges = np.arange(0, self.n_segments + block_rows, block_rows).clip(max=self.n_segments)
        before = np.r_[0, np.cumsum(count)]
        k = np.searchsorted(start, edges, side="left")        # videos starting before each edge
        last = np.maximum(k - 1, 0)
        beyond = np.where(k > 0, np.maximum(start[last] + count[last] - edges, 0), 0)
        return np.diff(before[k] - beyond)


def read_layout(path: str | Path, splits: dict[str, str], split_source: str | Path = SPLIT) -> Layout:
    """The layout of the segment store at `path` with each video's split from `splits` (read
    from `split_source`); a ValueError names a video whose segments are not consecutive or that
    has no split."""
    path = Path(path)
    ids, starts = [], []
    with h5py.File(path, "r") as f:
        column = f["video_id"].asstr()
        n, previous = len(f["video_id"]), None
        for a in range(0, n, META_ROWS):
            block = np.asarray(column[a:a + META_ROWS], dtype=str)
            new = np.r_[block[0] != previous, block[1:] != block[:-1]]
            ids.append(block[new])
            starts.append(np.flatnonzero(new) + a)
            previous = block[-1]
        attrs = dict(f.attrs)
    ids = np.concatenate(ids) if ids else np.array([], dtype=str)
    start = np.concatenate(starts).astype(np.int64) if starts else np.array([], dtype=np.int64)
    unique, counts = np.unique(ids, return_counts=True)
    if np.any(counts > 1):
        raise ValueError(f"{path}: the segments of video {str(unique[counts > 1][0])!r} are not in "
                         "consecutive rows (the decode stage writes them so); re-run decode")
    missing = [str(v) for v in ids if v not in splits]
    if missing:
        raise ValueError(f"{split_source} has no split for videos {missing[:5]} of {path}; run "
                         "`dvc repro` (stage split)")
    return Layout(ids=ids, start=start, count=np.diff(np.r_[start, n]).astype(np.int64),
                  split=np.array([splits[v] for v in ids], dtype=str), attrs=attrs)


def return_freed_memory() -> None:
    """Have glibc serve every allocation of MMAP_THRESHOLD bytes or more by mmap, so that freeing
    it returns the memory to the system. By default glibc raises that threshold after the first
    large free and serves later medium allocations (torch's per-batch tensors, a block's copies)
    from per-thread heap arenas that fragment: resident memory grew by 1.6 GB over one
    autoencoder epoch of 250 000 segments, and stays flat with this. Process-wide; glibc only."""
    libc = ctypes.CDLL(ctypes.util.find_library("c")) if sys.platform.startswith("linux") else None
    if libc is not None and hasattr(libc, "mallopt"):
        libc.mallopt(-3, MMAP_THRESHOLD)          # M_MMAP_THRESHOLD (fixed: no dynamic raise)


class PairedStores:
    """The layout and both feature stores under `root`; an error when a feature store is
    incomplete or does not match the segment store's length. Opening them fixes glibc's mmap
    threshold (`return_freed_memory`): every stage that streams the stores opens them first."""

    def __init__(self, root: str | Path = "."):
        return_freed_memory()
        self.root = Path(root)
        self.layout = read_layout(self.root / SEGMENTS, read_split(self.root / SPLIT),
                                  self.root / SPLIT)
        n = self.layout.n_segments
        self.audio = store.open_complete(self.root / AUDIO, rows=n)
        self.video = store.open_complete(self.root / VIDEO, rows=n)
        self.block_rows = int(self.audio.chunks[0])

    @property
    def n_segments(self) -> int:
        return self.layout.n_segments

    @property
    def dims(self) -> tuple[int, int]:
        return int(self.audio.shape[1]), int(self.video.shape[1])

    @property
    def n_blocks(self) -> int:
        return -(-self.n_segments // self.block_rows)

    def block(self, b: int) -> slice:
        return slice(b * self.block_rows, min((b + 1) * self.block_rows, self.n_segments))

    def read(self, rows: slice, audio: bool = True, video: bool = True):
        """(audio, video) vectors of `rows`; None for a modality not asked for. Non-finite
        vectors are never passed on: an error names their rows."""
        out = []
        for wanted, array, path in ((audio, self.audio, AUDIO), (video, self.video, VIDEO)):
            values = array[rows] if wanted else None
            bad = [] if values is None else store.non_finite_rows(values, rows.start)
            if bad:
                raise store.non_finite_error(self.root / path, bad, "run its embed stage")
            out.append(values)
        return tuple(out)

    def blocks(self, audio: bool = True, video: bool = True) -> Iterator[tuple[slice, np.ndarray, np.ndarray]]:
        """(rows, audio, video) of every block in store order."""
        for b in range(self.n_blocks):
            rows = self.block(b)
            yield (rows, *self.read(rows, audio, video))

    def video_blocks(self, audio: bool = True, video: bool = True
                     ) -> Iterator[tuple[slice, slice, np.ndarray, np.ndarray]]:
        """(videos, rows, audio, video) in store order, each holding whole videos: a block's
        last video continues into the next block is carried over to it."""
        ends = self.layout.start + self.layout.count
        first_video, first_row, carry = 0, 0, (None, None)
        for rows, a, v in self.blocks(audio, video):
            a, v = (x if c is None or x is None else np.concatenate([c, x])
                    for c, x in zip(carry, (a, v)))
            last_video = int(np.searchsorted(ends, rows.stop, side="right"))
            stop = int(ends[last_video - 1]) if last_video > first_video else first_row
            cut = stop - first_row
            if cut:
                yield (slice(first_video, last_video), slice(first_row, stop),
                       None if a is None else a[:cut], None if v is None else v[:cut])
            carry = (None if a is None else a[cut:], None if v is None else v[cut:])
            first_video, first_row = last_video, stop
