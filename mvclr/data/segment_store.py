"""The HDF5 segment store (`data/segments.h5`): one row per decoded segment, holding exactly what
the backbones read of it (mvclr.data.layout), losslessly compressed.

Datasets (row i = segment i, videos in index order, segments in time order):
  audio          float32 [n, audio_samples]   mono, the analysis window
                 (Blosc2: Zstandard with byte shuffle, one chunk per row)
  frames         uint8   [n, window_frames, height, width, 3]  RGB (Zstandard, one chunk per row)
  video_id       utf-8 str [n]
  segment_index  int32   [n]   position of the segment within its video
  start_seconds  float64 [n]   start of the segment in the source video
  digest         uint8   [n, 16]  BLAKE2b-128 of the row's audio and frames bytes (`row_digest`):
                 what a feature store checks to know which of its blocks' inputs changed
Attributes: the Layout's fields (segment_seconds, window_seconds, sample_rate, frames,
window_frames, height, width) and seed; frame j of a row shows time
start_seconds + Layout.frame_offsets()[j].

Written as shards: each unit of work writes one complete store of its own rows (a shard, with
the unit's key and failures as attributes) into data/segments/; `assemble` then writes
data/segments.h5, which presents the shards as one table in index order: audio and frames are
HDF5 virtual datasets mapping row ranges to the shards (relative paths: the folder can move),
the small columns are copied. The compression filters come from hdf5plugin, imported here:
read the store through this module (or import hdf5plugin) so HDF5 finds them.
"""
from __future__ import annotations

import hashlib
import json
import os
import resource
import uuid
from dataclasses import dataclass
from pathlib import Path

import h5py
import hdf5plugin
import numpy as np

from mvclr.data.layout import Layout

STR = h5py.string_dtype("utf-8")
META = ("video_id", "segment_index", "start_seconds", "digest")
MEDIA = ("audio", "frames")
DIGEST_BYTES = 16
AUDIO_FILTER = hdf5plugin.Blosc2(cname="zstd", clevel=5, filters=hdf5plugin.Blosc2.SHUFFLE)
FRAMES_FILTER = hdf5plugin.Zstd(clevel=3)


def row_digest(audio: np.ndarray, frames: np.ndarray) -> np.ndarray:
    """BLAKE2b-128 of one segment's stored audio (float32) and frames (uint8), uint8 [16]."""
    h = hashlib.blake2b(digest_size=DIGEST_BYTES)
    h.update(np.ascontiguousarray(audio, dtype=np.float32).tobytes())
    h.update(np.ascontiguousarray(frames, dtype=np.uint8).tobytes())
    return np.frombuffer(h.digest(), dtype=np.uint8)


@dataclass
class SegmentMeta:
    video_id: np.ndarray       # str [n]
    segment_index: np.ndarray  # int [n]
    start_seconds: np.ndarray  # float [n]
    split: np.ndarray | None   # str [n]: filled from data/split.csv (mvclr.features.paired)
    attrs: dict

    def __len__(self) -> int:
        return len(self.video_id)


def read_meta(path: str | Path) -> SegmentMeta:
    """Everything but the audio and frames: small enough to hold for any data set. `split` is
    None: the split is its own stage's output (mvclr.data.split.split_of)."""
    with h5py.File(path, "r") as f:
        return SegmentMeta(video_id=f["video_id"].asstr()[:], segment_index=f["segment_index"][:],
                           start_seconds=f["start_seconds"][:], split=None, attrs=dict(f.attrs))


def read_rows(path: str | Path, first: int, n: int) -> tuple[np.ndarray, np.ndarray, dict]:
    """Audio, frames and the META columns of rows first .. first+n of one shard."""
    with h5py.File(path, "r") as f:
        rows = slice(first, first + n)
        meta = {name: f[name][rows] for name in META}
        meta["video_id"] = f["video_id"].asstr()[rows]
        return f["audio"][rows], f["frames"][rows], meta


def shard_videos(path: str | Path) -> dict[str, tuple[int, int]]:
    """{video_key: (first row, rows)} of the videos a complete shard holds (its `videos`
    attribute pairs each key with an id; failed videos hold no rows)."""
    with h5py.File(path, "r") as f:
        if not f.attrs.get("complete") or "videos" not in f.attrs:
            return {}
        keys = {vid: key for key, vid in json.loads(f.attrs["videos"])}
        ids = f["video_id"].asstr()[:]
    out, first = {}, 0
    for i in range(1, len(ids) + 1):
        if i == len(ids) or ids[i] != ids[first]:
            if ids[first] in keys:
                out[keys[ids[first]]] = (first, i - first)
            first = i
    return out


