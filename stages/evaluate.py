"""Stage `evaluate`: Table 1 (median ranks of every configuration) and Table 2 (MLP probes)
-> reports/retrieval.json, reports/probes.json (mvclr.evaluation.experiment). The tables
stage renders them."""
from __future__ import annotations

import json

from mvclr.config import load_params
from mvclr.data.index import read_index
from mvclr.evaluation.experiment import probe_report, probed_configs, retrieval_report
from mvclr.evaluation.videos import video_table
from mvclr.features.paired import load_paired
from mvclr.paths import INDEX, PROBES, RETRIEVAL


def main() -> None:
    params = load_params()
    features = load_paired()
    retrieval, embedded = retrieval_report(params, features, probed_configs(params))
    videos = video_table(features.meta.video_id, features.meta.split, read_index(INDEX), str(INDEX))
    probes = probe_report(params, features, videos, embedded)
    for path, report in ((RETRIEVAL, retrieval), (PROBES, probes)):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
