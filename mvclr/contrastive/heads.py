"""Projection heads g_a, g_v on the frozen backbone vectors, the temperature, and their file.

A head of L layers: (L - 1) x [Dense(hidden) -> BatchNorm -> ReLU -> Dropout] -> Dense(out)
-> sigmoid | none, then L2 normalisation (the paper: Dense(512) -> ReLU -> Dropout(0.3) ->
Dense(256) -> sigmoid; the authors' code adds the BatchNorm and the normalisation).
`single_head` (configuration iv): only video is projected, onto the audio vector's
dimensionality; the audio side is the frozen musicnn vector, L2-normalised.

Inputs are standardised with per-dimension mean and scale held in the model (set from the
training split, `set_standardisation`; identity until then): musicnn's max- and mean-pooled
activations have very different scales. Being affine, this leaves the functions a head can
represent unchanged, and with BatchNorm after the first Dense it changes little in training,
but it keeps heads without BatchNorm and the autoencoders of `ae_init` (squared error over all
input dimensions) from being dominated by the largest-scale dimensions. The frozen audio vector
of `single_head` is not standardised: it is the musicnn embedding itself.

The temperature is held as CLIP's logit scale log(1/tau): a parameter when `learn_tau`, else a
buffer; `clamp_tau_` keeps tau >= 0.01 (logits never scaled by more than 100, as CLIP).
"""
from __future__ import annotations

import math
import os
import pickle
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from mvclr import paths

ACTIVATIONS = ("sigmoid", "none")
MIN_TAU = 0.01
EMBED_ROWS = 8192          # rows per forward pass in `embed`


def make_head(in_dim: int, out_dim: int, *, layers: int, hidden_dim: int, batchnorm: bool,
              dropout: float, activation: str) -> nn.Sequential:
    """Dense layers in_dim -> hidden_dim ... -> out_dim with the output activation."""
    if layers < 1:
        raise ValueError(f"head_layers must be >= 1, got {layers}")
    if activation not in ACTIVATIONS:
        raise ValueError(f"unknown head_activation {activation!r}; "
                         f"expected one of {', '.join(ACTIVATIONS)}")
    modules: list[nn.Module] = []
    width = in_dim
    for _ in range(layers - 1):
        modules.append(nn.Linear(width, hidden_dim))
        if batchnorm:
            modules.append(nn.BatchNorm1d(hidden_dim))
        modules += [nn.ReLU(), nn.Dropout(dropout)]
        width = hidden_dim
    modules.append(nn.Linear(width, out_dim))
    if activation == "sigmoid":
        modules.append(nn.Sigmoid())
    return nn.Sequential(*modules)


def mean_std(blocks) -> tuple[np.ndarray, np.ndarray]:
    """Per-column mean and standard deviation in float64 of the rows of an iterable of blocks
    [rows, dim], in one pass (Chan et al.'s pairwise combination of block moments)."""
    n, mean, m2 = 0, 0.0, 0.0
    for block in blocks:
        block = np.asarray(block, dtype=np.float64)
        k = len(block)
        if k == 0:
            continue
        block_mean = block.mean(axis=0)
        block_m2 = ((block - block_mean) ** 2).sum(axis=0)
        delta = block_mean - mean
        mean = mean + delta * (k / (n + k))
        m2 = m2 + block_m2 + delta ** 2 * (n * k / (n + k))
        n += k
    if n == 0:
        raise ValueError("standardisation needs at least one training vector")
    return mean, np.sqrt(m2 / n)


