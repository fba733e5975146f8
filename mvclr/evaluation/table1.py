"""Table 1 for one configuration on the test split: median ranks the paper's way (seeded chunks
of `pool`) and over the whole split (mvclr.evaluation.retrieval), and what the authors'
evaluation code outputs (mvclr.evaluation.authors_code), each median rank with a bootstrap
interval over test videos."""
from __future__ import annotations

import numpy as np

from mvclr.evaluation import authors_code
from mvclr.evaluation.retrieval import chunk_order, evaluate_pool


def evaluate(za: np.ndarray, zv: np.ndarray, pool: int, video_ids: np.ndarray, seed: int,
             n_boot: int) -> dict:
    order = chunk_order(video_ids, seed)
    return {"paper": evaluate_pool(za, zv, pool, video_ids, seed, n_boot),
            "full": evaluate_pool(za, zv, None, video_ids, seed, n_boot),
            "authors_code": authors_code.literal(za, zv, pool, order, video_ids, n_boot, seed),
            "authors_code_variant": authors_code.variant(za, zv, pool, order, video_ids, n_boot,
                                                         seed)}
