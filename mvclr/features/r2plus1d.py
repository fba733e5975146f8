"""R(2+1)D-18 (Tran et al. 2018) from torchvision, frozen: the 512-d vector before `fc`,
with the preprocessing of its Kinetics-400 weight set (resize 128x171, centre crop 112,
Kinetics mean/std).

Weights policy (`features.video.weights`):
  kinetics400  the Kinetics-400 weights, from the torch hub cache or downloaded; an error
               saying where to place the file when neither works
  auto         those weights when obtainable, else random init, announced loudly and
               recorded in the store's attributes
  none         random init, seeded (tests, offline runs)
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
    def __init__(self, weights: str = "auto", seed: int = 0, device: str | None = None):
        if weights not in POLICIES:
            raise ValueError(f"features.video.weights={weights!r}: choose one of "
                             f"{', '.join(POLICIES)}")
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
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
        self.model = model.eval().requires_grad_(False).to(self.device)
        self.transforms = WEIGHTS.transforms()
        self.amp = self.device.type == "cuda"         # mixed precision for the CNN on CUDA
        self.dim = DIM

    @classmethod
    def from_params(cls, params: dict) -> "R2Plus1DBackbone":
        """The backbone `features.video` and `seed` describe."""
        return cls(params["features"]["video"]["weights"], seed=params["seed"])

    def prepare(self, frames: np.ndarray) -> torch.Tensor:
        """uint8 RGB frames [B, T, H, W, 3] -> normalised clips [B, 3, T, 112, 112] on the device."""
        clips = torch.from_numpy(np.ascontiguousarray(frames))
        if self.device.type == "cuda":
            clips = clips.pin_memory().to(self.device, non_blocking=True)
        return self.transforms(clips.permute(0, 1, 4, 2, 3))

    @torch.inference_mode()
    def forward(self, clips: torch.Tensor) -> np.ndarray:
        """Prepared clips -> features [B, 512] float32."""
        with torch.autocast(self.device.type, dtype=torch.float16, enabled=self.amp):
            out = self.model(clips)
        return out.float().cpu().numpy()

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        return self.forward(self.prepare(frames))

    def info(self) -> dict:
        device = (f"cuda ({torch.cuda.get_device_name(self.device)}), float16 autocast"
                  if self.device.type == "cuda" else "cpu")
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
