"""Stage `prepare`: validate every row and probe every file of `data.source`
(mvclr.data.ingest), each file within `decode.timeout_seconds`, into data/index.csv.

Fails only when fewer than `data.min_videos` usable videos remain. What became of every row
is reported by the decode stage (reports/ingest.json).
"""
from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

from tqdm import tqdm

from mvclr.config import load_params
from mvclr.data.index import write_index
from mvclr.data.ingest import build_index, read_metadata
from mvclr.data.media import probe
from mvclr.data.supervise import Supervised
from mvclr.paths import INDEX


def main() -> None:
    params = load_params()
    data = params["data"]
    source = Path(data["source"])
    try:
        total = len(read_metadata(source))
    except (FileNotFoundError, ValueError) as e:   # no usable metadata.csv at all
        sys.exit(f"prepare: {e}")
    with tqdm(total=total, desc="prepare", unit="video") as bar, \
            Supervised(probe, params["decode"]["timeout_seconds"]) as budgeted_probe:
        def progress(row):
            bar.update()
            if row["status"] != "ok":
                tqdm.write(f"skipped {row['video_id'] or '<no id>'} ({source / row['path']}): "
                           f"{row['reason']}{': ' + row['detail'] if row['detail'] else ''}",
                           file=sys.stderr)
        rows = build_index(source, params["decode"]["segment_seconds"], progress, budgeted_probe)
    usable = sum(r["status"] == "ok" for r in rows)
    reasons = dict(Counter(r["reason"] for r in rows if r["status"] != "ok"))
    if usable < data["min_videos"]:
        sys.exit(f"prepare: only {usable} usable video(s) among {len(rows)} rows of {source} "
                 f"(data.min_videos = {data['min_videos']}); skipped: {reasons}")
    write_index(rows, INDEX)
    print(f"prepare: {usable} of {len(rows)} videos usable, skipped {reasons or 'none'}")


if __name__ == "__main__":
    main()
