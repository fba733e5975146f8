"""Stage `embed_audio`: musicnn (`features.audio.runtime`: torch or tensorflow) over the
analysis window of every segment of data/segments.h5 -> features/audio.zarr
(mvclr.features.embedding), here or on Ray actors (`compute.executor`: mvclr.compute.embed).

    python -m stages.embed_audio [--shard i/n]
"""
from __future__ import annotations

from functools import partial

from mvclr.compute import embed
from mvclr.config import load_params
from mvclr.features.embedding import shard_argument
from mvclr.features.musicnn_runtime import audio_backbone
from mvclr.paths import AUDIO, SEGMENTS


def main(argv: list[str] | None = None) -> None:
    shard = shard_argument(__doc__, argv)
    params = load_params()
    embed.run(params, "audio", partial(audio_backbone, params), SEGMENTS, AUDIO, shard)


if __name__ == "__main__":
    main()