class ShardWriter:
    """Appends the segments of one video after another to a new shard file."""

    def __init__(self, path: str | Path, layout: Layout, **attrs):
        self.path, self.layout = Path(path), layout
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.file = f = h5py.File(self.path, "w")
        samples, frame_shape = layout.audio_samples, (layout.window_frames, layout.height, layout.width, 3)
        f.create_dataset("audio", (0, samples), np.float32, maxshape=(None, samples),
                         chunks=(1, samples), **AUDIO_FILTER)
        f.create_dataset("frames", (0, *frame_shape), np.uint8, maxshape=(None, *frame_shape),
                         chunks=(1, *frame_shape), **FRAMES_FILTER)
        for name, dtype in (("video_id", STR), ("segment_index", np.int32), ("start_seconds", np.float64)):
            f.create_dataset(name, (0,), dtype, maxshape=(None,), chunks=(4096,))
        f.create_dataset("digest", (0, DIGEST_BYTES), np.uint8, maxshape=(None, DIGEST_BYTES),
                         chunks=(4096, DIGEST_BYTES))
        f.attrs.update(layout.attrs(), **attrs)
        self.n = 0

    def append(self, audio: np.ndarray, frames: np.ndarray, video_id: str,
               start_seconds, segment_index=None) -> None:
        """The k segments of one video: audio [k, audio_samples], frames [k, window_frames, H, W, 3]."""
        k = len(audio)
        want_a = (k, self.layout.audio_samples)
        want_f = (k, self.layout.window_frames, self.layout.height, self.layout.width, 3)
        if audio.shape != want_a or frames.shape != want_f:
            raise ValueError(f"{self.path}: segments of {video_id} have audio {audio.shape} and "
                             f"frames {frames.shape}; the layout wants {want_a} and {want_f}")
        f, rows = self.file, slice(self.n, self.n + k)
        for name in (*MEDIA, *META):
            f[name].resize(self.n + k, axis=0)
        f["audio"][rows] = audio
        f["frames"][rows] = frames
        f["video_id"][rows] = [video_id] * k
        f["segment_index"][rows] = np.arange(k) if segment_index is None else segment_index
        f["start_seconds"][rows] = start_seconds
        f["digest"][rows] = np.stack([row_digest(a, x) for a, x in zip(audio, frames)])
        self.n += k

    def close(self, **attrs) -> None:
        """Record `attrs`, then flush and sync the file to disk before closing it."""
        self.file.attrs.update(attrs)
        self.file.flush()
        os.fsync(self.file.id.get_vfd_handle())
        self.file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.file.id.valid:
            self.file.close()


def assemble(store: str | Path, shards: list[Path], attrs: dict) -> int:
    """Write `store` presenting the rows of `shards` (in this order) as one table; returns the
    number of rows. Written to a temporary name, then renamed."""
    store = Path(store)
    parts, meta = [], {name: [] for name in META}
    for shard in shards:
        with h5py.File(shard, "r") as f:
            n = len(f["video_id"])
            if n:
                parts.append((os.path.relpath(shard, store.parent), n, f["audio"].shape[1:],
                              f["frames"].shape[1:]))
                for name in META:
                    meta[name].append(f[name][:])
    total = sum(p[1] for p in parts)
    tmp = store.with_name(f"{store.name}.{uuid.uuid4().hex}.tmp")
    layout = Layout.from_attrs(attrs)
    shapes = {"audio": ((layout.audio_samples,), np.float32),
              "frames": ((layout.window_frames, layout.height, layout.width, 3), np.uint8)}
    with h5py.File(tmp, "w") as f:
        for i, name in enumerate(MEDIA):
            shape, dtype = shapes[name]
            if not parts:
                f.create_dataset(name, (0, *shape), dtype)
                continue
            virtual = h5py.VirtualLayout((total, *shape), dtype)
            virtual.dcpl.set_obj_track_times(False)   # no creation time: same shards, same bytes
            row = 0
            for source, n, *inner in parts:
                if tuple(inner[i]) != shape:
                    raise ValueError(f"{source}: {name} rows of shape {inner[i]}, the store's "
                                     f"layout wants {shape}")
                virtual[row:row + n] = h5py.VirtualSource(source, name, shape=(n, *shape))
                row += n
            f.create_virtual_dataset(name, virtual)
        for name in META:
            data = np.concatenate(meta[name]) if parts else None
            dtype = {"video_id": STR, "segment_index": np.int32, "start_seconds": np.float64,
                     "digest": np.uint8}[name]
            shape = (total, DIGEST_BYTES) if name == "digest" else (total,)
            f.create_dataset(name, shape, dtype, data=data)
        f.attrs.update(attrs)
    tmp.replace(store)
    return total


def check_shards(f: h5py.File) -> None:
    """Before reading audio or frames of an open store: every shard it maps must exist (HDF5
    reads a missing source as zeros, silently), and the process may keep them all open (HDF5
    does, once read): the soft open-file limit is raised to fit when it is lower."""
    sources = {m.file_name for name in MEDIA if f[name].is_virtual for m in f[name].virtual_sources()}
    folder = Path(f.filename).parent
    missing = sorted(s for s in sources if not (folder / s).is_file())
    if missing:
        raise FileNotFoundError(f"{f.filename}: {len(missing)} of its {len(sources)} shard files are "
                                f"missing, e.g. {folder / missing[0]}; run `dvc repro` (or `dvc pull`)")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = len(sources) + 256
    if soft != resource.RLIM_INFINITY and soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want if hard == resource.RLIM_INFINITY
                                                    else min(want, hard), hard))


class SegmentWriter(ShardWriter):
    """A whole store written directly from segments in memory (tools, tests): one shard,
    <store's folder>/<store's stem>/0.h5, assembled into `path` on close. The window defaults
    to the whole segment and window_frames to `frames`."""

    def __init__(self, path: str | Path, *, sample_rate: int, segment_seconds: float, frames: int,
                 height: int, width: int, window_seconds: float | None = None,
                 window_frames: int | None = None, **attrs):
        self.store = Path(path)
        layout = Layout(segment_seconds, window_seconds or segment_seconds, sample_rate, frames,
                        window_frames or frames, height, width)
        self.store_attrs = {**layout.attrs(), **attrs}
        super().__init__(self.store.with_suffix("") / "0.h5", layout, **attrs)

    def __exit__(self, *exc):
        super().__exit__(*exc)
        if exc[0] is None:
            assemble(self.store, [self.path], self.store_attrs)
