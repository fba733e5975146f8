import math

import numpy as np
import pytest
import torch

from mvclr.contrastive import losses


def cos(x, y):
    return float(np.dot(x, y) / (np.linalg.norm(x) * np.linalg.norm(y)))


def brute_paper(a, v, tau):
    """Eq. (1)-(3) term by term: positive excluded from the denominators."""
    b = len(a)
    total = 0.0
    for j in range(b):
        v2a = -math.log(math.exp(cos(a[j], v[j]) / tau)
                        / sum(math.exp(cos(a[j], v[k]) / tau) for k in range(b) if k != j))
        a2v = -math.log(math.exp(cos(v[j], a[j]) / tau)
                        / sum(math.exp(cos(v[j], a[k]) / tau) for k in range(b) if k != j))
        total += v2a + a2v
    return total / b


def brute_clip(a, v, tau):
    """Cross-entropy both ways, positive included in the denominators."""
    b = len(a)
    total = 0.0
    for j in range(b):
        total -= math.log(math.exp(cos(a[j], v[j]) / tau)
                          / sum(math.exp(cos(a[j], v[k]) / tau) for k in range(b)))
        total -= math.log(math.exp(cos(v[j], a[j]) / tau)
                          / sum(math.exp(cos(v[j], a[k]) / tau) for k in range(b)))
    return total / b


@pytest.mark.parametrize("name, brute", [("paper", brute_paper), ("clip", brute_clip)])
@pytest.mark.parametrize("batch, tau", [(2, 1.0), (7, 0.3), (16, 0.07)])
def test_loss_matches_brute_force_double_loop(name, brute, batch, tau):
    rng = np.random.default_rng(batch)
    # correlated pairs, so the positive differs from the negatives
    a = rng.normal(size=(batch, 5))
    v = a + 0.5 * rng.normal(size=(batch, 5))
    got = losses.contrastive_loss(name)(torch.tensor(a), torch.tensor(v), tau)
    assert float(got) == pytest.approx(brute(a, v, tau), rel=1e-10, abs=1e-10)


@pytest.mark.parametrize("name", losses.LOSSES)
def test_loss_uses_cosine_similarity_and_tensor_tau(name):
    rng = np.random.default_rng(1)
    a, v = torch.tensor(rng.normal(size=(6, 4))), torch.tensor(rng.normal(size=(6, 4)))
    fn = losses.contrastive_loss(name)
    scale = torch.tensor(rng.uniform(0.1, 10, size=(6, 1)))
    log_tau = torch.tensor(math.log(0.5), requires_grad=True)
    loss = fn(a * scale, v, torch.exp(log_tau))
    assert loss.item() == pytest.approx(fn(a, v, 0.5).item(), rel=1e-12)
    loss.backward()
    assert log_tau.grad is not None and float(log_tau.grad) != 0


def test_two_pair_batch_closed_forms():
    # with B = 2 each term has one negative k: paper -s_jj + s_jk, clip log(1 + exp(s_jk - s_jj))
    rng = np.random.default_rng(2)
    a, v = rng.normal(size=(2, 3)), rng.normal(size=(2, 3))
    p = losses.paper_loss(torch.tensor(a), torch.tensor(v), 1.0).item()
    c = losses.clip_loss(torch.tensor(a), torch.tensor(v), 1.0).item()
    s = np.array([[cos(a[j], v[k]) for k in range(2)] for j in range(2)])
    per_row = [s[j, 1 - j] - s[j, j] for j in range(2)]
    per_col = [s[1 - j, j] - s[j, j] for j in range(2)]
    assert p == pytest.approx(sum(per_row + per_col) / 2, rel=1e-12)
    assert c == pytest.approx(sum(math.log1p(math.exp(d)) for d in per_row + per_col) / 2,
                              rel=1e-12)


@pytest.mark.parametrize("name", losses.LOSSES)
def test_loss_needs_two_pairs(name):
    with pytest.raises(ValueError, match="at least 2"):
        losses.contrastive_loss(name)(torch.ones(1, 3), torch.ones(1, 3), 1.0)


def test_unknown_loss_is_named():
    with pytest.raises(ValueError, match="infonce"):
        losses.contrastive_loss("infonce")


@pytest.mark.parametrize("name", losses.LOSSES)
@pytest.mark.parametrize("batch", [2, 6, 48, 1000])
def test_chance_loss_is_the_loss_of_equal_logits(name, batch):
    same = torch.ones(batch, 3)
    assert losses.chance_loss(name, batch) == pytest.approx(
        float(losses.contrastive_loss(name)(same, same, 0.5)), rel=1e-6)
