"""Stage `prepare`: validate every row and file of `data.source`, split by video
(mvclr.data.ingest).

Writes data/index.csv and reports/ingest.json; fails only when fewer than
`data.min_videos` usable videos remain.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from tqdm import tqdm

from mvclr.config import load_params
from mvclr.data.index import summary, write_index
from mvclr.data.ingest import build_index, read_metadata
from mvclr.paths import INDEX, INGEST


def main() -> None:
    params = load_params()
    data = params["data"]
    source = Path(data["source"])
    try:
        total = len(read_metadata(source))
    except (FileNotFoundError, ValueError) as e:   # no usable metadata.csv at all
        sys.exit(f"prepare: {e}")
    with tqdm(total=total, desc="prepare", unit="video") as bar:
        def progress(row):
            bar.update()
            if row["status"] != "ok":
                tqdm.write(f"skipped {row['video_id'] or '<no id>'} ({source / row['path']}): "
                           f"{row['reason']}{': ' + row['detail'] if row['detail'] else ''}",
                           file=sys.stderr)
        rows = build_index(source, params["decode"]["segment_seconds"], data["split"],
                           params["seed"], progress)
    report = summary(rows)
    INGEST.parent.mkdir(parents=True, exist_ok=True)
    INGEST.write_text(json.dumps(report, indent=2) + "\n")
    usable = report["status"].get("ok", 0)
    if usable < data["min_videos"]:
        sys.exit(f"prepare: only {usable} usable video(s) among {len(rows)} rows of {source} "
                 f"(data.min_videos = {data['min_videos']}); skipped: {report['reasons']}; "
                 f"details in {INGEST}")
    write_index(rows, INDEX)
    print(f"prepare: {usable} of {len(rows)} videos usable, splits {report['splits']}, "
          f"skipped {report['reasons'] or 'none'}")


if __name__ == "__main__":
    main()
