"""Fitting the projection heads on cached backbone vectors.

`fit`: Adam, exponential learning-rate decay per epoch, batches from mvclr.contrastive.batching (no
two segments of one video together; single-segment batches, which only occur when one video holds
more than half of a window, are skipped: they have no negative). The training rows are read by
windows of `shuffle_rows` rows' worth of blocks in random order (mvclr.contrastive.sources; None:
one window of everything), so memory holds one window whatever the catalogue. After every epoch
the validation loss (fixed validation batches drawn within store-order windows, eval mode) and the
validation median rank (mean of a->v and v->a, mvclr.evaluation.retrieval.median_rank, over chunks
of `rank_pool` validation segments as in the paper's Table 1, or over the whole split when None),
from the validation embeddings kept on disk (mvclr.evaluation.rowfile). Training stops when the
validation loss has not improved for `patience` epochs; the weights (and tau) of the best epoch
are restored. Losses depend on the batch size (2 log(B - 1) or 2 log B at chance), so the history
also holds each divided by its chance value at its batch size (`*_loss_vs_chance`: 1 = chance),
which makes the training and validation curves comparable.
"""
from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from tqdm import tqdm

from mvclr.contrastive import heads
from mvclr.contrastive.batching import epoch_batches, epoch_windows, store_windows, window_blocks
from mvclr.contrastive.early_stopping import EarlyStopping
from mvclr.contrastive.losses import chance_loss, contrastive_loss
from mvclr.evaluation.retrieval import median_rank
from mvclr.evaluation.rowfile import RowFile

HISTORY_COLUMNS = ("epoch", "train_loss", "val_loss", "train_loss_vs_chance",
                   "val_loss_vs_chance", "val_median_rank", "lr", "tau")
BLOCK_STREAM = 1            # the block order's random stream: np.random.default_rng([seed, 1])


@dataclass
class FitResult:
    history: list[dict] = field(default_factory=list)   # one row per epoch, HISTORY_COLUMNS
    best_epoch: int = 0
    best_val_loss: float = math.inf


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def to_tensor(x: np.ndarray, device: torch.device) -> torch.Tensor:
    return torch.as_tensor(np.ascontiguousarray(x, dtype=np.float32), device=device)


def _usable(batches: list[np.ndarray]) -> list[np.ndarray]:
    return [b for b in batches if len(b) >= 2]


class LossMeans(NamedTuple):
    loss: float            # mean over the batches
    vs_chance: float       # mean over the batches of loss / its chance value at that batch size


def loss_means(losses: list[float], batches: list[np.ndarray], loss: str) -> LossMeans:
    chance = [chance_loss(loss, len(b)) for b in batches]
    return LossMeans(float(np.mean(losses)), float(np.mean(np.divide(losses, chance))))


@torch.no_grad()
def validate(model: heads.ProjectionModel, loss: str, val, windows: list[np.ndarray],
             batches: list[list[np.ndarray]], directory: Path) -> tuple[LossMeans, RowFile, RowFile]:
    """Mean loss over the fixed validation `batches` of each window (eval mode), and the
    validation embeddings (za, zv) as RowFiles in `directory`."""
    za_file, zv_file = RowFile(directory / "za.npy", val.n_rows), RowFile(directory / "zv.npy", val.n_rows)
    loss_fn, losses = contrastive_loss(loss), []
    for blocks, window_batches in zip(windows, batches):
        window = val.read(blocks)
        za, zv = heads.embed(model, window.audio, window.video)
        ta, tv, tau = torch.from_numpy(za), torch.from_numpy(zv), model.tau.cpu()
        losses += [float(loss_fn(ta[idx], tv[idx], tau)) for idx in map(torch.as_tensor, window_batches)]
        za_file.append(za)
        zv_file.append(zv)
        del window
    return loss_means(losses, [b for w in batches for b in w], loss), za_file, zv_file


