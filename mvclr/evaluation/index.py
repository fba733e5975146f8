"""Nearest-neighbour index of the catalogue's video vectors (FAISS), behind `mvclr similar`:
one index per representation, cosine similarity as the inner product of L2-normalised rows.

Kind (`choose_kind`, params `index`):
- exact: IndexFlatIP, every video compared; used while videos × dim <= index.exact_max. A
  query costs ~0.17 ms per million vector components on an idle core here, ~3× that on the
  shared 2 cores under load, so exact_max = 2e7 stays well within the 20 ms target.
- ivf: IndexIVFFlat with nlist = round(index.ivf.lists_per_sqrt × sqrt(videos)) lists from
  spherical k-means (index.ivf.iterations iterations, seeded) on a seeded sample of
  index.ivf.train_per_list × nlist videos; a query scans its index.ivf.nprobe nearest lists.
  Vectors are stored unquantised: similarities are exact cosines, the only loss is a true
  neighbour in a list not scanned (recall@10 against exact: benchmarks/scale.py).
Row r of the index is the r-th video given to `build`; its id is the FAISS id, so a video's
stored vector comes back from the index itself (`VideoIndex.vector`, IVF through its direct
map): a query by catalogue id never needs the feature stores.

Files (`save` / `load`), one directory per representation:
  index.faiss   the FAISS index, memory-mapped on load (IO_FLAG_MMAP_IFC): loading reads
                nothing; an exact query reads the whole file, an IVF query its nprobe lists
  videos.npy    video_id and split per row, and the rows in order of video id (`order`)
  meta.json     representation, kind, dim, videos, nlist / nprobe, seed, faiss version and
                whatever `info` the caller recorded (e.g. the aggregation, a model digest)
Builds are deterministic (seeded sample and k-means), so the files are reproducible.

API for the `index` stage and `mvclr similar`:
  idx = build(vectors, video_ids, splits, params["index"], seed=params["seed"],
              representation="cl_agg", info={...})        # vectors [n, dim], any scale
  save(idx, "models/index/cl_agg");  idx = load("models/index/cl_agg")
  found = idx.neighbours("video_id", k=5, splits=["test"])  # the video itself left out
  found = idx.nearest(vector, k=5, splits=None)              # a new file's video vector
  found.rows, found.video_ids, found.similarity, found.splits   # best first
  idx.vector("video_id"); idx.row_of("video_id")
Errors (an unknown id, a dimension mismatch, missing or inconsistent files) raise
VideoIndexError with the reason.

Memory and time: exact, 4·n·dim bytes and a query ∝ n·dim; IVF the same bytes on disk plus
8·n (direct map), a query ∝ (nlist + nprobe·n/nlist)·dim, about sqrt(n)·dim; building ∝
n·nlist·dim (assigning every video to a list) plus the k-means on train_per_list·nlist rows.
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

from mvclr.evaluation.similarity import normalise

EXACT, IVF = "exact", "ivf"
SPLITS = ("train", "val", "test")
ADD_ROWS = 65536                 # rows normalised and added at a time
INDEX_FILE, VIDEOS_FILE, META_FILE = "index.faiss", "videos.npy", "meta.json"


class VideoIndexError(ValueError):
    """A query or an index file that cannot be used; the message says why."""


@dataclass
class Neighbours:
    """The nearest videos of one query, best first."""
    rows: np.ndarray            # int64 [m], m <= k: rows of the index
    video_ids: np.ndarray       # str [m]
    splits: np.ndarray          # str [m]
    similarity: np.ndarray      # float32 [m], cosine


def check_settings(settings: dict) -> None:
    """A VideoIndexError naming the params key of a value out of range."""
    bad = [f"index.exact_max must be >= 0, got {settings['exact_max']}"] if settings["exact_max"] < 0 else []
    bad += [f"index.ivf.{key} must be > 0, got {value}" for key, value in settings["ivf"].items()
            if value <= 0]
    if bad:
        raise VideoIndexError("params.yaml: " + "; ".join(bad))


def choose_kind(n: int, dim: int, settings: dict) -> str:
    """exact while n × dim <= settings["exact_max"], ivf above."""
    return EXACT if n * dim <= settings["exact_max"] else IVF


def list_count(n: int, settings: dict) -> int:
    """nlist: lists_per_sqrt × sqrt(n), at least 1 and at most n."""
    return int(min(n, max(1, round(settings["ivf"]["lists_per_sqrt"] * math.sqrt(n)))))


def _add(index: faiss.Index, vectors: np.ndarray) -> None:
    for start in range(0, len(vectors), ADD_ROWS):
        index.add(normalise(vectors[start:start + ADD_ROWS]))


def _ivf(vectors: np.ndarray, settings: dict, seed: int) -> faiss.IndexIVFFlat:
    n, dim = vectors.shape
    ivf = settings["ivf"]
    nlist = list_count(n, settings)
    sample = min(n, ivf["train_per_list"] * nlist)
    rows = np.sort(np.random.default_rng(seed).choice(n, size=sample, replace=False))
    index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, nlist, faiss.METRIC_INNER_PRODUCT)
    index.cp.spherical = True                 # centroids on the unit sphere, like the vectors
    index.cp.niter = ivf["iterations"]
    index.cp.seed = seed
    index.cp.max_points_per_centroid = max(ivf["train_per_list"], 1)   # no second subsample
    index.cp.min_points_per_centroid = 1
    index.train(normalise(vectors[rows]))
    _add(index, vectors)
    index.make_direct_map()                   # reconstruct(row) for queries by id
    index.nprobe = min(ivf["nprobe"], nlist)
    return index


class VideoIndex:
    """A FAISS index of video vectors with the id and split of every row."""

    def __init__(self, index: faiss.Index, video_ids: np.ndarray, splits: np.ndarray,
                 meta: dict, source: str = "the index", order: np.ndarray | None = None):
        if index.ntotal != len(video_ids) or len(video_ids) != len(splits):
            raise VideoIndexError(f"{source}: {index.ntotal} vectors for {len(video_ids)} video "
                                  f"ids and {len(splits)} splits")
        self.index, self.video_ids, self.splits = index, np.asarray(video_ids), np.asarray(splits)
        self.meta, self.source = meta, source
        # rows in order of video id: an id is found by binary search
        self.order = np.argsort(self.video_ids, kind="stable") if order is None else order
        self._masks: dict[frozenset, np.ndarray] = {}

    @property
    def dim(self) -> int:
        return self.index.d

    def __len__(self) -> int:
        return self.index.ntotal

    def row_of(self, video_id: str) -> int:
        at = int(np.searchsorted(self.video_ids, video_id, sorter=self.order))
        if at < len(self) and self.video_ids[self.order[at]] == video_id:
            return int(self.order[at])
        examples = ", ".join(map(str, self.video_ids[:3]))
        raise VideoIndexError(f"unknown video id {video_id!r}: not among the {len(self)} "
                              f"videos of {self.source} (e.g. {examples})")

    def vector(self, video_id: str) -> np.ndarray:
        """The stored (L2-normalised) vector of a catalogue video, float32 [dim]."""
        return self.index.reconstruct(self.row_of(video_id))

    def _selector_bits(self, splits) -> np.ndarray | None:
        """Bitmap of the rows in `splits` (bit r of byte r // 8, as IDSelectorBitmap reads)."""
        if not splits:
            return None
        key = frozenset(splits)
        unknown = key - set(SPLITS)
        if unknown:
            raise VideoIndexError(f"unknown split {sorted(unknown)}; known: {', '.join(SPLITS)}")
        if key not in self._masks:
            self._masks[key] = np.packbits(np.isin(self.splits, list(key)), bitorder="little")
        return self._masks[key]

    def search(self, queries: np.ndarray, k: int, splits=None, exclude=None
               ) -> tuple[np.ndarray, np.ndarray]:
        """The k nearest rows of each query row (any scale; normalised here) among the rows of
        `splits` (default all), leaving out exclude[i] (a row, or -1) for query i.
        Returns (rows int64 [m, k], similarity float32 [m, k]), best first; -1 / nan where
        fewer than k rows qualify."""
        queries = np.atleast_2d(np.asarray(queries, dtype=np.float32))
        if queries.shape[1] != self.dim:
            raise VideoIndexError(f"query vectors have dimension {queries.shape[1]}, {self.source} "
                                  f"holds {self.meta.get('representation', '')} vectors of "
                                  f"dimension {self.dim}")
        if k < 1:
            raise VideoIndexError(f"k must be >= 1, got {k}")
        bits = self._selector_bits(splits)
        selector = None if bits is None else faiss.IDSelectorBitmap(len(self), faiss.swig_ptr(bits))
        params = (faiss.SearchParametersIVF(sel=selector, nprobe=self.index.nprobe)
                  if isinstance(self.index, faiss.IndexIVF) else faiss.SearchParameters(sel=selector))
        extra = 0 if exclude is None else 1
        sim, rows = self.index.search(normalise(queries), k + extra, params=params)
        if exclude is not None:         # drop the excluded row where found, else the last
            keep = rows != np.asarray(exclude, dtype=np.int64).reshape(-1, 1)
            order = np.argsort(~keep, axis=1, kind="stable")[:, :k]
            rows, sim = np.take_along_axis(rows, order, 1), np.take_along_axis(sim, order, 1)
        sim[rows < 0] = np.nan
        return rows, sim

    def _found(self, rows: np.ndarray, sim: np.ndarray) -> Neighbours:
        valid = rows >= 0
        rows, sim = rows[valid], sim[valid]
        return Neighbours(rows, self.video_ids[rows], self.splits[rows], sim)

    def neighbours(self, video_id: str, k: int, splits=None) -> Neighbours:
        """The k nearest videos to a catalogue video, itself left out."""
        row = self.row_of(video_id)
        rows, sim = self.search(self.index.reconstruct(row)[None], k, splits, exclude=[row])
        return self._found(rows[0], sim[0])

    def nearest(self, vector: np.ndarray, k: int, splits=None) -> Neighbours:
        """The k nearest videos to a video vector [dim] (e.g. a new file's)."""
        vector = np.asarray(vector, dtype=np.float32)
        if vector.ndim != 1:
            raise VideoIndexError(f"expected one video vector [dim], got shape {vector.shape}")
        rows, sim = self.search(vector[None], k, splits)
        return self._found(rows[0], sim[0])


def build(vectors: np.ndarray, video_ids, splits, settings: dict, seed: int,
          representation: str, info: dict | None = None) -> VideoIndex:
    """The index of `vectors` [n, dim] (row r: video_ids[r], splits[r]), of the kind
    choose_kind picks; settings: params["index"]; info: recorded in meta.json."""
    check_settings(settings)
    video_ids, splits = np.asarray(video_ids, dtype=str), np.asarray(splits, dtype=str)
    if vectors.ndim != 2 or len(vectors) == 0:
        raise VideoIndexError(f"{representation}: expected video vectors [n >= 1, dim], got shape "
                              f"{vectors.shape}")
    n, dim = vectors.shape
    if len(video_ids) != n or len(splits) != n:
        raise VideoIndexError(f"{representation}: {n} vectors, {len(video_ids)} video ids, "
                              f"{len(splits)} splits")
    if len(np.unique(video_ids)) != n:
        raise VideoIndexError(f"{representation}: video ids are not unique")
    bad = sorted(set(splits.tolist()) - set(SPLITS))
    if bad:
        raise VideoIndexError(f"{representation}: unknown split {bad}; known: {', '.join(SPLITS)}")
    finite = np.array([np.isfinite(vectors[s:s + ADD_ROWS]).all() for s in range(0, n, ADD_ROWS)])
    if not finite.all():
        raise VideoIndexError(f"{representation}: video vectors hold NaN or infinite values")
    kind = choose_kind(n, dim, settings)
    if kind == EXACT:
        index = faiss.IndexFlatIP(dim)
        _add(index, vectors)
        shape = {}
    else:
        index = _ivf(vectors, settings, seed)
        shape = {"nlist": index.nlist, "nprobe": index.nprobe,
                 "train_rows": min(n, settings["ivf"]["train_per_list"] * index.nlist)}
    meta = {"representation": representation, "kind": kind, "dim": dim, "videos": n, **shape,
            "metric": "cosine", "seed": seed, "faiss": faiss.__version__, **(info or {})}
    return VideoIndex(index, video_ids, splits, meta, f"the {representation} index")


def _replace(path: Path, write) -> None:
    """write(tmp) then rename onto path: a crash never leaves a half-written file there."""
    tmp = path.with_name(path.name + ".tmp")
    write(tmp)
    os.replace(tmp, path)


def save(index: VideoIndex, directory: str | Path) -> None:
    """The files of the module docstring in `directory` (created), each replaced whole."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    table = np.empty(len(index), dtype=[("video_id", index.video_ids.dtype), ("split", "U5"),
                                        ("order", np.int64)])
    table["video_id"], table["split"], table["order"] = index.video_ids, index.splits, index.order
    _replace(directory / INDEX_FILE, lambda p: faiss.write_index(index.index, str(p)))
    _replace(directory / VIDEOS_FILE, lambda p: _write_npy(p, table))
    _replace(directory / META_FILE, lambda p: p.write_text(json.dumps(index.meta, indent=1) + "\n"))


def _write_npy(path: Path, table: np.ndarray) -> None:
    with open(path, "wb") as f:        # np.save to a name would append ".npy"
        np.save(f, table, allow_pickle=False)


def load(directory: str | Path) -> VideoIndex:
    """The index saved in `directory`, memory-mapped; VideoIndexError when a file is missing or
    the files disagree."""
    directory = Path(directory)
    for name in (INDEX_FILE, VIDEOS_FILE, META_FILE):
        if not (directory / name).exists():
            raise VideoIndexError(f"{directory / name} not found: build the index first "
                                  "(`dvc repro index`)")
    meta = json.loads((directory / META_FILE).read_text())
    table = np.load(directory / VIDEOS_FILE, allow_pickle=False)
    if table.dtype.names != ("video_id", "split", "order"):
        raise VideoIndexError(f"{directory / VIDEOS_FILE}: expected the fields video_id, split, "
                              f"order, found {table.dtype.names}; rebuild the index")
    try:
        index = faiss.read_index(str(directory / INDEX_FILE), faiss.IO_FLAG_MMAP_IFC)
    except RuntimeError as e:
        raise VideoIndexError(f"{directory / INDEX_FILE}: not a readable FAISS index ({e})") from e
    if index.d != meta.get("dim"):
        raise VideoIndexError(f"{directory / INDEX_FILE} holds vectors of dimension {index.d}, "
                              f"{directory / META_FILE} says {meta.get('dim')}")
    return VideoIndex(index, table["video_id"], table["split"], meta, str(directory), table["order"])
