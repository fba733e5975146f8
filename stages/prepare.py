"""Stage `prepare`: every row of `data.source`/metadata.csv validated with what the scan found
(data/files.csv) and every usable file probed (mvclr.data.ingest), each probe within
`decode.timeout_seconds`, into data/index.csv.

The folder of videos is no DVC dependency (the scan stands for it). Probe outcomes are
memoised by content in cache/probes.sqlite: only files never probed start a probe process.
Fails only when fewer than `data.min_videos` usable videos remain. What became of every row
is reported by the decode stage (reports/ingest.json).
"""
from __future__ import annotations

import os
import sys
from collections import Counter
from pathlib import Path

from tqdm import tqdm

from mvclr.config import load_params
from mvclr.data import ingest, scan
from mvclr.data.index import write_index
from mvclr.data.media import probe
from mvclr.data.memo import Memo
from mvclr.data.metadata import MetadataError, read_metadata
from mvclr.data.supervise import Supervised
from mvclr.params_schema import ParamsError
from mvclr.paths import FILES, INDEX, PROBE_MEMO


def main() -> None:
    try:
        params = load_params()
        data = params["data"]
        source = Path(data["source"])
        metadata = read_metadata(source)
        files = scan.read_files(FILES)
    except (MetadataError, ParamsError) as e:
        sys.exit(f"prepare: {e}")
    except FileNotFoundError:
        sys.exit(f"prepare: {FILES} is missing; run `dvc repro scan`")
    if "genre" not in metadata.columns:
        print(f"prepare: WARNING: {metadata.path} has no genre column: every genre is empty, "
              "so the genre probes will be skipped and the split is not stratified",
              file=sys.stderr)
    with tqdm(total=len(files), desc="prepare", unit="video") as bar, \
            Supervised(probe, params["decode"]["timeout_seconds"]) as budgeted_probe, \
            Memo(PROBE_MEMO, ingest.probe_version()) as memo:
        probes = ingest.Probes(budgeted_probe, memo)
        try:
            rows = ingest.validate(metadata.rows, files, source,
                                   params["decode"]["segment_seconds"], lambda row: bar.update(),
                                   probes)
        except scan.StaleScan as e:     # raised before any probe
            sys.exit(f"prepare: {e}")
    # one line per skipped row, written at once (line by line under the bar: 12 s per 550 000)
    sys.stderr.write("".join(
        f"skipped {r['video_id'] or '<no id>'} ({os.path.join(source, r['path'])}): "
        f"{r['reason']}{': ' + r['detail'] if r['detail'] else ''}\n"
        for r in rows if r["status"] != "ok"))
    usable = sum(r["status"] == "ok" for r in rows)
    reasons = dict(Counter(r["reason"] for r in rows if r["status"] != "ok"))
    if usable < data["min_videos"]:
        sys.exit(f"prepare: only {usable} usable video(s) among {len(rows)} rows of {source} "
                 f"(data.min_videos = {data['min_videos']}); skipped: {reasons}")
    write_index(rows, INDEX)
    print(f"prepare: {usable} of {len(rows)} videos usable, skipped {reasons or 'none'}; "
          f"{probes.probed} file(s) probed, the others known by their content")


if __name__ == "__main__":
    main()
