"""Stage `split`: the usable videos of data/index.csv into train / val / test by video
(`data.split`, `seed`; mvclr.data.split) -> data/split.csv."""
from __future__ import annotations

from collections import Counter

from mvclr.config import load_params
from mvclr.data.index import read_index
from mvclr.data.split import split_videos, write_split
from mvclr.paths import INDEX, SPLIT


def main() -> None:
    params = load_params()
    rows = read_index(INDEX)
    assigned = split_videos(rows, params["data"]["split"], params["seed"])
    write_split(assigned, SPLIT, [r["video_id"] for r in rows])
    print(f"split: {dict(Counter(assigned.values()))} videos -> {SPLIT}")


if __name__ == "__main__":
    main()
