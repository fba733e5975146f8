"""Stage `decode`: the segments of every usable video of data/index.csv into the segment store
(data/segments.h5 over the shards in data/segments/; mvclr.data.decoding, mvclr.data.shards),
and the ingest report: what became of every row (reports/ingest.json). The units run on the
executor `compute.executor` names (local processes, or Ray tasks: mvclr.compute)."""
from __future__ import annotations

import json
import sys

from mvclr.compute.cluster import executor_name
from mvclr.config import load_params
from mvclr.data import decoding, executors, shards
from mvclr.data.index import read_index, summary
from mvclr.data.layout import Layout
from mvclr.paths import INDEX, INGEST, SEGMENTS, SHARD_MEMO, SHARDS


def main() -> None:
    params = load_params()
    dec, layout = params["decode"], Layout.from_params(params)
    rows = read_index(INDEX)
    jobs = decoding.jobs(rows, params["data"]["source"], params["seed"], dec["segments"],
                         dec["segment_seconds"])
    units = decoding.plan(jobs, layout, dec["unit_videos"])
    report = shards.build(units, SEGMENTS, SHARDS, {**layout.attrs(), "seed": params["seed"]},
                          timeout_seconds=dec["timeout_seconds"], workers=dec["workers"],
                          executor=executors.named(executor_name(params)), memo=SHARD_MEMO)
    failed = report.pop("failed")
    INGEST.parent.mkdir(parents=True, exist_ok=True)
    INGEST.write_text(json.dumps(summary(rows, failed, report), indent=2) + "\n")
    shard = report["shards"]
    print(f"decode: {report['videos']} videos, {report['segments']} segments -> {SEGMENTS} "
          f"({len(units)} shards in {SHARDS}: {shard['kept']} kept, {shard['written']} written); "
          f"{report['decoded_videos']} videos decoded, {report['copied_videos']} copied from "
          f"earlier shards; {len(failed)} failed, see {INGEST}")
    if report["videos"] == 0:
        sys.exit("decode: no video could be decoded; see the messages above")


if __name__ == "__main__":
    main()
