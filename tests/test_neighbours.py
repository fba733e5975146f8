"""Nearest neighbours and label agreement against brute-force references."""
import math

import numpy as np
import pytest

from mvclr.evaluation import neighbours, similarity


def brute_nearest(x, seed, k, groups):
    def cos(a, b):
        na, nb = math.sqrt(sum(v * v for v in a)), math.sqrt(sum(v * v for v in b))
        return sum(p * q for p, q in zip(a, b)) / (na * nb)
    cands = [(-cos(x[seed], x[j]), j) for j in range(len(x)) if groups[j] != groups[seed]]
    cands.sort()
    return [j for _, j in cands[:k]], [-s for s, _ in cands[:k]]


def brute_agreement(seeds, index, genres, tags, groups):
    share, share_chance, jac, jac_chance = [], [], [], []
    for s, nb in zip(seeds, index):
        nb = [j for j in nb if j >= 0]
        cands = [j for j in range(len(genres)) if groups[j] != groups[s]]
        if not nb or not cands:
            continue
        if genres[s]:
            share.append(np.mean([genres[j] == genres[s] for j in nb]))
            share_chance.append(np.mean([genres[j] == genres[s] for j in cands]))
        if tags[s]:
            def jac_of(j):
                a, b = set(tags[s]), set(tags[j])
                return len(a & b) / len(a | b)
            jac.append(np.mean([jac_of(j) for j in nb]))
            jac_chance.append(np.mean([jac_of(j) for j in cands]))
    return share, share_chance, jac, jac_chance


@pytest.fixture
def items():
    rng = np.random.default_rng(3)
    n = 40
    x = rng.normal(size=(n, 5))
    groups = rng.integers(0, 9, n)                 # videos with 0..n segments
    genres = list(rng.choice(["rock", "pop", "jazz", ""], n, p=[0.4, 0.3, 0.2, 0.1]))
    vocab = ["a", "b", "c", "d"]
    tags = [list(rng.choice(vocab, rng.integers(0, 4), replace=False)) for _ in range(n)]
    return x, groups, genres, tags


@pytest.mark.parametrize("grouped", [False, True])
@pytest.mark.parametrize("rows", [7, 1000])
def test_nearest_matches_brute_force(items, grouped, rows, monkeypatch):
    x, groups, _, _ = items
    monkeypatch.setattr(similarity, "BLOCK_ELEMENTS", 20)     # several seed blocks
    g = groups if grouped else np.arange(len(x))
    seeds = [0, 5, 17, 39, 22]
    index, sim = similarity.top_k(x, seeds, 4, g if grouped else None, rows=rows)
    for row, s in enumerate(seeds):
        want, want_sim = brute_nearest(x, s, 4, g)
        assert index[row].tolist() == want
        np.testing.assert_allclose(sim[row], want_sim, rtol=1e-12)
        assert s not in index[row]
        assert all(g[j] != g[s] for j in index[row])


def test_ties_break_by_lower_index_and_short_candidate_lists_are_padded():
    x = np.eye(3)[[0, 1, 0, 2, 0, 1]]         # exact ties: dot products are 0 or 1
    index, sim = similarity.top_k(x, [0, 1], 3, rows=2)      # ties across candidate blocks too
    assert index.tolist() == [[2, 4, 1], [5, 0, 2]]
    np.testing.assert_allclose(sim, [[1, 1, 0], [1, 0, 0]])
    # grouped: seed 0's video holds rows 0-4, one candidate remains
    index, sim = similarity.top_k(x, [0, 5], 3, groups=["v", "v", "v", "v", "v", "w"])
    assert index.tolist() == [[5, -1, -1], [1, 0, 2]]
    assert np.isnan(sim[0, 1:]).all() and sim[0, 0] == 0.0


@pytest.mark.parametrize("grouped", [False, True])
def test_agreement_and_chance_match_brute_force(items, grouped):
    x, groups, genres, tags = items
    g = groups if grouped else np.arange(len(x))
    seeds = np.arange(len(x))
    index, _ = similarity.top_k(x, seeds, 3, g if grouped else None)
    got = neighbours.agreement(seeds, index, genres, tags, g if grouped else None)
    share, share_chance, jac, jac_chance = brute_agreement(seeds, index, genres, tags, g)
    assert got["genre_seeds"] == len(share) and got["tag_seeds"] == len(jac)
    assert got["genre_share"] == pytest.approx(np.mean(share))
    assert got["genre_chance"] == pytest.approx(np.mean(share_chance))
    assert got["tag_jaccard"] == pytest.approx(np.mean(jac))
    assert got["tag_jaccard_chance"] == pytest.approx(np.mean(jac_chance))


def test_chance_is_the_mean_over_random_neighbours(items):
    """The chance level is what uniformly random neighbours score on average."""
    _, groups, genres, tags = items
    rng = np.random.default_rng(0)
    seeds = np.arange(len(genres))
    draws = []
    for _ in range(1000):
        index = np.array([rng.choice(np.flatnonzero(groups != groups[s]), 3) for s in seeds])
        draws.append(neighbours.agreement(seeds, index, genres, tags, groups))
    chance = draws[0]
    assert np.mean([d["genre_share"] for d in draws]) == pytest.approx(chance["genre_chance"], abs=0.01)
    assert np.mean([d["tag_jaccard"] for d in draws]) == pytest.approx(chance["tag_jaccard_chance"], abs=0.01)


def test_perfect_neighbours_score_above_chance():
    genres = ["rock"] * 5 + ["pop"] * 5
    x = np.array([[1.0, 0.1 * i] if g == "rock" else [0.1 * i, 1.0] for i, g in enumerate(genres)])
    tags = [["loud"] if g == "rock" else ["soft"] for g in genres]
    seeds = np.arange(10)
    index, _ = similarity.top_k(x, seeds, 2)
    got = neighbours.agreement(seeds, index, genres, tags)
    assert got["genre_share"] == 1.0 and got["tag_jaccard"] == 1.0
    assert got["genre_chance"] == pytest.approx(4 / 9)
    assert got["tag_jaccard_chance"] == pytest.approx(4 / 9)


def test_unlabelled_seeds_are_left_out():
    genres = ["", "rock", "rock"]
    tags = [[], ["a"], []]
    got = neighbours.agreement([0, 1, 2], np.array([[1], [2], [1]]), genres, tags)
    assert got["genre_seeds"] == 2 and got["genre_share"] == 1.0
    assert got["tag_seeds"] == 1 and got["tag_jaccard"] == 0.0
    empty = neighbours.agreement([], np.zeros((0, 1), int), genres, tags)
    assert empty["genre_share"] is None and empty["genre_seeds"] == 0


def test_pick_seeds_is_deterministic_and_distinct():
    a = neighbours.pick_seeds(50, 10, np.random.default_rng(1))
    b = neighbours.pick_seeds(50, 10, np.random.default_rng(1))
    assert a.tolist() == b.tolist() and len(set(a.tolist())) == 10
    assert sorted(neighbours.pick_seeds(4, 10, np.random.default_rng(1)).tolist()) == [0, 1, 2, 3]
