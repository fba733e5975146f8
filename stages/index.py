"""Stage `index`: a FAISS index of every video's vector per representation, for `mvclr similar`
(mvclr.evaluation.indexing) -> index/<representation>/, index/labels.csv, index/manifest.json.
The stores are read by blocks; main's embeddings and the video vectors go to a scratch directory
($TMPDIR) removed at the end."""
from __future__ import annotations

import shutil
import tempfile

from mvclr.config import load_params
from mvclr.data.index import read_index
from mvclr.evaluation.indexing import build_indexes
from mvclr.evaluation.videos import video_table
from mvclr.features.paired import PairedStores
from mvclr.paths import INDEX, VIDEO_INDEX


def main() -> None:
    params = load_params()
    stores = PairedStores()
    videos = video_table(stores.layout.ids, stores.layout.split, read_index(INDEX), str(INDEX))
    shutil.rmtree(VIDEO_INDEX, ignore_errors=True)
    VIDEO_INDEX.mkdir(parents=True)
    with tempfile.TemporaryDirectory(prefix="mvclr-index-") as scratch:
        record = build_indexes(params, stores, videos, VIDEO_INDEX, scratch)
    print(f"index: {record['videos']} videos, {len(record['representations'])} representations "
          f"({record['aggregate']} of segment vectors) in {VIDEO_INDEX}/")


if __name__ == "__main__":
    main()
