"""One GPU worker: both backbones in one process on one torch device — one CUDA context, no
TensorFlow (`features.audio.runtime: torch`) — filling the blocks (of `--shard i/n`) of both
feature stores whose inputs changed or were never computed. Run one per GPU, e.g. with
CUDA_VISIBLE_DEVICES=k and --shard k+1/n; `dvc repro` afterwards finds those blocks done.

    python -m mvclr.features.worker [--shard i/n]
"""
from __future__ import annotations

from mvclr.config import load_params
from mvclr.features.device import torch_device
from mvclr.features.embedding import embed, shard_argument
from mvclr.features.musicnn_runtime import audio_backbone
from mvclr.features.r2plus1d import R2Plus1DBackbone
from mvclr.paths import AUDIO, SEGMENTS, VIDEO


def main(argv: list[str] | None = None) -> None:
    shard = shard_argument(__doc__, argv)
    params = load_params()
    if params["features"]["audio"]["runtime"] != "torch":
        raise SystemExit("features.audio.runtime must be torch for a worker without "
                         "TensorFlow; set it in params.yaml (it re-embeds the audio)")
    device = str(torch_device())
    for modality, backbone, out in (("video", R2Plus1DBackbone.from_params(params, device), VIDEO),
                                    ("audio", audio_backbone(params, device), AUDIO)):
        embed(modality, backbone, params, SEGMENTS, out, shard=shard)


if __name__ == "__main__":
    main()