class ProjectionModel(nn.Module):
    """Both heads and the temperature. `config` holds the constructor's arguments."""

    def __init__(self, *, audio_dim: int, video_dim: int, head_layers: int, hidden_dim: int,
                 embed_dim: int, head_activation: str, batchnorm: bool, dropout: float,
                 single_head: bool, tau: float, learn_tau: bool):
        super().__init__()
        self.config = dict(audio_dim=audio_dim, video_dim=video_dim, head_layers=head_layers,
                           hidden_dim=hidden_dim, embed_dim=embed_dim,
                           head_activation=head_activation, batchnorm=batchnorm, dropout=dropout,
                           single_head=single_head, tau=tau, learn_tau=learn_tau)
        if tau < MIN_TAU:
            raise ValueError(f"tau must be >= {MIN_TAU}, got {tau}")
        head = dict(layers=head_layers, hidden_dim=hidden_dim, batchnorm=batchnorm,
                    dropout=dropout, activation=head_activation)
        self.single_head = single_head
        self.audio_head = None if single_head else make_head(audio_dim, embed_dim, **head)
        self.video_head = make_head(video_dim, audio_dim if single_head else embed_dim, **head)
        for name, dim in (("audio", audio_dim), ("video", video_dim)):
            self.register_buffer(f"{name}_mean", torch.zeros(dim))
            self.register_buffer(f"{name}_scale", torch.ones(dim))
        logit_scale = torch.tensor(math.log(1 / tau), dtype=torch.float32)
        if learn_tau:
            self.logit_scale = nn.Parameter(logit_scale)
        else:
            self.register_buffer("logit_scale", logit_scale)

    @property
    def tau(self) -> torch.Tensor:
        return torch.exp(-self.logit_scale)

    @torch.no_grad()
    def clamp_tau_(self) -> None:
        self.logit_scale.clamp_(max=math.log(1 / MIN_TAU))

    @torch.no_grad()
    def set_standardisation(self, audio: tuple[np.ndarray, np.ndarray],
                            video: tuple[np.ndarray, np.ndarray]) -> None:
        """Per-dimension (mean, standard deviation) of the training vectors of each modality
        (`mean_std`); constant dimensions keep scale 1."""
        for name, (mean, std) in (("audio", audio), ("video", video)):
            getattr(self, f"{name}_mean").copy_(torch.from_numpy(np.asarray(mean)))
            getattr(self, f"{name}_scale").copy_(torch.from_numpy(np.where(std > 1e-8, std, 1.0)))

    def standardise_audio(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.audio_mean) / self.audio_scale

    def standardise_video(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.video_mean) / self.video_scale

    def embed_audio(self, x: torch.Tensor) -> torch.Tensor:
        if self.single_head:
            return F.normalize(x, dim=1)
        return F.normalize(self.audio_head(self.standardise_audio(x)), dim=1)

    def embed_video(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.video_head(self.standardise_video(x)), dim=1)

    def forward(self, audio: torch.Tensor,
                video: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.embed_audio(audio), self.embed_video(video)


def build(cfg: dict, audio_dim: int, video_dim: int) -> ProjectionModel:
    """The model of a training configuration (mvclr.config.train_config) for these inputs."""
    keys = ("head_layers", "hidden_dim", "embed_dim", "head_activation", "batchnorm", "dropout",
            "single_head", "tau", "learn_tau")
    return ProjectionModel(audio_dim=audio_dim, video_dim=video_dim, **{k: cfg[k] for k in keys})


def save(model: ProjectionModel, path: str | Path, **meta) -> None:
    """Write the model (config, weights, standardisation, tau) and `meta` (plain Python
    values) to `path`, atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    tmp = path.with_name(path.name + ".tmp")
    torch.save({"config": model.config, "state_dict": state, "meta": meta}, tmp)
    os.replace(tmp, path)


def load(path: str | Path) -> ProjectionModel:
    """The model `save` wrote, on the CPU in eval mode; `meta` as attribute `.meta`."""
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
        model = ProjectionModel(**ckpt["config"])
        model.load_state_dict(ckpt["state_dict"])
    except (OSError, RuntimeError, KeyError, TypeError, EOFError, pickle.UnpicklingError) as e:
        raise ValueError(f"{path}: not a projection model written by mvclr.contrastive.heads.save "
                         f"({e})") from e
    model.meta = ckpt.get("meta", {})
    return model.eval()


def load_trained(name: str) -> ProjectionModel:
    """The heads the train stage wrote for configuration `name`."""
    path = paths.model(name)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no trained model for configuration {name!r} (run stage train)")
    return load(path)


@torch.no_grad()
def embed(model: ProjectionModel, audio: np.ndarray,
          video: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """L2-normalised embeddings (za, zv), float32 numpy, of backbone vectors [n, dim]."""
    expected = (model.config["audio_dim"], model.config["video_dim"])
    if audio.ndim != 2 or video.ndim != 2 or (audio.shape[1], video.shape[1]) != expected:
        raise ValueError(f"expected audio [n, {expected[0]}] and video [n, {expected[1]}] vectors, "
                         f"got {audio.shape} and {video.shape}")
    was_training = model.training
    model.eval()
    device = model.logit_scale.device

    def run(fn, x):
        out = [fn(torch.as_tensor(x[i:i + EMBED_ROWS], dtype=torch.float32, device=device)).cpu()
               for i in range(0, max(len(x), 1), EMBED_ROWS)]
        return torch.cat(out).numpy()

    za, zv = run(model.embed_audio, audio), run(model.embed_video, video)
    model.train(was_training)
    return za, zv
