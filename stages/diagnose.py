"""Stage `diagnose`: why each trained configuration aligns or not, on the test split
(mvclr.evaluation.diagnosis) -> reports/diagnostics.json, and plots under reports/diagnostics/:
similarities.png (histograms of the cosine similarities of partners, of other segments of the
partner's video and of other videos, per configuration) and val_median_rank.png (validation
median rank per epoch from reports/train/<config>.csv, against chance). The stores are read by
blocks; the test rows' vectors go to a scratch directory ($TMPDIR) removed at the end."""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

from mvclr.config import load_params
from mvclr.evaluation.diagnosis import chance_median_rank, diagnose_all
from mvclr.evaluation.embedded import split_counts
from mvclr.features.paired import PairedStores
from mvclr.paths import DIAGNOSTIC_PLOTS, DIAGNOSTICS
from mvclr.reporting.plots import plot_curves, plot_similarities


def main() -> None:
    params = load_params()
    stores = PairedStores()
    with tempfile.TemporaryDirectory(prefix="mvclr-diagnose-") as scratch:
        report, histograms, curves = diagnose_all(params, stores, Path(scratch))
    DIAGNOSTIC_PLOTS.mkdir(parents=True, exist_ok=True)
    plot_similarities(DIAGNOSTIC_PLOTS / "similarities.png", histograms, report["configs"])
    n_val = int(split_counts(stores.layout, "val").sum())
    plot_curves(DIAGNOSTIC_PLOTS / "val_median_rank.png", curves,
                chance_median_rank(n_val, params["eval"]["rank_pool"]))
    DIAGNOSTICS.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
