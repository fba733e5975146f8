"""The catalogue's nearest-neighbour indexes (stage `index`, read by `mvclr similar`): for every
representation, the video vectors of all videos (segment vectors aggregated by
`probe.aggregate`, as the probes and the neighbour report make them; the cl_* ones from the main
configuration's heads) in a FAISS index (mvclr.evaluation.index, exact or IVF per params
`index`), the videos' labels, and a manifest of what the indexes were built from.

Files under index/: <representation>/ (mvclr.evaluation.index.save), labels.csv and
manifest.json (mvclr.evaluation.index_files): the aggregation, the segment store's attributes,
the feature stores' fingerprints, settings and stale blocks, the model's digest and training
configuration: what `mvclr similar` checks against params.yaml and the files now.

Scale: one pass over the stores spills main's embeddings of all rows to a scratch directory;
each representation's video vectors are aggregated by blocks into a scratch RowFile that FAISS
reads by blocks: memory holds one block and one index (4 bytes x videos x dim).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from mvclr import paths
from mvclr.contrastive import heads
from mvclr.evaluation import index as video_index
from mvclr.evaluation.embedded import embedder, spill
from mvclr.evaluation.index_files import LABELS, MANIFEST, file_digest, write_labels
from mvclr.evaluation.pooling import MODALITIES, REPRESENTATIONS, pair_blocks, video_vectors
from mvclr.evaluation.rowfile import RowFile
from mvclr.evaluation.videos import Videos
from mvclr.features import store as feature_store
from mvclr.features.embedding import stale_blocks
from mvclr.features.paired import PairedStores

STORE_KEYS = ("fingerprint", "fingerprint_of", "weights")


def plain(x):
    """Attributes as JSON values (h5py returns numpy scalars and arrays)."""
    if isinstance(x, dict):
        return {k: plain(v) for k, v in x.items()}
    return x.tolist() if isinstance(x, (np.ndarray, np.generic)) else x


def store_identity(path: Path, segments: Path) -> dict:
    """What the manifest records of a feature store: fingerprint, its inputs, weights used, and
    its blocks not computed from the segments the segment store holds (stale)."""
    attrs = feature_store.attrs(path)
    return {**{k: attrs[k] for k in STORE_KEYS if k in attrs}, "stale": stale_blocks(path, segments)}


def manifest(params: dict, stores: PairedStores, model: heads.ProjectionModel) -> dict:
    root = stores.root
    return {"aggregate": params["probe"]["aggregate"], "representations": list(REPRESENTATIONS),
            "videos": len(stores.layout.ids), "segments": {"attrs": plain(stores.layout.attrs)},
            **{key: store_identity(root / path, root / paths.SEGMENTS)
               for key, path in (("audio", paths.AUDIO), ("video", paths.VIDEO))},
            "model": {"digest": file_digest(root / paths.model("main")),
                      "meta": plain(getattr(model, "meta", {}))}}


def build_indexes(params: dict, stores: PairedStores, videos: Videos, out: str | Path,
                  scratch: str | Path) -> dict:
    """Write every representation's index, the labels and the manifest to `out`; `videos`:
    the layout's videos with their labels. Returns the manifest."""
    out, scratch = Path(out), Path(scratch)
    model = heads.load_trained("main")
    counts, how = stores.layout.count, params["probe"]["aggregate"]
    cl = spill(stores, {"cl": (embedder(model), None)}, scratch)["cl"]
    for name in REPRESENTATIONS:
        if name.startswith("cl_"):
            blocks = pair_blocks(*cl, counts)
        else:
            blocks = stores.video_blocks(audio="audio" in MODALITIES[name], video="video" in MODALITIES[name])
        vectors = video_vectors(blocks, name, counts, how, RowFile(scratch / f"{name}.npy", len(counts)))
        built = video_index.build(vectors, videos.ids, videos.split, params["index"], params["seed"],
                                  name, info={"aggregate": how})
        video_index.save(built, out / name)
        del built
        vectors.path.unlink()
    write_labels(out / LABELS, videos)
    record = manifest(params, stores, model)
    (out / MANIFEST).write_text(json.dumps(record, indent=1) + "\n")
    return record
