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
these weights (probes.aggregate; a mixture of both modalities uses the mean of the two
modalities' weights).
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from mvclr.contrastive import heads
from mvclr.contrastive.fitting import fit
from mvclr.contrastive.sources import Pairs, standardisation
from mvclr.contrastive.early_stopping import EarlyStopping
from mvclr.contrastive.losses import clip_loss
from mvclr.evaluation.pooling import video_rows

TAU = 0.07


def segment_table(segment_video_ids: np.ndarray, video_ids: np.ndarray) -> np.ndarray:
    """Row indices of each video's segments, [n_videos, max segments], -1 padded."""
    groups = video_rows(segment_video_ids, video_ids)
    table = np.full((len(groups), max(len(g) for g in groups)), -1, dtype=np.int64)
    for i, rows in enumerate(groups):
        table[i, :len(rows)] = rows
    return table


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


def _gather(z: torch.Tensor, table: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    mask = table >= 0
    return z[table.clamp(min=0)] * mask.unsqueeze(-1), mask


def segment_weights(za: np.ndarray, zb: np.ndarray, segment_video_ids: np.ndarray,
                    video_ids: np.ndarray, video_split: np.ndarray, *, hidden: int, lr: float,
                    max_epochs: int, patience: int, batch_videos: int,
                    seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Fit the pool on the training videos of the shared-space pair (za, zb) [n_segments, d]
    and return each segment's weight within its video for modality a and b ([n_segments] each;
    segments of videos not in `video_ids` get 0). video_split: train | val | test per video."""
    if za.shape != zb.shape or len(za) != len(segment_video_ids):
        raise ValueError(f"need two embeddings of one space per segment, got {za.shape} and "
                         f"{zb.shape} for {len(segment_video_ids)} segments")
    table = segment_table(segment_video_ids, video_ids)
    train, val = np.flatnonzero(video_split == "train"), np.flatnonzero(video_split == "val")
    if len(train) < 2:
        raise ValueError(f"the attention pool needs at least 2 training videos, got {len(train)}")
    zs = [torch.as_tensor(np.asarray(z, dtype=np.float32)) for z in (za, zb)]
    t = torch.as_tensor(table)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            pool = AttentionPool(za.shape[1], hidden)
            gen = torch.Generator().manual_seed(seed)
            opt = torch.optim.Adam(pool.parameters(), lr=lr)
            watch = val if len(val) >= 2 else train

            def batch_loss(videos: torch.Tensor) -> torch.Tensor:
                (a, mask), (b, _) = (_gather(z, t[videos]) for z in zs)
                return pool.loss(a, b, mask)

            stopping = EarlyStopping(patience)
            for epoch in range(1, max_epochs + 1):
                pool.train()
                order = torch.as_tensor(train)[torch.randperm(len(train), generator=gen)]
                for batch in order.split(batch_videos):
                    if len(batch) < 2:
                        continue
                    opt.zero_grad()
                    batch_loss(batch).backward()
                    opt.step()
                with torch.no_grad():
                    loss = float(np.mean([batch_loss(b).item() for b in
                                          torch.as_tensor(watch).split(batch_videos) if len(b) >= 2]))
                if stopping.update(epoch, loss, pool):
                    break
            stopping.restore(pool)
            out = [np.zeros(len(za), dtype=np.float32) for _ in zs]
            with torch.no_grad():
                for start in range(0, len(table), batch_videos):
                    rows = table[start:start + batch_videos]
                    for m, z in enumerate(zs):
                        seg, mask = _gather(z, t[start:start + batch_videos])
                        out[m][rows[rows >= 0]] = pool.weights(m, seg, mask)[mask].numpy()
    finally:
        torch.set_num_threads(threads)
    return out[0], out[1]


def shared_space(xa: np.ndarray, xb: np.ndarray, segment_video_ids: np.ndarray,
                 segment_split: np.ndarray, *, dim: int, lr: float, max_epochs: int,
                 patience: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Embeddings of a pair of different spaces (frozen features) in one: linear maps of the
    standardised vectors to `dim`, L2-normalised, trained with CLIP's loss (learned temperature
    from 0.07) on the training segments, early stopping on the validation segments
    (mvclr.contrastive.fitting.fit, batches of 1000 that never hold two segments of one video)."""
    cfg = dict(head_layers=1, hidden_dim=dim, embed_dim=dim, head_activation="none",
               batchnorm=False, dropout=0.0, single_head=False, tau=TAU, learn_tau=True)
    pairs = {s: Pairs(xa[segment_split == s], xb[segment_split == s],
                               np.asarray(segment_video_ids)[segment_split == s])
             for s in ("train", "val")}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = heads.build(cfg, xa.shape[1], xb.shape[1])
        model.set_standardisation(*standardisation(pairs["train"]))
        fit(model, pairs["train"], pairs["val"], loss="clip", batch_size=1000, lr=lr,
                     lr_gamma=1.0, patience=patience, max_epochs=max_epochs, seed=seed,
                     rank_pool=1000, device=torch.device("cpu"), progress=False)
    return heads.embed(model, xa, xb)
