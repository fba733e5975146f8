"""Autoencoder initialisation of the projection heads (configuration vi): each head is
trained as the encoder of an autoencoder on its modality's standardised training vectors; the
decoder mirrors the head (Dense layers back to the input dimensionality, no output
activation), the loss is the mean squared reconstruction error. The training vectors are read
by windows of blocks in random order as in fitting (mvclr.contrastive.batching.epoch_windows),
each window's rows in random mini-batches.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from mvclr.contrastive import heads
from mvclr.contrastive.batching import epoch_windows, window_blocks
from mvclr.contrastive.fitting import BLOCK_STREAM, default_device, to_tensor


def pretrain_autoencoder(head: nn.Sequential, standardisation: tuple[torch.Tensor, torch.Tensor],
                         source, modality: str, *,
                         hidden_dim: int, batchnorm: bool, epochs: int, lr: float,
                         batch_size: int, seed: int, shuffle_rows: int | None = None,
                         device: torch.device | None = None, progress: bool = True,
                         desc: str = "autoencoder") -> list[float]:
    """Train `head` (in place) as the encoder of an autoencoder on the `modality` vectors of
    `source` (mvclr.contrastive.sources), standardised with `standardisation` (mean, scale; in
    place on each window read); mean squared reconstruction error per epoch."""
    if source.n_rows < 2:
        raise ValueError(f"an autoencoder needs at least 2 training vectors, got {source.n_rows}")
    device = device or default_device()
    layers = sum(isinstance(m, nn.Linear) for m in head)
    out_dim = [m for m in head if isinstance(m, nn.Linear)][-1].out_features
    in_dim = source.dims[0 if modality == "audio" else 1]
    decoder = heads.make_head(out_dim, in_dim, layers=layers, hidden_dim=hidden_dim,
                              batchnorm=batchnorm, dropout=0.0, activation="none").to(device)
    autoencoder = nn.Sequential(head, decoder).train()
    mean, scale = (t.to(device) for t in standardisation)
    optimiser = torch.optim.Adam(autoencoder.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(seed)
    block_rng = np.random.default_rng([seed, BLOCK_STREAM])
    per_window = window_blocks(shuffle_rows, source.block_rows, len(source.blocks))
    curve = []
    for _ in tqdm(range(epochs), desc=desc, unit="epoch", disable=not progress):
        # a running sum, not a list of per-batch scalars: those small tensors, kept for the
        # epoch, pin the freed batch copies in glibc's heap (~0.5 MB per batch of 512-d rows)
        loss_sum, n_batches = torch.zeros((), device=device), 0
        for blocks in epoch_windows(source.blocks, per_window, block_rng):
            window = source.read(blocks, audio=modality == "audio", video=modality == "video")
            with torch.no_grad():
                x = to_tensor(getattr(window, modality), device).sub_(mean).div_(scale)
            del window                      # one window at a time
            order = torch.randperm(len(x), generator=generator).to(device)
            for start in range(0, len(x), batch_size):
                idx = order[start:start + batch_size]
                if len(idx) < 2:
                    continue
                loss = F.mse_loss(autoencoder(x[idx]), x[idx])
                optimiser.zero_grad(set_to_none=True)
                loss.backward()
                optimiser.step()
                loss_sum += loss.detach()
                n_batches += 1
            del x, order
        curve.append(float(loss_sum / n_batches))
    return curve


def initialise_from_autoencoders(model: heads.ProjectionModel, train, *, epochs: int, lr: float,
                                 batch_size: int, seed: int, shuffle_rows: int | None = None,
                                 device: torch.device | None = None,
                                 progress: bool = True) -> dict[str, list[float]]:
    """Pre-train every head of `model` as an autoencoder of its modality's standardised
    training vectors (the source `train`); the reconstruction curves by modality."""
    device = device or default_device()
    model.to(device)
    cfg = model.config
    curves = {}
    for offset, name in enumerate(("audio", "video")):
        head = getattr(model, f"{name}_head")
        if head is None:
            continue
        curves[name] = pretrain_autoencoder(
            head, (getattr(model, f"{name}_mean"), getattr(model, f"{name}_scale")), train, name,
            hidden_dim=cfg["hidden_dim"],
            batchnorm=cfg["batchnorm"], epochs=epochs, lr=lr, batch_size=batch_size,
            seed=seed + offset, shuffle_rows=shuffle_rows, device=device, progress=progress,
            desc=f"autoencoder {name}")
    return curves
