"""musicnn through the runtime `features.audio.runtime` names: `torch` (the port, CPU or GPU,
no TensorFlow: mvclr.features.musicnn_torch) or `tensorflow` (the wheel's graph, the
reference: mvclr.features.musicnn). TensorFlow is imported only for the latter."""
from __future__ import annotations

RUNTIMES = ("torch", "tensorflow")


def audio_backbone(params: dict, device: str | None = None):
    """musicnn as `features.audio` and `decode.window_seconds` describe; `device` (torch
    runtime only): by default the first GPU, else the CPU."""
    runtime = params["features"]["audio"]["runtime"]
    if runtime == "torch":
        from mvclr.features.musicnn_torch import TorchMusicnnBackbone
        return TorchMusicnnBackbone.from_params(params, device)
    if runtime == "tensorflow":
        from mvclr.features.musicnn import MusicnnBackbone
        return MusicnnBackbone.from_params(params)
    raise ValueError(f"features.audio.runtime={runtime!r}: choose one of {', '.join(RUNTIMES)}")
