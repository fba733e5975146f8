"""A learned attention pool: the video-level aggregation `attention` of the probes.

Works on a pair of segment-level embeddings of the same segments in one shared audio-video
space (a configuration's CL embeddings za, zv; for the frozen musicnn and R(2+1)D features,
`shared_space` first fits linear maps into one, contrastively on the training segments). Each
modality m gets a scorer s_m(z) = w^T tanh(V z) (Ilse et al. 2018); a video's segment weights
are the softmax of its segments' scores. The scorers are trained on the training videos with
the contrastive objective at video level: the two modalities' weighted means are partners in
CLIP's cross-entropy loss (learned temperature, initialised at 0.07), the other videos of the
batch are negatives. So a segment weighs more where it carries what the other modality of its
video shares. Only the scorers (and the temperature) learn: the space stays fixed, so the pool
cannot fit the training videos by moving the embeddings. Early stopping on the validation
videos' loss (the training loss without validation videos); the best epoch's weights are kept.

The video vector of a representation is then the weighted mean of its segment vectors with
these weights (pooling.video_vectors; a mixture of both modalities uses the mean of the two
modalities' weights).

Scale: the segment embeddings are read by gathered rows (arrays or RowFiles: a batch of videos
at a time) and the weights written in row order to a RowFile, so memory holds a batch of videos.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from mvclr.contrastive import heads
from mvclr.contrastive.early_stopping import EarlyStopping
from mvclr.contrastive.fitting import fit
from mvclr.contrastive.losses import clip_loss
from mvclr.contrastive.sources import standardisation
from mvclr.evaluation.rowfile import RowFile

TAU = 0.07


def segment_rows(counts: np.ndarray, videos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows of the segments of `videos`, videos of `counts` segments laid out consecutively:
    (rows [len(videos), max segments] with -1 padding, mask of the real ones)."""
    counts = np.asarray(counts, dtype=np.int64)
    first = np.cumsum(counts) - counts
    width = int(counts[videos].max(initial=1))
    mask = np.arange(width)[None, :] < counts[videos][:, None]
    return np.where(mask, first[videos][:, None] + np.arange(width)[None, :], -1), mask


class AttentionPool(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.scorers = nn.ModuleList(
            nn.Sequential(nn.Linear(dim, hidden), nn.Tanh(), nn.Linear(hidden, 1)) for _ in range(2))
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / TAU)))

    def weights(self, m: int, z: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Softmax over each video's segments: z [B, K, d], mask [B, K] -> [B, K]."""
        scores = self.scorers[m](z).squeeze(-1).masked_fill(~mask, float("-inf"))
        return torch.softmax(scores, dim=1)

    def loss(self, za: torch.Tensor, zb: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        pa, pb = ((self.weights(m, z, mask).unsqueeze(-1) * z).sum(1) for m, z in enumerate((za, zb)))
        return clip_loss(pa, pb, torch.exp(-self.logit_scale.clamp(max=math.log(1 / heads.MIN_TAU))))


def _gather(z, rows: np.ndarray, mask: np.ndarray) -> torch.Tensor:
    """[B, K, d] float32 tensor of rows of z (array or RowFile), zeros where mask is False."""
    out = np.zeros((*rows.shape, z.shape[1]), dtype=np.float32)
    out[mask] = z[rows[mask]]
    return torch.from_numpy(out)


def segment_weights(za, zb, counts: np.ndarray, video_split: np.ndarray, out: RowFile, *,
                    hidden: int, lr: float, max_epochs: int, patience: int, batch_videos: int,
                    seed: int) -> RowFile:
    """Fit the pool on the training videos of the shared-space pair (za, zb) [n_segments, d]
    (rows: the segments of videos of `counts` segments, consecutively; arrays or RowFiles) and
    write each segment's weight within its video for modality a and b to `out` [n_segments, 2].
    video_split: train | val | test per video."""
    counts = np.asarray(counts)
    if za.shape != zb.shape or len(za) != counts.sum():
        raise ValueError(f"need two embeddings of one space per segment, got {za.shape} and "
                         f"{zb.shape} for {counts.sum()} segments")
    train, val = np.flatnonzero(video_split == "train"), np.flatnonzero(video_split == "val")
    if len(train) < 2:
        raise ValueError(f"the attention pool needs at least 2 training videos, got {len(train)}")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            pool = AttentionPool(za.shape[1], hidden)
            gen = torch.Generator().manual_seed(seed)
            opt = torch.optim.Adam(pool.parameters(), lr=lr)
            watch = val if len(val) >= 2 else train

            def batch_loss(videos: np.ndarray) -> torch.Tensor:
                rows, mask = segment_rows(counts, videos)
                return pool.loss(_gather(za, rows, mask), _gather(zb, rows, mask), torch.from_numpy(mask))

            stopping = EarlyStopping(patience)
            for epoch in range(1, max_epochs + 1):
                pool.train()
                order = train[torch.randperm(len(train), generator=gen).numpy()]
                for start in range(0, len(order), batch_videos):
                    batch = order[start:start + batch_videos]
                    if len(batch) < 2:
                        continue
                    opt.zero_grad()
                    batch_loss(batch).backward()
                    opt.step()
                with torch.no_grad():
                    loss = float(np.mean([batch_loss(watch[s:s + batch_videos]).item()
                                          for s in range(0, len(watch), batch_videos)
                                          if len(watch[s:s + batch_videos]) >= 2]))
                if stopping.update(epoch, loss, pool):
                    break
            stopping.restore(pool)
            with torch.no_grad():
                for start in range(0, len(counts), batch_videos):
                    rows, mask = segment_rows(counts, np.arange(start, min(start + batch_videos, len(counts))))
                    t_mask = torch.from_numpy(mask)
                    out.append(np.stack([pool.weights(m, _gather(z, rows, mask), t_mask)[t_mask].numpy()
                                         for m, z in enumerate((za, zb))], axis=1))
    finally:
        torch.set_num_threads(threads)
    return out


def shared_space(train, val, *, dim: int, lr: float, max_epochs: int, patience: int, seed: int,
                 shuffle_rows: int | None = None) -> heads.ProjectionModel:
    """Linear maps of a pair of different spaces (frozen features) into one: the standardised
    vectors to `dim`, L2-normalised, trained with CLIP's loss (learned temperature from 0.07)
    on the training segments of the source `train`, early stopping on `val`
    (mvclr.contrastive.fitting.fit, batches of 1000 that never hold two segments of one video).
    The model's heads.embed gives the shared-space embeddings."""
    cfg = dict(head_layers=1, hidden_dim=dim, embed_dim=dim, head_activation="none",
               batchnorm=False, dropout=0.0, single_head=False, tau=TAU, learn_tau=True)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = heads.build(cfg, *train.dims)
        model.set_standardisation(*standardisation(train))
        fit(model, train, val, loss="clip", batch_size=1000, lr=lr, lr_gamma=1.0,
            patience=patience, max_epochs=max_epochs, seed=seed, rank_pool=1000,
            shuffle_rows=shuffle_rows, device=torch.device("cpu"), progress=False)
    return model
