"""Fitting the projection heads on cached backbone vectors.

`fit`: Adam, exponential learning-rate decay per epoch, batches from mvclr.contrastive.batching (no two
segments of one video together; single-segment batches, which only occur when one video holds
more than half of the split, are skipped: they have no negative). After every epoch the
validation loss (fixed validation batches, eval mode) and the validation median rank (mean of
a->v and v->a, mvclr.evaluation.retrieval.median_rank, over chunks of `rank_pool` validation segments as
in the paper's Table 1, or over the whole split when None). Training stops when the validation
loss has not improved for `patience` epochs; the weights (and tau) of the best epoch are
restored. Losses depend on the batch size (2 log(B - 1) or 2 log B at chance), so the history
also holds each divided by its chance value at its batch size (`*_loss_vs_chance`: 1 = chance),
which makes the training and validation curves comparable.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import torch
from tqdm import tqdm

from mvclr.contrastive import heads
from mvclr.contrastive.batching import epoch_batches
from mvclr.contrastive.early_stopping import EarlyStopping
from mvclr.contrastive.losses import chance_loss, contrastive_loss
from mvclr.evaluation.retrieval import median_rank

HISTORY_COLUMNS = ("epoch", "train_loss", "val_loss", "train_loss_vs_chance",
                   "val_loss_vs_chance", "val_median_rank", "lr", "tau")


@dataclass
class Pairs:
    """Backbone vectors of one split: row i of audio and video is segment i of video_ids[i]."""
    audio: np.ndarray
    video: np.ndarray
    video_ids: np.ndarray

    def __post_init__(self):
        if not len(self.audio) == len(self.video) == len(self.video_ids):
            raise ValueError(f"audio, video and video ids differ in length: "
                             f"{len(self.audio)}, {len(self.video)}, {len(self.video_ids)}")


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
def batch_mean_loss(model: heads.ProjectionModel, loss: str, audio: torch.Tensor,
                    video: torch.Tensor, batches: list[np.ndarray]) -> LossMeans:
    """Mean loss over `batches` in eval mode."""
    was_training = model.training
    model.eval()
    loss_fn, losses = contrastive_loss(loss), []
    for idx in batches:
        idx = torch.as_tensor(idx, device=audio.device)
        losses.append(float(loss_fn(*model(audio[idx], video[idx]), model.tau)))
    model.train(was_training)
    return loss_means(losses, batches, loss)


def train_epoch(model: heads.ProjectionModel, optimiser: torch.optim.Optimizer, loss: str,
                audio: torch.Tensor, video: torch.Tensor, batches: list[np.ndarray]) -> LossMeans:
    """One optimiser step per batch (train mode, tau clamped after each); the mean loss."""
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
    return loss_means(torch.stack(losses).tolist(), batches, loss)


def fit(model: heads.ProjectionModel, train: Pairs, val: Pairs, *, loss: str, batch_size: int,
        lr: float, lr_gamma: float, patience: int, max_epochs: int, seed: int,
        rank_pool: int | None = None, device: torch.device | None = None,
        progress: bool = True) -> FitResult:
    """Train `model` in place (best epoch's weights restored, left in eval mode) and return
    the curves."""
    device = device or default_device()
    contrastive_loss(loss)                     # an unknown loss fails before any work
    for name, pairs in (("training", train), ("validation", val)):
        videos = len(np.unique(pairs.video_ids))
        if videos < 2 or batch_size < 2:     # else some batch holds two segments
            raise ValueError(f"the {name} split ({len(pairs.video_ids)} segments of {videos} "
                             f"videos) with batch_size {batch_size} gives no batch of two "
                             "segments of different videos: nothing to contrast")
    val_batches = _usable(epoch_batches(val.video_ids, batch_size, np.random.default_rng(seed)))
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model.to(device)
    a_train, v_train = to_tensor(train.audio, device), to_tensor(train.video, device)
    a_val, v_val = to_tensor(val.audio, device), to_tensor(val.video, device)
    optimiser = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)
    schedule = torch.optim.lr_scheduler.ExponentialLR(optimiser, gamma=lr_gamma)

    result, stopping = FitResult(), EarlyStopping(patience)
    epochs = tqdm(range(1, max_epochs + 1), desc="train", unit="epoch", disable=not progress)
    for epoch in epochs:
        epoch_lr = optimiser.param_groups[0]["lr"]
        train_loss = train_epoch(model, optimiser, loss, a_train, v_train,
                                 _usable(epoch_batches(train.video_ids, batch_size, rng)))
        schedule.step()
        if not math.isfinite(train_loss.loss):
            raise FloatingPointError(f"training loss became {train_loss.loss} in epoch {epoch}")
        val_loss = batch_mean_loss(model, loss, a_val, v_val, val_batches)
        za, zv = heads.embed(model, val.audio, val.video)
        result.history.append(dict(
            epoch=epoch, train_loss=train_loss.loss, val_loss=val_loss.loss,
            train_loss_vs_chance=train_loss.vs_chance, val_loss_vs_chance=val_loss.vs_chance,
            val_median_rank=median_rank(za, zv, rank_pool, val.video_ids, seed), lr=epoch_lr,
            tau=model.tau.item()))
        epochs.set_postfix(train=f"{train_loss.vs_chance:.3f}", val=f"{val_loss.vs_chance:.3f}")
        if stopping.update(epoch, val_loss.loss, model):
            break
    stopping.restore(model)
    result.best_epoch, result.best_val_loss = stopping.best_epoch, stopping.best
    model.eval()
    return result