def train_epoch(model: heads.ProjectionModel, optimiser: torch.optim.Optimizer, loss: str,
                audio: torch.Tensor, video: torch.Tensor, batches: list[np.ndarray]) -> list[float]:
    """One optimiser step per batch (train mode, tau clamped after each); the batches' losses."""
    model.train()
    loss_fn, losses = contrastive_loss(loss), []
    for idx in batches:
        idx = torch.as_tensor(idx, device=audio.device)
        value = loss_fn(*model(audio[idx], video[idx]), model.tau)
        optimiser.zero_grad(set_to_none=True)
        value.backward()
        optimiser.step()
        model.clamp_tau_()
        losses.append(value.detach())
    return torch.stack(losses).tolist() if losses else []


def fit(model: heads.ProjectionModel, train, val, *, loss: str, batch_size: int, lr: float,
        lr_gamma: float, patience: int, max_epochs: int, seed: int, rank_pool: int | None = None,
        shuffle_rows: int | None = None, device: torch.device | None = None,
        progress: bool = True) -> FitResult:
    """Train `model` in place (best epoch's weights restored, left in eval mode) on the sources
    `train` and `val` (mvclr.contrastive.sources) and return the curves."""
    device = device or default_device()
    contrastive_loss(loss)                     # an unknown loss fails before any work
    for name, source in (("training", train), ("validation", val)):
        if source.n_videos < 2 or batch_size < 2:     # else some batch holds two segments
            raise ValueError(f"the {name} split ({source.n_rows} segments of {source.n_videos} "
                             f"videos) with batch_size {batch_size} gives no batch of two "
                             "segments of different videos: nothing to contrast")
    per_window = window_blocks(shuffle_rows, train.block_rows, len(train.blocks))
    val_windows = store_windows(val.blocks, window_blocks(shuffle_rows, val.block_rows, len(val.blocks)))
    val_rng = np.random.default_rng(seed)
    val_batches = [_usable(epoch_batches(val.videos(w), batch_size, val_rng)) for w in val_windows]
    val_videos = val.videos(val.blocks)
    torch.manual_seed(seed)
    rng, block_rng = np.random.default_rng(seed), np.random.default_rng([seed, BLOCK_STREAM])
    model.to(device)
    optimiser = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)
    schedule = torch.optim.lr_scheduler.ExponentialLR(optimiser, gamma=lr_gamma)

    result, stopping = FitResult(), EarlyStopping(patience)
    epochs = tqdm(range(1, max_epochs + 1), desc="train", unit="epoch", disable=not progress)
    with tempfile.TemporaryDirectory(prefix="mvclr-val-") as tmp:
        for epoch in epochs:
            epoch_lr = optimiser.param_groups[0]["lr"]
            losses, batches = [], []
            for blocks in epoch_windows(train.blocks, per_window, block_rng):
                window = train.read(blocks)
                window_batches = _usable(epoch_batches(window.videos, batch_size, rng))
                losses += train_epoch(model, optimiser, loss, to_tensor(window.audio, device),
                                      to_tensor(window.video, device), window_batches)
                batches += window_batches
                del window                  # before the next window is read: one at a time
            train_loss = loss_means(losses, batches, loss)
            schedule.step()
            if not math.isfinite(train_loss.loss):
                raise FloatingPointError(f"training loss became {train_loss.loss} in epoch {epoch}")
            val_loss, za, zv = validate(model, loss, val, val_windows, val_batches, Path(tmp))
            result.history.append(dict(
                epoch=epoch, train_loss=train_loss.loss, val_loss=val_loss.loss,
                train_loss_vs_chance=train_loss.vs_chance, val_loss_vs_chance=val_loss.vs_chance,
                val_median_rank=median_rank(za, zv, rank_pool, val_videos, seed), lr=epoch_lr,
                tau=model.tau.item()))
            epochs.set_postfix(train=f"{train_loss.vs_chance:.3f}", val=f"{val_loss.vs_chance:.3f}")
            if stopping.update(epoch, val_loss.loss, model):
                break
    stopping.restore(model)
    result.best_epoch, result.best_val_loss = stopping.best_epoch, stopping.best
    model.eval()
    return result
