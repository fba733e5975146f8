"""Autoencoder initialisation of the projection heads (configuration vi): each head is
trained as the encoder of an autoencoder on its modality's standardised training vectors; the
decoder mirrors the head (Dense layers back to the input dimensionality, no output
activation), the loss is the mean squared reconstruction error.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from mvclr.contrastive import heads
from mvclr.contrastive.fitting import Pairs, default_device, to_tensor


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
        inputs = {"audio": model.standardise_audio(to_tensor(train.audio, device)),
                  "video": model.standardise_video(to_tensor(train.video, device))}
    for offset, name in enumerate(("audio", "video")):
        head = getattr(model, f"{name}_head")
        if head is None:
            continue
        curves[name] = pretrain_autoencoder(
            head, inputs[name], hidden_dim=cfg["hidden_dim"], batchnorm=cfg["batchnorm"],
            epochs=epochs, lr=lr, batch_size=batch_size, seed=seed + offset, progress=progress,
            desc=f"autoencoder {name}")
    return curves
