"""Stage `evaluate`: Table 1 (cross-modal median ranks of every configuration) and Table 2
(MLP probes of the six representations, and of the CL embeddings of the configurations listed
in `probe.configs`, named e.g. cl_audio@aligned; every representation under each aggregation
of `probe.compare_aggregates`) -> reports/retrieval.json, reports/probes.json. The tables
stage renders them."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from tqdm import tqdm

from stages import attention_pool, feature_store, heads, probes, retrieval
from stages.config import config_names, load_params
from stages.ingest import read_index
from stages.paths import AUDIO, INDEX, REPORTS, SEGMENTS, VIDEO
from stages.segment_store import read_meta



def write_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=2) + "\n")


def attention_weights(xa: np.ndarray, xv: np.ndarray, meta, videos: probes.Videos, cfg: dict,
                      seed: int, pair: str) -> dict[str, np.ndarray]:
    """Per-segment attention weights of each modality of one (audio, video) pair, fitted on
    the training videos with a seed of its own (so the frozen pair's weights never depend on
    the trained models). A pair of different spaces (the frozen features) is first mapped
    into a shared one."""
    seed = probes.derive_seed(seed, "attention", pair)
    if xa.shape != xv.shape:
        xa, xv = attention_pool.shared_space(xa, xv, meta.video_id, meta.split,
                                             **cfg["shared_space"], seed=seed)
    wa, wv = attention_pool.segment_weights(xa, xv, meta.video_id, videos.ids, videos.split,
                                            **cfg["pool"], seed=seed)
    return {"audio": wa, "video": wv}


def main() -> None:
    params = load_params()
    meta = read_meta(SEGMENTS)
    audio, video = (feature_store.load(p, rows=len(meta)) for p in (AUDIO, VIDEO))
    test = meta.split == "test"
    if not test.any():
        raise ValueError(f"{SEGMENTS}: no test segments")
    pool = params["eval"]["rank_pool"]
    cfg = params["probe"]
    names = config_names(params)
    unknown = [n for n in cfg.get("configs", []) if n not in names]
    if unknown:
        raise KeyError(f"probe.configs names {unknown}, not configurations of params.yaml "
                       f"(known: {', '.join(names)})")

    # Table 1: every configuration embeds the test split; those probed embed all rows
    probed = ["main", *[n for n in cfg.get("configs", []) if n != "main"]]
    embedded = {}
    report = {"rank_pool": pool, "configs": {}}
    for name in tqdm(names, desc="retrieval"):
        model = heads.load_trained(name)
        if name in probed:
            embedded[name] = heads.embed(model, audio, video)
            za, zv = embedded[name][0][test], embedded[name][1][test]
        else:
            za, zv = heads.embed(model, audio[test], video[test])
        entry = retrieval.evaluate(za, zv, pool)
        if name == "main":
            report["main"] = entry
        else:
            report["configs"][name] = entry
    report = {"rank_pool": pool, "main": report["main"], "configs": report["configs"]}

    # Table 2: the frozen features and main's embeddings, then the other probed configurations
    videos = probes.video_table(meta.video_id, meta.split, read_index(INDEX), str(INDEX))
    attention = "attention" in cfg.get("compare_aggregates", [])
    jobs = []          # (name, segment vectors, attention weights or None)
    for config in probed:
        za, zv = embedded[config]
        reps = probes.representations(audio, video, za, zv) if config == "main" else \
            {"cl_audio": za, "cl_video": zv, "cl_agg": probes.combine_modalities(za, zv)}
        pairs = {}
        if attention:
            if config == "main":
                pairs["frozen"] = attention_weights(audio, video, meta, videos, cfg["attention"],
                                                    params["seed"], "frozen")
            pairs["cl"] = attention_weights(za, zv, meta, videos, cfg["attention"],
                                            params["seed"], config)
        for rep in reps:
            weights = None
            if attention:
                w = pairs["cl" if rep.startswith("cl_") else "frozen"]
                weights = np.mean([w[m] for m in probes.MODALITIES[rep]], axis=0)
            jobs.append((rep if config == "main" else f"{rep}@{config}", reps[rep], weights))
    scores = {}
    for name, x, weights in tqdm(jobs, desc="probes"):
        scores[name] = probes.probe_aggregations(x, meta.video_id, videos, cfg, params["seed"],
                                                 name, weights)

    REPORTS.mkdir(exist_ok=True)
    write_json(REPORTS / "retrieval.json", report)
    write_json(REPORTS / "probes.json", scores)


if __name__ == "__main__":
    main()
