"""Stage `evaluate`: Table 1 (median ranks of every configuration) and Table 2 (MLP probes)
-> reports/retrieval.json, reports/probes.json (mvclr.evaluation.experiment). The tables
stage renders them. The stores are read by blocks; per-segment embeddings go to a scratch
directory (the system's temporary directory, $TMPDIR) that is removed at the end."""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

from mvclr.config import load_params
from mvclr.data.index import read_index
from mvclr.evaluation.experiment import embed_configs, probe_report, probed_configs, retrieval_report
from mvclr.evaluation.videos import video_table
from mvclr.features.paired import PairedStores
from mvclr.paths import INDEX, PROBES, RETRIEVAL


def main() -> None:
    params = load_params()
    stores = PairedStores()
    videos = video_table(stores.layout.ids, stores.layout.split, read_index(INDEX), str(INDEX))
    with tempfile.TemporaryDirectory(prefix="mvclr-evaluate-") as scratch:
        test, embedded = embed_configs(params, stores, probed_configs(params), Path(scratch))
        retrieval = retrieval_report(params, stores, test)
        probes = probe_report(params, stores, videos, embedded, Path(scratch))
    for path, report in ((RETRIEVAL, retrieval), (PROBES, probes)):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
