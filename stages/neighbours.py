"""Stage `neighbours`: the nearest-neighbour report of RQ2 (mvclr.reporting.neighbour_report)
-> reports/neighbours.html (one offline page: frames and audio of the analysis window of every
item, from data/segments.h5), reports/neighbours.json (label agreement against chance)."""
from __future__ import annotations

import json

from mvclr.config import load_params
from mvclr.data.index import read_index
from mvclr.evaluation.videos import video_table
from mvclr.features import store
from mvclr.features.paired import load_paired
from mvclr.paths import INDEX, NEIGHBOURS_HTML, NEIGHBOURS_JSON, SEGMENTS, VIDEO
from mvclr.reporting.neighbour_report import build
from mvclr.reporting.page import render


def main() -> None:
    params = load_params()
    features = load_paired()
    test = features.rows("test")
    videos = video_table(features.meta.video_id[test], features.meta.split[test],
                         read_index(INDEX), str(INDEX))
    weights = store.attrs(VIDEO).get("weights", "unknown")
    page, metrics = build(params, features, videos, SEGMENTS, weights)
    NEIGHBOURS_HTML.parent.mkdir(parents=True, exist_ok=True)
    NEIGHBOURS_HTML.write_text(render(page), encoding="utf-8")
    NEIGHBOURS_JSON.write_text(json.dumps(metrics, indent=2) + "\n")
    print(f"neighbours: {NEIGHBOURS_HTML} ({NEIGHBOURS_HTML.stat().st_size / 1e6:.1f} MB, "
          f"{len(page.media)} media items), {NEIGHBOURS_JSON}")


if __name__ == "__main__":
    main()
