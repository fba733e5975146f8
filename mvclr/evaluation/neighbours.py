"""How often the nearest neighbours of items (mvclr.evaluation.similarity.top_k) share their
labels (RQ2).

Items are rows of a vector matrix x (videos: aggregated segment vectors; segments: segment
vectors). Each item belongs to a group (its video); the candidates of a seed are all items
of other groups, so a video is never its own neighbour and a segment's neighbours never come
from its own video. Neighbours are ranked by cosine similarity, ties by lower row index.

Label agreement of a seed i with neighbours n_1..n_k (only the neighbours that exist count):
- genre share: the fraction of neighbours whose genre equals the seed's (an unknown genre,
  "", matches nothing); seeds without a genre are left out.
- tag overlap: the mean Jaccard index |T_i ∩ T_n| / |T_i ∪ T_n| of the tag sets; seeds
  without tags are left out (a neighbour without tags scores 0).
Chance level of a seed: the expected value of the same statistic when its neighbours are
drawn uniformly at random from its candidates C_i (with or without replacement, the
expectation is the same): the fraction of C_i sharing the seed's genre, and the mean Jaccard
index of the seed's tags with those of C_i. Both follow from the label frequencies of all
items minus those of the seed's own group. The reported figures are means over the seeds,
measured and chance over the same seeds.
"""
from __future__ import annotations

from collections import Counter

import numpy as np

from mvclr.evaluation.similarity import group_codes


def jaccard(a, b) -> float:
    """|a ∩ b| / |a ∪ b| of two tag collections; 0 when both are empty."""
    a, b = set(a), set(b)
    union = len(a | b)
    return len(a & b) / union if union else 0.0


def _mean(values: list[float]) -> float | None:
    return float(np.mean(values)) if values else None


def agreement(seeds, index: np.ndarray, genres, tags, groups=None) -> dict:
    """Measured label agreement of the seeds with their neighbours `index` (from `nearest`)
    and its chance level, as defined in the module docstring.

    genres: str per item ("" unknown); tags: list of tags per item; groups as in `nearest`."""
    seeds = np.asarray(seeds, dtype=np.int64).ravel()
    n = len(genres)
    codes = np.arange(n) if groups is None else group_codes(groups)
    tagsets = [frozenset(t) for t in tags]
    if len(tagsets) != n or len(codes) != n:
        raise ValueError(f"{n} genres, {len(tagsets)} tag lists and {len(codes)} groups differ in length")

    # label frequencies: over all items, and within each group
    group_size = Counter(codes.tolist())
    genre_all = Counter(genres)
    genre_group = Counter(zip(codes.tolist(), genres))
    sets_all = Counter(tagsets)
    sets_group = Counter(zip(codes.tolist(), tagsets))

    genre_share, genre_chance, tag_overlap, tag_chance = [], [], [], []
    for s, nb in zip(seeds, index):
        nb = nb[nb >= 0]
        g, c = genres[s], codes[s]
        candidates = n - group_size[c]
        if len(nb) == 0 or candidates == 0:
            continue
        if g:
            genre_share.append(float(np.mean([genres[j] == g for j in nb])))
            genre_chance.append((genre_all[g] - genre_group[(c, g)]) / candidates)
        if tagsets[s]:
            tag_overlap.append(float(np.mean([jaccard(tagsets[s], tagsets[j]) for j in nb])))
            total = sum((count - sets_group[(c, ts)]) * jaccard(tagsets[s], ts)
                        for ts, count in sets_all.items())
            tag_chance.append(total / candidates)
    return {"genre_share": _mean(genre_share), "genre_chance": _mean(genre_chance),
            "genre_seeds": len(genre_share),
            "tag_jaccard": _mean(tag_overlap), "tag_jaccard_chance": _mean(tag_chance),
            "tag_seeds": len(tag_overlap)}


def pick_seeds(n: int, count: int, rng: np.random.Generator) -> np.ndarray:
    """`count` distinct random items of n (all of them, shuffled, when n <= count)."""
    return rng.permutation(n)[:count]


def analyse(found: tuple[np.ndarray, np.ndarray], seeds: np.ndarray, genres, tags, groups,
            shown: int, k: int) -> dict:
    """The neighbours `found` (index, similarity from mvclr.evaluation.similarity.top_k) of
    `seeds` (a random order of items, from `pick_seeds`): the first `shown` with their
    neighbours for display, all of them for the label agreement.
    Returns {"seeds", "index", "similarity"} of the shown seeds and "summary"."""
    index, sim = found
    return {"seeds": np.asarray(seeds)[:shown], "index": index[:shown], "similarity": sim[:shown],
            "summary": {**agreement(seeds, index, genres, tags, groups), "k": k}}
