"""Training the projection heads on cached backbone vectors.

`fit`: Adam, exponential learning-rate decay per epoch, batches from stages.batching (no two
segments of one video together; single-segment batches, which only occur when one video holds
more than half of the split, are skipped: they have no negative). After every epoch the
validation loss (fixed validation batches, eval mode) and the validation median rank (mean of
a->v and v->a, stages.retrieval.median_rank, over chunks of `rank_pool` validation segments as
in the paper's Table 1, or over the whole split when None). Training stops when the validation
loss has not improved for `patience` epochs; the weights (and tau) of the best epoch are
restored. Losses depend on the batch size (about 2 log B at chance), so the training and
validation losses are comparable only when their batches are of similar size.

`initialise_from_autoencoders` (configuration vi): each head is trained as the encoder of an
autoencoder on its modality's standardised training vectors; the decoder mirrors the head
(Dense layers back to the input dimensionality, no output activation), the loss is the mean
squared reconstruction error.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from stages import heads
from stages.batching import epoch_batches
from stages.early_stopping import EarlyStopping
from stages.losses import contrastive_loss
from stages.retrieval import median_rank

HISTORY_COLUMNS = ("epoch", "train_loss", "val_loss", "val_median_rank", "lr", "tau")


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


def _tensor(x: np.ndarray, device: torch.device) -> torch.Tensor:
    return torch.as_tensor(np.ascontiguousarray(x, dtype=np.float32), device=device)


def _usable(batches: list[np.ndarray]) -> list[np.ndarray]:
    return [b for b in batches if len(b) >= 2]


@torch.no_grad()
def batch_mean_loss(model: heads.ProjectionModel, loss_fn, audio: torch.Tensor,
                    video: torch.Tensor, batches: list[np.ndarray]) -> float:
    """Mean loss over `batches` in eval mode."""
    was_training = model.training
    model.eval()
    losses = []
    for idx in batches:
        idx = torch.as_tensor(idx, device=audio.device)
        losses.append(float(loss_fn(*model(audio[idx], video[idx]), model.tau)))
    model.train(was_training)
    return float(np.mean(losses))


def train_epoch(model: heads.ProjectionModel, optimiser: torch.optim.Optimizer, loss_fn,
                audio: torch.Tensor, video: torch.Tensor, batches: list[np.ndarray]) -> float:
    """One optimiser step per batch (train mode, tau clamped after each); the mean loss."""
    model.train()
    losses = []
    for idx in batches:
        idx = torch.as_tensor(idx, device=audio.device)
        loss = loss_fn(*model(audio[idx], video[idx]), model.tau)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        model.clamp_tau_()
        losses.append(loss.detach())
    return torch.stack(losses).mean().item()


def fit(model: heads.ProjectionModel, train: Pairs, val: Pairs, *, loss: str, batch_size: int,
        lr: float, lr_gamma: float, patience: int, max_epochs: int, seed: int,
        rank_pool: int | None = None, device: torch.device | None = None,
        progress: bool = True) -> FitResult:
    """Train `model` in place (best epoch's weights restored, left in eval mode) and return
    the curves."""
    device = device or default_device()
    loss_fn = contrastive_loss(loss)
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
    a_train, v_train = _tensor(train.audio, device), _tensor(train.video, device)
    a_val, v_val = _tensor(val.audio, device), _tensor(val.video, device)
    optimiser = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)
    schedule = torch.optim.lr_scheduler.ExponentialLR(optimiser, gamma=lr_gamma)

    result, stopping = FitResult(), EarlyStopping(patience)
    epochs = tqdm(range(1, max_epochs + 1), desc="train", unit="epoch", disable=not progress)
    for epoch in epochs:
        epoch_lr = optimiser.param_groups[0]["lr"]
        train_loss = train_epoch(model, optimiser, loss_fn, a_train, v_train,
                                 _usable(epoch_batches(train.video_ids, batch_size, rng)))
        schedule.step()
        if not math.isfinite(train_loss):
            raise FloatingPointError(f"training loss became {train_loss} in epoch {epoch}")
        val_loss = batch_mean_loss(model, loss_fn, a_val, v_val, val_batches)
        za, zv = heads.embed(model, val.audio, val.video)
        result.history.append(dict(epoch=epoch, train_loss=train_loss, val_loss=val_loss,
                                   val_median_rank=median_rank(za, zv, rank_pool), lr=epoch_lr,
                                   tau=model.tau.item()))
        epochs.set_postfix(train=f"{train_loss:.4f}", val=f"{val_loss:.4f}")
        if stopping.update(epoch, val_loss, model):
            break
    stopping.restore(model)
    result.best_epoch, result.best_val_loss = stopping.best_epoch, stopping.best
    model.eval()
    return result


def pretrain_autoencoder(head: nn.Sequential, x: torch.Tensor, *, hidden_dim: int,
                         batchnorm: bool, epochs: int, lr: float, batch_size: int, seed: int,
                         progress: bool = True, desc: str = "autoencoder") -> list[float]:
    """Train `head` as the encoder of an autoencoder on x (in place); mean squared
    reconstruction error per epoch."""
    if len(x) < 2:
        raise ValueError(f"an autoencoder needs at least 2 training vectors, got {len(x)}")
    layers = sum(isinstance(m, nn.Linear) for m in head)
    out_dim = [m for m in head if isinstance(m, nn.Linear)][-1].out_features
    decoder = heads.make_head(out_dim, x.shape[1], layers=layers, hidden_dim=hidden_dim,
                              batchnorm=batchnorm, dropout=0.0, activation="none").to(x.device)
    autoencoder = nn.Sequential(head, decoder).train()
    optimiser = torch.optim.Adam(autoencoder.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(seed)
    curve = []
    for _ in tqdm(range(epochs), desc=desc, unit="epoch", disable=not progress):
        order = torch.randperm(len(x), generator=generator).to(x.device)
        losses = []
        for start in range(0, len(x), batch_size):
            idx = order[start:start + batch_size]
            if len(idx) < 2:
                continue
            loss = F.mse_loss(autoencoder(x[idx]), x[idx])
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            losses.append(loss.detach())
        curve.append(float(torch.stack(losses).mean()))
    return curve


def initialise_from_autoencoders(model: heads.ProjectionModel, train: Pairs, *, epochs: int,
                                 lr: float, batch_size: int, seed: int,
                                 device: torch.device | None = None,
                                 progress: bool = True) -> dict[str, list[float]]:
    """Pre-train every head of `model` as an autoencoder of its modality's standardised
    training vectors; the reconstruction curves by modality."""
    device = device or default_device()
    model.to(device)
    cfg = model.config
    curves = {}
    with torch.no_grad():
        inputs = {"audio": model.standardise_audio(_tensor(train.audio, device)),
                  "video": model.standardise_video(_tensor(train.video, device))}
    for offset, name in enumerate(("audio", "video")):
        head = getattr(model, f"{name}_head")
        if head is None:
            continue
        curves[name] = pretrain_autoencoder(
            head, inputs[name], hidden_dim=cfg["hidden_dim"], batchnorm=cfg["batchnorm"],
            epochs=epochs, lr=lr, batch_size=batch_size, seed=seed + offset, progress=progress,
            desc=f"autoencoder {name}")
    return curves
