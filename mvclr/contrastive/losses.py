"""Bidirectional contrastive losses on a batch of (audio, video) pairs.

Row j of `za` and row j of `zv` are partners; every other row of the batch is a negative
(the batch sampler keeps segments of one video out of the same batch). Similarity is the
cosine similarity divided by the temperature tau: S[j, k] = cos(a_j, v_k) / tau.

- `paper`: equations (1)-(3) of the paper as printed, the positive excluded from the
  denominator:  l_j(v->a) = -S[j, j] + log sum_{k != j} exp S[j, k]  (row j),
  l_j(a->v) = -S[j, j] + log sum_{k != j} exp S[k, j]  (column j),
  L = (1/B) sum_j (l_j(a->v) + l_j(v->a)). Unlike a cross-entropy it is unbounded below.
- `clip`: the authors' code (CLIP): cross-entropy over the rows plus cross-entropy over the
  columns of S, the positive included in the denominator.
Both are sums of the two directions' batch means, so they share one scale. Their value at
chance (all logits equal) depends on the batch size B: 2 log(B - 1) for `paper`, 2 log B for
`clip` (`chance_loss`); a loss divided by it is comparable across batch sizes (1 = chance).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

LOSSES = ("paper", "clip")


def similarity(za: torch.Tensor, zv: torch.Tensor, tau: torch.Tensor | float) -> torch.Tensor:
    """S[j, k] = cos(za[j], zv[k]) / tau, [B, B]."""
    return F.normalize(za, dim=1) @ F.normalize(zv, dim=1).T / tau


def paper_loss(za: torch.Tensor, zv: torch.Tensor, tau: torch.Tensor | float) -> torch.Tensor:
    """Eq. (1)-(3): positive excluded from the denominator, both directions, batch mean."""
    s = similarity(za, zv, tau)
    b = _batch_size(s)
    positive = s.diagonal()
    negatives = s.masked_fill(torch.eye(b, dtype=torch.bool, device=s.device), float("-inf"))
    v2a = torch.logsumexp(negatives, dim=1) - positive
    a2v = torch.logsumexp(negatives, dim=0) - positive
    return (v2a + a2v).mean()


def clip_loss(za: torch.Tensor, zv: torch.Tensor, tau: torch.Tensor | float) -> torch.Tensor:
    """Cross-entropy over rows plus over columns of S, positive included (CLIP)."""
    s = similarity(za, zv, tau)
    target = torch.arange(_batch_size(s), device=s.device)
    return F.cross_entropy(s, target) + F.cross_entropy(s.T, target)


def chance_loss(name: str, batch_size: int) -> float:
    """The loss `name` when every logit of a batch of `batch_size` pairs is equal."""
    contrastive_loss(name)
    return 2 * math.log(batch_size - 1 if name == "paper" else batch_size)


def contrastive_loss(name: str):
    """The loss function called `name` (`paper` or `clip`)."""
    try:
        return {"paper": paper_loss, "clip": clip_loss}[name]
    except KeyError:
        raise ValueError(f"unknown loss {name!r}; expected one of {', '.join(LOSSES)}") from None


def _batch_size(s: torch.Tensor) -> int:
    if s.shape[0] < 2:
        raise ValueError(f"a contrastive batch needs at least 2 pairs, got {s.shape[0]}")
    return s.shape[0]
