"""Stage `scan` (always run): what each row of `data.source`/metadata.csv points at, checked
with the file system alone and fingerprinted by content (mvclr.data.scan), into data/files.csv.

DVC hashes this table rather than the folder of videos: it changes only when a listed file's
content or metadata.csv changes, so only then does prepare (and what follows) re-run. An
unchanged file costs one stat (fingerprints memoised in cache/files.sqlite).
"""
from __future__ import annotations

import sys
import time
from collections import Counter

from tqdm import tqdm

from mvclr.config import load_params
from mvclr.data import scan
from mvclr.data.memo import Memo
from mvclr.data.metadata import MetadataError, read_metadata
from mvclr.params_schema import ParamsError
from mvclr.paths import FILE_MEMO, FILES


def main() -> None:
    start = time.perf_counter()
    try:
        source = load_params()["data"]["source"]
        rows = read_metadata(source).rows
    except (MetadataError, ParamsError) as e:
        sys.exit(f"scan: {e}")
    hashed = Counter()
    with Memo(FILE_MEMO) as memo, tqdm(desc="scan: hashing", unit="B", unit_scale=True,
                                       delay=2) as bar:
        def progress(size):
            hashed.update(files=1, bytes=size)
            bar.update(size)
        files = scan.scan(source, rows, memo, progress)
    scan.write_files(files, FILES)
    usable = sum(f["status"] == scan.OK for f in files)
    reasons = dict(Counter(f["reason"] for f in files if f["status"] != scan.OK))
    print(f"scan: {usable} of {len(files)} rows name a usable file, skipped {reasons or 'none'}; "
          f"{hashed['files']} file(s) hashed ({hashed['bytes'] / 1e6:.1f} MB), the others known "
          f"by their stat -> {FILES} ({time.perf_counter() - start:.1f} s)")


if __name__ == "__main__":
    main()
