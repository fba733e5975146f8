"""Where fitting reads its (audio, video) pairs: one split of the paired stores, block by block
(`StoreSplit`), or arrays in memory (`Pairs`). Both offer the same blocks interface: `blocks`
(block ids), `videos(blocks)` (a video code per row, without reading features) and
`read(blocks)` (a `Window`: the split's rows of those blocks in store order), so fitting never
holds more than one window of rows (mvclr.contrastive.batching.epoch_windows).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from mvclr.contrastive.heads import mean_std
from mvclr.evaluation.similarity import group_codes
from mvclr.features.paired import PairedStores


@dataclass
class Window:
    audio: np.ndarray | None     # [rows, audio dim] (None when not asked for)
    video: np.ndarray | None     # [rows, video dim]
    videos: np.ndarray           # int [rows]: equal codes = segments of one video; codes sort as
                                 # the video ids do


class StoreSplit:
    """The segments of one split of the paired stores; a block is a block of the stores."""

    def __init__(self, stores: PairedStores, split: str):
        self.stores, self.split = stores, split
        layout = stores.layout
        self.video_index = layout.videos_of(split)
        per_block = layout.rows_per_block(self.video_index, stores.block_rows)
        self.blocks = np.flatnonzero(per_block)
        self.sizes = per_block[self.blocks]
        self.n_rows, self.n_videos = int(per_block.sum()), len(self.video_index)
        self.block_rows = stores.block_rows
        self.dims = stores.dims

    def _rows(self, b: int) -> tuple[slice, np.ndarray]:
        rows = self.stores.block(int(b))
        return rows, self.stores.layout.split_rows(rows, self.split)

    def videos(self, blocks) -> np.ndarray:
        parts = []
        for b in blocks:
            rows, mask = self._rows(b)
            layout = self.stores.layout
            parts.append(layout.codes[layout.video_of(np.arange(rows.start, rows.stop))[mask]])
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)

    def read(self, blocks, audio: bool = True, video: bool = True) -> Window:
        total = int(self.sizes[np.searchsorted(self.blocks, blocks)].sum())
        out = [np.empty((total, d), dtype=np.float32) if wanted else None
               for d, wanted in zip(self.dims, (audio, video))]
        at = 0
        for b in blocks:
            rows, mask = self._rows(b)
            k = int(mask.sum())
            for target, x in zip(out, self.stores.read(rows, audio, video)):
                if target is not None:
                    target[at:at + k] = x[mask]
            at += k
        return Window(out[0], out[1], self.videos(blocks))


@dataclass
class Pairs:
    """Backbone vectors in memory: row i of audio and video is segment i of video_ids[i];
    blocks of `block_rows` rows (default: one block of all)."""
    audio: np.ndarray
    video: np.ndarray
    video_ids: np.ndarray
    block_rows: int | None = None
    codes: np.ndarray = field(init=False, repr=False)

    def __post_init__(self):
        if not len(self.audio) == len(self.video) == len(self.video_ids):
            raise ValueError(f"audio, video and video ids differ in length: "
                             f"{len(self.audio)}, {len(self.video)}, {len(self.video_ids)}")
        self.block_rows = self.block_rows or max(len(self.audio), 1)
        self.codes = group_codes(self.video_ids)
        self.blocks = np.arange(-(-len(self.audio) // self.block_rows))
        self.n_rows, self.n_videos = len(self.audio), len(np.unique(self.codes))
        self.dims = self.audio.shape[1], self.video.shape[1]

    def _rows(self, blocks) -> np.ndarray:
        return np.concatenate([np.arange(b * self.block_rows, min((b + 1) * self.block_rows, self.n_rows))
                               for b in blocks]) if len(blocks) else np.zeros(0, dtype=np.int64)

    def videos(self, blocks) -> np.ndarray:
        return self.codes[self._rows(blocks)]

    def read(self, blocks, audio: bool = True, video: bool = True) -> Window:
        rows = self._rows(blocks)
        return Window(self.audio[rows] if audio else None, self.video[rows] if video else None,
                      self.codes[rows])


def standardisation(source) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """(mean, std) of the audio and of the video vectors of a source, one pass over its blocks."""
    return tuple(mean_std(getattr(source.read([b], audio=m == "audio", video=m == "video"), m)
                          for b in source.blocks) for m in ("audio", "video"))
