"""The evaluation of every trained configuration: Table 1 (cross-modal median ranks on the test
split) and Table 2 (MLP probes of the six representations, and of the CL embeddings of the
configurations listed in `probe.configs`, named e.g. cl_audio@aligned; every representation
under each aggregation of `probe.compare_aggregates`)."""
from __future__ import annotations

import numpy as np
from tqdm import tqdm

from mvclr.config import config_names
from mvclr.contrastive import heads
from mvclr.evaluation import attention_pool, probes, table1
from mvclr.evaluation.pooling import MODALITIES, combine_modalities, representations
from mvclr.evaluation.videos import Videos
from mvclr.features.paired import PairedFeatures


def probed_configs(params: dict) -> list[str]:
    """`main` and the configurations of `probe.configs`; a KeyError names unknown ones."""
    names = config_names(params)
    listed = params["probe"].get("configs", [])
    unknown = [n for n in listed if n not in names]
    if unknown:
        raise KeyError(f"probe.configs names {unknown}, not configurations of params.yaml "
                       f"(known: {', '.join(names)})")
    return ["main", *[n for n in listed if n != "main"]]


def retrieval_report(params: dict, features: PairedFeatures, probed: list[str]
                     ) -> tuple[dict, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """Table 1 of every configuration, and the embeddings of all segments of the `probed` ones."""
    test = features.rows("test")
    if not test.any():
        raise ValueError("the segment store holds no test segments")
    pool, seed, n_boot = params["eval"]["rank_pool"], params["seed"], params["eval"]["bootstrap"]
    ids = features.meta.video_id[test]
    embedded, entries = {}, {}
    for name in tqdm(config_names(params), desc="retrieval"):
        model = heads.load_trained(name)
        if name in probed:
            embedded[name] = heads.embed(model, features.audio, features.video)
            za, zv = embedded[name][0][test], embedded[name][1][test]
        else:
            za, zv = heads.embed(model, features.audio[test], features.video[test])
        entries[name] = table1.evaluate(za, zv, pool, ids, seed, n_boot)
    report = {"rank_pool": pool, "bootstrap": n_boot, "main": entries.pop("main"),
              "configs": entries}
    return report, {name: embedded[name] for name in probed}


def attention_weights(xa: np.ndarray, xv: np.ndarray, features: PairedFeatures, videos: Videos,
                      cfg: dict, seed: int, pair: str) -> dict[str, np.ndarray]:
    """Per-segment attention weights of each modality of one (audio, video) pair, fitted on
    the training videos with a seed of its own (so the frozen pair's weights never depend on
    the trained models). A pair of different spaces (the frozen features) is first mapped
    into a shared one."""
    meta = features.meta
    seed = probes.derive_seed(seed, "attention", pair)
    if xa.shape != xv.shape:
        xa, xv = attention_pool.shared_space(xa, xv, meta.video_id, meta.split,
                                             **cfg["shared_space"], seed=seed)
    wa, wv = attention_pool.segment_weights(xa, xv, meta.video_id, videos.ids, videos.split,
                                            **cfg["pool"], seed=seed)
    return {"audio": wa, "video": wv}


def probe_report(params: dict, features: PairedFeatures, videos: Videos,
                 embedded: dict[str, tuple[np.ndarray, np.ndarray]]) -> dict:
    """Table 2 (and 3): the frozen features and main's embeddings, then the other probed
    configurations' embeddings, each under every compared aggregation."""
    cfg, seed = params["probe"], params["seed"]
    attention = "attention" in cfg.get("compare_aggregates", [])
    jobs = []          # (name, segment vectors, attention weights or None)
    for config, (za, zv) in embedded.items():
        reps = representations(features.audio, features.video, za, zv) if config == "main" else \
            {"cl_audio": za, "cl_video": zv, "cl_agg": combine_modalities(za, zv)}
        pairs = {}
        if attention:
            if config == "main":
                pairs["frozen"] = attention_weights(features.audio, features.video, features,
                                                    videos, cfg["attention"], seed, "frozen")
            pairs["cl"] = attention_weights(za, zv, features, videos, cfg["attention"], seed, config)
        for rep in reps:
            weights = None
            if attention:
                w = pairs["cl" if rep.startswith("cl_") else "frozen"]
                weights = np.mean([w[m] for m in MODALITIES[rep]], axis=0)
            jobs.append((rep if config == "main" else f"{rep}@{config}", reps[rep], weights))
    return {name: probes.probe_aggregations(x, features.meta.video_id, videos, cfg, seed, name, w,
                                            params["eval"]["bootstrap"])
            for name, x, w in tqdm(jobs, desc="probes")}
