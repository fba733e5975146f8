"""The block-filling loop, callable per block by any worker that holds a backbone: rows are read
and prepared in a background thread, one batch ahead of the backbone's forward pass (so the
device never waits on the segment store); each block is written, then marked done with the
digest of its inputs, once all its rows are computed."""
from __future__ import annotations

import queue
import threading
from typing import Callable, Mapping

import numpy as np

from mvclr.features.store import FeatureStore

AHEAD = 2          # batches read and prepared ahead of the forward pass


def fill(store: FeatureStore, blocks: Mapping[int, np.ndarray],
         read: Callable[[slice], np.ndarray], prepare: Callable[[np.ndarray], object],
         forward: Callable[[object], np.ndarray], batch_size: int, progress=None) -> int:
    """Compute `blocks` of `store` ({block: digest of its inputs}, as `store.missing` gives
    them): rows are read and prepared in a background thread, one batch ahead of `forward`;
    each block is written, then marked with its digest, once all its rows are computed.
    `progress`, if given, is a tqdm bar advanced by segments. Returns the segments computed."""
    batches = [(b, slice(start, min(start + batch_size, store.block(b).stop)))
               for b in blocks
               for start in range(store.block(b).start, store.block(b).stop, batch_size)]
    ready: queue.Queue = queue.Queue(maxsize=AHEAD)
    stop = threading.Event()

    def offer(item) -> None:
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.1)
                return
            except queue.Full:
                pass

    def produce() -> None:
        try:
            for b, rows in batches:
                offer((b, rows, prepare(read(rows))))
        except BaseException as error:          # raised in the consumer
            offer((None, None, error))

    worker = threading.Thread(target=produce, daemon=True)
    worker.start()
    computed = 0
    parts: list[np.ndarray] = []
    try:
        for _ in batches:
            b, rows, batch = ready.get()
            if b is None:
                raise batch
            parts.append(forward(batch))
            if rows.stop == store.block(b).stop:
                store.write(b, np.concatenate(parts), blocks[b])
                parts = []
            computed += rows.stop - rows.start
            if progress is not None:
                progress.update(rows.stop - rows.start)
    finally:
        stop.set()
        worker.join()
    return computed
