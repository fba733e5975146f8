"""Where the torch backbones run, shared by both so that one process (one CUDA context) can
hold them: the device, a batch size chosen for it, and reusable pinned host buffers through
which the reader thread hands batches to the device without waiting on it.

On a GPU the reader thread (mvclr.features.filling) reads and decodes the next batch into a
pinned buffer while the device computes the current one; the compute thread copies it to the
device asynchronously. A buffer is reused only once the copy out of it has completed (a CUDA
event), and there are enough of them for every batch that can be in flight.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from mvclr.features.filling import AHEAD

# batches alive at once: AHEAD queued, one being prepared, one being computed
SLOTS = AHEAD + 2


def torch_device(name: str | None = None) -> torch.device:
    """`name`, or the first GPU when there is one, else the CPU."""
    return torch.device(name or ("cuda" if torch.cuda.is_available() else "cpu"))


def batch_for_memory(free_bytes: int, row_bytes: float, cap: int) -> int:
    """The largest power of two <= `cap` whose rows take at most half of `free_bytes`."""
    rows = max(1, int(free_bytes / 2 // max(row_bytes, 1.0)))
    return min(cap, 1 << (rows.bit_length() - 1))


def cuda_batch_size(run: Callable[[int], object], device: torch.device, cap: int,
                    probe: int = 4) -> int:
    """Batch size for a CUDA device: the peak memory of `run(probe)` (a forward pass on
    `probe` rows) per row, against the device's free memory (`batch_for_memory`)."""
    torch.cuda.synchronize(device)
    base = torch.cuda.memory_allocated(device)
    torch.cuda.reset_peak_memory_stats(device)
    run(probe)
    torch.cuda.synchronize(device)
    row_bytes = (torch.cuda.max_memory_allocated(device) - base) / probe
    torch.cuda.empty_cache()
    free, _ = torch.cuda.mem_get_info(device)
    return batch_for_memory(free, row_bytes, cap)


class PinnedStaging:
    """Reusable pinned host buffers for one kind of batch (CUDA devices only)."""

    def __init__(self, device: torch.device):
        self.device = device
        self.buffers: list[torch.Tensor | None] = [None] * SLOTS
        self.copied: list[torch.cuda.Event | None] = [None] * SLOTS
        self.next = 0

    def stage(self, array: np.ndarray) -> tuple[int, torch.Tensor]:
        """Reader thread: `array` copied into the next free pinned buffer."""
        slot, self.next = self.next, (self.next + 1) % SLOTS
        if self.copied[slot] is not None:
            self.copied[slot].synchronize()          # its previous batch has left
        array = np.ascontiguousarray(array)
        buffer = self.buffers[slot]
        dtype = torch.from_numpy(array[:0]).dtype
        if buffer is None or buffer.dtype != dtype or buffer.numel() < array.size:
            buffer = self.buffers[slot] = torch.empty(array.size, dtype=dtype).pin_memory()
        view = buffer[:array.size].view(array.shape)
        view.copy_(torch.from_numpy(array))
        return slot, view

    def to_device(self, staged: tuple[int, torch.Tensor]) -> torch.Tensor:
        """Compute thread: the staged batch on the device (asynchronous copy)."""
        slot, view = staged
        out = view.to(self.device, non_blocking=True)
        event = torch.cuda.Event()
        event.record()
        self.copied[slot] = event
        return out
