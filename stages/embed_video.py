"""Stage `embed_video`: R(2+1)D-18 over the analysis window of every segment of
data/segments.h5 -> features/video.zarr (mvclr.features.embedding), here or on Ray actors
(`compute.executor`: mvclr.compute.embed).

    python -m stages.embed_video [--shard i/n]
"""
from __future__ import annotations

from functools import partial

from mvclr.compute import embed
from mvclr.config import load_params
from mvclr.features.embedding import shard_argument
from mvclr.features.r2plus1d import R2Plus1DBackbone
from mvclr.paths import SEGMENTS, VIDEO


def main(argv: list[str] | None = None) -> None:
    shard = shard_argument(__doc__, argv)
    params = load_params()
    embed.run(params, "video", partial(R2Plus1DBackbone.from_params, params), SEGMENTS, VIDEO,
              shard)


if __name__ == "__main__":
    main()
