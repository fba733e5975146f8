"""Stage `evaluate`: Table 1 (cross-modal median ranks of every configuration) and Table 2
(MLP probes of the six representations) -> reports/retrieval.json, reports/probes.json,
reports/tables.md."""
from __future__ import annotations

import json
from pathlib import Path

from tqdm import tqdm

from stages import feature_store, heads, probes, retrieval, tables
from stages.config import config_names, load_params
from stages.ingest import read_index
from stages.segment_store import read_meta

SEGMENTS = Path("data/segments.h5")
INDEX = Path("data/index.csv")
AUDIO = Path("features/audio.zarr")
VIDEO = Path("features/video.zarr")
MODELS = Path("models")
REPORTS = Path("reports")


def load_model(name: str):
    path = MODELS / f"{name}.pt"
    if not path.exists():
        raise FileNotFoundError(f"{path}: no trained model for configuration {name!r} (run stage train)")
    return heads.load(path)


def write_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=2) + "\n")


def main() -> None:
    params = load_params()
    meta = read_meta(SEGMENTS)
    audio, video = (feature_store.load(p, rows=len(meta)) for p in (AUDIO, VIDEO))
    test = meta.split == "test"
    if not test.any():
        raise ValueError(f"{SEGMENTS}: no test segments")
    pool = params["eval"]["rank_pool"]

    # Table 1: every configuration embeds the test split; main also embeds all rows for Table 2
    za, zv = heads.embed(load_model("main"), audio, video)
    report = {"rank_pool": pool, "main": retrieval.evaluate(za[test], zv[test], pool), "configs": {}}
    for name in tqdm([n for n in config_names(params) if n != "main"], desc="retrieval"):
        za_c, zv_c = heads.embed(load_model(name), audio[test], video[test])
        report["configs"][name] = retrieval.evaluate(za_c, zv_c, pool)

    # Table 2
    cfg = params["probe"]
    videos = probes.video_table(meta.video_id, meta.split, read_index(INDEX), str(INDEX))
    reps = probes.representations(audio, video, za, zv)
    scores = {}
    for name in tqdm(probes.REPRESENTATIONS, desc="probes"):
        x = probes.aggregate(reps[name], meta.video_id, videos.ids, cfg["aggregate"])
        scores[name] = probes.probe_representation(x, videos, cfg, params["seed"], name)

    REPORTS.mkdir(exist_ok=True)
    write_json(REPORTS / "retrieval.json", report)
    write_json(REPORTS / "probes.json", scores)
    (REPORTS / "tables.md").write_text(tables.render(report, scores))


if __name__ == "__main__":
    main()
