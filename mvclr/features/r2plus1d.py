"""R(2+1)D-18 (Tran et al. 2018) from torchvision, frozen: the 512-d vector before `fc`,
with the preprocessing of its Kinetics-400 weight set (resize 128x171, centre crop 112,
Kinetics mean/std).

Weights policy (`features.video.weights`):
  kinetics400  the Kinetics-400 weights, from the torch hub cache or downloaded; an error
               saying where to place the file when neither works
  auto         those weights when obtainable, else random init, announced loudly and
               recorded in the store's attributes
  none         random init, seeded (tests, offline runs)

On a GPU: bfloat16 autocast (features within cosine 0.999 of float32's, row by row), the
network and its input in channels_last_3d, frames handed over through reusable pinned buffers
and preprocessed on the device, a batch size from the device's memory (mvclr.features.device).
"""
from __future__ import annotations

import sys
import warnings
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import torch
import torchvision
from torchvision.models.video import R2Plus1D_18_Weights, r2plus1d_18

from mvclr.features.device import PinnedStaging, cuda_batch_size, torch_device

WEIGHTS = R2Plus1D_18_Weights.KINETICS400_V1
POLICIES = ("kinetics400", "auto", "none")
DIM = 512


class WeightsUnavailable(RuntimeError):
    pass


def weight_file() -> Path:
    """Where torch hub looks for (and downloads) the Kinetics-400 weights."""
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(urlparse(WEIGHTS.url).path).name


def load_kinetics(model: torch.nn.Module) -> None:
    """Load the Kinetics-400 weights, cached or downloaded, into `model`, or raise
    WeightsUnavailable saying where to place the file."""
    try:
        model.load_state_dict(WEIGHTS.get_state_dict(progress=False, check_hash=True))
    except Exception as error:
        raise WeightsUnavailable(
            f"the R(2+1)D-18 Kinetics-400 weights could not be loaded "
            f"({type(error).__name__}: {error}). Download {WEIGHTS.url} where there is internet "
            f"and place it at {weight_file()} (torch hub cache: $TORCH_HOME/hub/checkpoints, "
            f"default ~/.cache/torch/hub/checkpoints)") from error


def random_model(seed: int) -> torch.nn.Module:
    with torch.random.fork_rng(devices=[]):          # seeded init, global RNG untouched
        torch.manual_seed(seed)
        return r2plus1d_18(weights=None)


class R2Plus1DBackbone:
    def __init__(self, weights: str = "auto", seed: int = 0, device: str | None = None,
                 batch_size: int = 8, bf16: bool | None = None, frames: int = 16):
        """`batch_size` on the CPU (a GPU's is chosen from its memory, for clips of `frames`);
        `bf16`: bfloat16 autocast, by default on CUDA only."""
        if weights not in POLICIES:
            raise ValueError(f"features.video.weights={weights!r}: choose one of "
                             f"{', '.join(POLICIES)}")
        self.device = torch_device(device)
        model = random_model(seed)
        self.weights, self.weights_note = f"random init (seed {seed})", ""
        if weights != "none":
            try:
                load_kinetics(model)
                self.weights = "kinetics400"
            except WeightsUnavailable as error:
                if weights == "kinetics400":
                    raise WeightsUnavailable(f"{error}; or set features.video.weights to auto "
                                             "or none (random init)") from error
                model = random_model(seed)                # nothing half-loaded
                self.weights_note = f"kinetics400 unavailable, fell back to random init: {error}"
                banner = "!" * 78
                print(f"\n{banner}\nR(2+1)D-18: RANDOM INIT (seed {seed}), NOT KINETICS-400.\n"
                      f"{error}\n{banner}\n", file=sys.stderr, flush=True)
                warnings.warn(f"R(2+1)D-18 runs with random weights: {error}", stacklevel=2)
        model.fc = torch.nn.Identity()
        cuda = self.device.type == "cuda"
        self.model = model.eval().requires_grad_(False).to(self.device)
        if cuda:
            self.model = self.model.to(memory_format=torch.channels_last_3d)
        self.transforms = WEIGHTS.transforms()
        self.bf16 = cuda if bf16 is None else bf16
        self.dim = DIM
        self.staging = PinnedStaging(self.device) if cuda else None
        self.batch_size = batch_size if not cuda else cuda_batch_size(
            lambda rows: self.forward(torch.zeros(rows, 3, frames, 112, 112, device=self.device)),
            self.device, cap=256)

    @classmethod
    def from_params(cls, params: dict, device: str | None = None) -> "R2Plus1DBackbone":
        """The backbone `features.video` and `seed` describe."""
        video = params["features"]["video"]
        return cls(video["weights"], seed=params["seed"], device=device,
                   batch_size=video["batch_size"], frames=video["frames"])

    def prepare(self, frames: np.ndarray):
        """Reader thread: uint8 RGB frames [B, T, H, W, 3] -> normalised clips
        [B, 3, T, 112, 112] (CPU), or the frames in a pinned buffer (GPU)."""
        if self.staging is not None:
            return self.staging.stage(frames)
        return self._preprocess(torch.from_numpy(np.ascontiguousarray(frames)))

    def _preprocess(self, frames: torch.Tensor) -> torch.Tensor:
        return self.transforms(frames.permute(0, 1, 4, 2, 3))

    @torch.inference_mode()
    def forward(self, clips) -> np.ndarray:
        """Prepared clips -> features [B, 512] float32."""
        if isinstance(clips, tuple):                         # staged frames: to the device
            clips = self._preprocess(self.staging.to_device(clips))
        if self.device.type == "cuda":
            clips = clips.contiguous(memory_format=torch.channels_last_3d)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            out = self.model(clips)
        return out.float().cpu().numpy()

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        return self.forward(self.prepare(frames))

    def info(self) -> dict:
        device = (f"cuda ({torch.cuda.get_device_name(self.device)})"
                  if self.device.type == "cuda" else "cpu")
        device += ", bfloat16 autocast" if self.bf16 else ""
        return {
            "backbone": "r2plus1d_18",
            "weights": self.weights,
            "weights_note": self.weights_note,
            "layers": ["avgpool (512-d, before fc)"],
            "preprocessing": repr(self.transforms).replace("\n", ""),
            "device": device,
            "versions": {"torch": torch.__version__, "torchvision": torchvision.__version__,
                         "numpy": np.__version__},
        }
