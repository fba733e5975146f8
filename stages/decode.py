"""Stage `decode`: the segments of every usable video of data/index.csv into data/segments.h5
(mvclr.data.decoding)."""
from __future__ import annotations

import sys

from mvclr.config import load_params
from mvclr.data.decoding import decode_all, plan
from mvclr.data.index import read_index
from mvclr.paths import INDEX, SEGMENTS


def main() -> None:
    params = load_params()
    dec = params["decode"]
    jobs = plan(read_index(INDEX), params["data"]["source"], params["seed"],
                dec["segments"], dec["segment_seconds"])
    failed = decode_all(jobs, SEGMENTS, dec, params["seed"])
    ok = len(jobs) - len(failed)
    print(f"decode: {ok} videos -> {SEGMENTS}; {len(failed)} failed"
          + "".join(f"\n  {f['video_id']}: {f['reason']}" for f in failed))
    if ok == 0:
        sys.exit("decode: no video could be decoded; see the messages above")


if __name__ == "__main__":
    main()
