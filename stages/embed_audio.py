"""Stage `embed_audio`: musicnn (`features.audio.runtime`: torch or tensorflow) over the
analysis window of every segment of data/segments.h5 -> features/audio.zarr
(mvclr.features.embedding).

    python -m stages.embed_audio [--shard i/n]
"""
from __future__ import annotations

from mvclr.config import load_params
from mvclr.features.musicnn_runtime import audio_backbone
from mvclr.features.embedding import embed, shard_argument
from mvclr.paths import AUDIO, SEGMENTS


def main(argv: list[str] | None = None) -> None:
    shard = shard_argument(__doc__, argv)
    params = load_params()
    embed("audio", audio_backbone(params), params, SEGMENTS, AUDIO, shard=shard)


if __name__ == "__main__":
    main()
