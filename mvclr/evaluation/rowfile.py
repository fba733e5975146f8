"""Per-segment vectors kept on disk instead of in memory (one split's embeddings, the test rows
of the frozen features): a float32 .npy file [n, dim], appended block by block in row order and
read back like an array (`x[a:b]`, `x[rows]`, `len(x)`, `x.shape`; `x[a:b] = values` for the
next rows), so the functions that take arrays and use them by blocks take a RowFile too.

Every access maps the file only for its duration: the process then holds what it read, never
the file (a long-lived map keeps every page it touched resident).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np


class RowFile:
    def __init__(self, path: str | Path, rows: int):
        self.path, self.rows, self.written, self.dim = Path(path), rows, 0, None

    @property
    def shape(self) -> tuple[int, int]:
        return self.rows, self.dim

    ndim = 2

    def __len__(self) -> int:
        return self.rows

    def append(self, values: np.ndarray) -> None:
        """Write the next rows; the file is created at the first call with their width."""
        values = np.asarray(values, dtype=np.float32)
        if self.dim is None:
            self.dim = values.shape[1]
            np.lib.format.open_memmap(self.path, mode="w+", dtype=np.float32,
                                      shape=(self.rows, self.dim))
        if self.written + len(values) > self.rows:
            raise ValueError(f"{self.path}: {self.written + len(values)} rows for a file of {self.rows}")
        target = np.load(self.path, mmap_mode="r+")
        target[self.written:self.written + len(values)] = values
        target.flush()
        del target
        self.written += len(values)

    def __setitem__(self, rows: slice, values: np.ndarray) -> None:
        """Write rows a:b; they must be the next rows (a == rows written so far)."""
        if rows.start != self.written:
            raise ValueError(f"{self.path}: rows are written in order; next is {self.written}, "
                             f"got {rows.start}")
        self.append(values)

    def __getitem__(self, rows) -> np.ndarray:
        """A copy of the rows selected by a slice or an index array."""
        if self.written < self.rows:
            raise ValueError(f"{self.path}: only {self.written} of {self.rows} rows written")
        return np.array(np.load(self.path, mmap_mode="r")[rows])
