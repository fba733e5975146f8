"""The embed stages' entry: fill a feature store on the executor `compute.executor` names, in
this process (mvclr.features.embedding.embed) or on Ray actors (mvclr.compute.actors, and Ray,
imported only then)."""
from __future__ import annotations

from pathlib import Path

from mvclr.compute.cluster import executor_name
from mvclr.features.embedding import embed


def run(params: dict, modality: str, make_backbone, segments: str | Path, out: str | Path,
        shard: str | None = None) -> dict:
    """Fill `out` from `segments` with the backbone `make_backbone()` builds (here, or once
    per Ray actor); the summary of mvclr.features.embedding.embed."""
    if executor_name(params) == "ray":
        from mvclr.compute.actors import embed_on_ray
        return embed_on_ray(modality, make_backbone, params, segments, out, shard)
    return embed(modality, make_backbone(), params, segments, out, shard)
