"""The block-filling loop, callable per block by any worker that holds a backbone: rows are read
and prepared in a background thread, one batch ahead of the backbone's forward pass (so the
device never waits on the segment store); each block is written, then marked done with the
digest of its inputs, once all its rows are computed (the rows a run copied by content,
mvclr.features.reuse, are already in place)."""
from __future__ import annotations

import queue
import threading
from typing import Callable, Mapping

import numpy as np

from mvclr.features.store import FeatureStore, Task

AHEAD = 2          # batches read and prepared ahead of the forward pass


def runs(rows: np.ndarray) -> list[slice]:
    """Increasing row indices as maximal runs of consecutive rows."""
    if not len(rows):
        return []
    cut = np.flatnonzero(np.diff(rows) != 1) + 1
    return [slice(int(r[0]), int(r[-1]) + 1) for r in np.split(rows, cut)]


def fill(store: FeatureStore, blocks: Mapping[int, Task],
         read: Callable[[slice], np.ndarray], prepare: Callable[[np.ndarray], object],
         forward: Callable[[object], np.ndarray], batch_size: int, progress=None) -> int:
    """Compute the rows `blocks` ({block: Task}, as `mvclr.features.embedding.plan` gives
    them) leave to compute: rows are read (a slice of consecutive rows at a time) and prepared
    in a background thread, one batch ahead of `forward`; each block is written, then marked
    with its digest, once all its rows are computed. `progress`, if given, is a tqdm bar
    advanced by segments. Returns the segments computed."""
    batches = [(b, slice(start, min(start + batch_size, run.stop)))
               for b, task in blocks.items() for run in runs(task.compute)
               for start in range(run.start, run.stop, batch_size)]
    last = {b: i for i, (b, _) in enumerate(batches)}
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
        for i in range(len(batches)):
            b, rows, batch = ready.get()
            if b is None:
                raise batch
            parts.append(forward(batch))
            if last[b] == i:
                task, values = blocks[b], np.concatenate(parts)
                if len(task.compute) == store.block(b).stop - store.block(b).start:
                    store.write(b, values, task.digest, task.rows)
                else:
                    store.write_rows(task.compute, values)
                    store.seal(b, task)
                parts = []
            computed += rows.stop - rows.start
            if progress is not None:
                progress.update(rows.stop - rows.start)
    finally:
        stop.set()
        worker.join()
    return computed
