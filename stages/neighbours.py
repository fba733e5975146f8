"""Stage `neighbours`: the nearest-neighbour report of RQ2 (mvclr.reporting.neighbour_report)
-> reports/neighbours.html (one offline page: frames and audio of the analysis window of every
item, from data/segments.h5), reports/neighbours.json (label agreement against chance). The
stores are read by blocks; the test rows' vectors go to a scratch directory ($TMPDIR) removed at
the end."""
from __future__ import annotations

import json
import tempfile

from mvclr.config import load_params
from mvclr.data.index import read_index
from mvclr.evaluation.videos import video_table
from mvclr.features import store
from mvclr.features.paired import PairedStores
from mvclr.paths import INDEX, NEIGHBOURS_HTML, NEIGHBOURS_JSON, SEGMENTS, VIDEO
from mvclr.reporting.neighbour_report import build
from mvclr.reporting.page import render


def main() -> None:
    params = load_params()
    stores = PairedStores()
    test = stores.layout.videos_of("test")
    videos = video_table(stores.layout.ids[test], stores.layout.split[test], read_index(INDEX),
                         str(INDEX))
    weights = store.attrs(VIDEO).get("weights", "unknown")
    with tempfile.TemporaryDirectory(prefix="mvclr-neighbours-") as scratch:
        page, metrics = build(params, stores, videos, SEGMENTS, weights, scratch)
    NEIGHBOURS_HTML.parent.mkdir(parents=True, exist_ok=True)
    NEIGHBOURS_HTML.write_text(render(page), encoding="utf-8")
    NEIGHBOURS_JSON.write_text(json.dumps(metrics, indent=2) + "\n")
    print(f"neighbours: {NEIGHBOURS_HTML} ({NEIGHBOURS_HTML.stat().st_size / 1e6:.1f} MB, "
          f"{len(page.media)} media items), {NEIGHBOURS_JSON}")


if __name__ == "__main__":
    main()
