"""Synthetic catalogue vectors with the structure of real ones, for benchmarks and tests of the
nearest-neighbour index (mvclr.evaluation.index): real catalogues are clustered by genre and
artist, and embeddings have a low intrinsic dimension.

Model (a hierarchical Gaussian mixture in a latent space, embedded linearly, plus noise):
- GENRES genre centres g ~ N(0, I_r) in a latent space of r = min(dim, LATENT) dimensions;
- max(1, n // VIDEOS_PER_ARTIST) artist centres a = g[genre] + ARTIST_SPREAD · N(0, I_r),
  each of a uniformly random genre;
- each video v = a[artist] + VIDEO_SPREAD · N(0, I_r), of a uniformly random artist;
- x = v W + noise, W [r, dim] with orthonormal rows (seeded), isotropic noise of total
  variance NOISE × that of the latent part; rows L2-normalised (cosine similarity).
A video's nearest neighbours are mostly its artist's other videos, then its genre's; the
noise spreads the similarities so neighbours are not trivially separated (benchmarks/scale.py
prints the recall an IVF index reaches per number of probed lists on this data).
"""
from __future__ import annotations

import numpy as np

from mvclr.evaluation.similarity import normalise

GENRES = 32
VIDEOS_PER_ARTIST = 10
LATENT = 64
ARTIST_SPREAD = 0.6
VIDEO_SPREAD = 0.45
NOISE = 0.5
BLOCK = 32768            # rows generated at a time


def clustered_vectors(n: int, dim: int, seed: int) -> np.ndarray:
    """[n, dim] float32 unit vectors of the model above; the same seed gives the same rows."""
    if n < 1 or dim < 1:
        raise ValueError(f"need n >= 1 and dim >= 1, got n={n}, dim={dim}")
    rng = np.random.default_rng(seed)
    r = min(dim, LATENT)
    genres = rng.standard_normal((GENRES, r))
    artists = max(1, n // VIDEOS_PER_ARTIST)
    centres = genres[rng.integers(GENRES, size=artists)] + ARTIST_SPREAD * rng.standard_normal((artists, r))
    w = np.linalg.qr(rng.standard_normal((dim, r)))[0].T.astype(np.float32)   # [r, dim], orthonormal rows
    latent_var = 1 + ARTIST_SPREAD ** 2 + VIDEO_SPREAD ** 2
    noise_sd = np.float32(np.sqrt(NOISE * latent_var * r / dim))
    out = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, BLOCK):
        m = min(BLOCK, n - start)
        v = centres[rng.integers(artists, size=m)] + VIDEO_SPREAD * rng.standard_normal((m, r))
        x = v.astype(np.float32) @ w
        x += noise_sd * rng.standard_normal((m, dim), dtype=np.float32)
        out[start:start + m] = normalise(x)
    return out
