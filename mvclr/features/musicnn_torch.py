"""musicnn in PyTorch: `musicnn.models.build_musicnn` (front-end 1.6, mid-end 64 filters,
back-end 200 units) rebuilt layer by layer for inference, with the trained tensors of the
wheel's own checkpoint (mvclr.features.musicnn_wheel, no TensorFlow), and the log-mel computed
on the device (mvclr.features.mel; on the CPU the reader thread computes the reference
log-mel). Equal to the TensorFlow graph within 1e-5 relative (tests/test_musicnn_port.py).

What the graph does, and this module reproduces (NCHW here, NHWC there; H = 187 time
frames, W = 96 mel bands):
  input batch norm (1 channel); every batch norm uses the moving statistics, epsilon 1e-3;
  timbral: time padded 3+3, conv [7, 38] and [7, 67] (204 filters, valid), each
    conv -> ReLU -> batch norm -> max over the remaining frequency positions;
  temporal: conv [128|64|32, 1] (51 filters) with TF's `same` padding, which for an even
    kernel k pads k/2 - 1 before and k/2 after, then ReLU -> batch norm -> max over frequency;
  front-end = concat(timbral 74, timbral 77, temporal 128, 64, 32) = 561 channels per frame;
  mid-end: three conv [7, C] over (time, channels) with 64 filters, time padded 3+3, each
    conv -> ReLU -> batch norm; the 2nd and 3rd add their input (residual); features =
    concat(front-end, mid 1, 2, 3) = 753 per frame;
  back-end: max_pool and mean_pool over time (753 each); the dense input is their
    interleaving [max_0, mean_0, max_1, mean_1, ...] (TF concatenates [753, 1] pairs on the
    last axis and flattens); batch norm -> dense 200 -> ReLU -> batch norm = penultimate;
    dense 50 = logits, taggram = sigmoid(logits). Dropout is off at inference.
Kernels: conv HWIO -> OIHW is permute(3, 2, 0, 1); a mid-end kernel [7, C, 1, 64] is a
conv1d over C channels, [64, C, 7]; dense kernels [in, out] are used as x @ W.

Two rearrangements, for speed on CPU. A timbral conv [7, k] over one input channel is computed
as a conv [1, k] over the 7 time-shifted copies of its input stacked as channels (the same
sums; oneDNN is faster with several input channels). The front-end's max over frequency is
taken before its batch norm.
The batch norm is a per-channel affine map after a ReLU, so max_f(bn(relu(v))) =
bn(relu(max_f v)) where its scale is >= 0 and bn(relu(min_f v)) where it is < 0; min_f v is
computed as -max_f of the conv with negated filters (negation is exact), so the values are
those of the layer order above without normalising the full [B, C, T, F] maps.
"""
from __future__ import annotations

import librosa
import numpy as np
import torch
import torch.nn.functional as F

from mvclr.features import musicnn_wheel as wheel
from mvclr.features.device import PinnedStaging, cuda_batch_size, torch_device
from mvclr.features.mel import SAMPLE_RATE, log_mel, log_mel_torch

EPSILON = 1e-3                # tf.compat.v1.layers.batch_normalization's default
# (conv, batch norm, time padding before/after) of the front-end, in concatenation order
FRONT_END = (("conv2d", "batch_normalization_1", (3, 3)),            # timbral [7, 38]
             ("conv2d_1", "batch_normalization_2", (3, 3)),          # timbral [7, 67]
             ("conv2d_2", "batch_normalization_3", (63, 64)),        # temporal [128, 1]
             ("conv2d_3", "batch_normalization_4", (31, 32)),        # temporal [64, 1]
             ("conv2d_4", "batch_normalization_5", (15, 16)))        # temporal [32, 1]
MID_END = (("conv2d_5", "batch_normalization_6"), ("conv2d_6", "batch_normalization_7"),
           ("conv2d_7", "batch_normalization_8"))


def _norm(t: dict, name: str) -> tuple[torch.Tensor, torch.Tensor]:
    """A batch norm at inference as scale and shift: x * scale + shift."""
    gamma, beta, mean, var = (torch.from_numpy(t[f"{name}/{k}"]) for k in
                              ("gamma", "beta", "moving_mean", "moving_variance"))
    scale = gamma / torch.sqrt(var + EPSILON)
    return scale, beta - mean * scale


class FrontEndBlock(torch.nn.Module):
    """conv -> ReLU -> batch norm -> max over frequency: [B, 1, T, 96] -> [B, C, T]."""

    def __init__(self, t: dict, conv: str, norm: str, pad: tuple[int, int]):
        super().__init__()
        self.pad = (0, 0, *pad)
        scale, shift = _norm(t, norm)
        sign = torch.where(scale < 0, -1.0, 1.0)
        kernel = torch.from_numpy(t[f"{conv}/kernel"]).permute(3, 2, 0, 1)     # HWIO -> OIHW
        self.taps = kernel.shape[2] if kernel.shape[3] > 1 else 0
        if self.taps:                       # timbral: time taps as input channels, [C, 7, 1, k]
            kernel = kernel.reshape(kernel.shape[0], self.taps, 1, kernel.shape[3])
        self.register_buffer("kernel", (kernel * sign[:, None, None, None])
                             .contiguous(memory_format=torch.channels_last))
        self.register_buffer("bias", torch.from_numpy(t[f"{conv}/bias"]) * sign)
        self.register_buffer("sign", sign[:, None])
        self.register_buffer("scale", scale[:, None])
        self.register_buffer("shift", shift[:, None])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.pad(x, self.pad)
        if self.taps:                       # [B, 1, T + 6, 96] -> [B, 7, T, 96]
            x = x[:, 0].unfold(1, self.taps, 1).permute(0, 3, 1, 2)
        maps = F.conv2d(x.contiguous(memory_format=torch.channels_last), self.kernel,
                        self.bias)                                 # [B, C, T, F'], C last
        peak = F.max_pool2d(maps, (1, maps.shape[3]))[..., 0]      # [B, C, T]
        return F.relu(peak * self.sign) * self.scale + self.shift


class MidEndBlock(torch.nn.Module):
    """conv over (time, all channels) -> ReLU -> batch norm: [B, C, T] -> [B, 64, T]."""

    def __init__(self, t: dict, conv: str, norm: str):
        super().__init__()
        scale, shift = _norm(t, norm)
        self.register_buffer("kernel", torch.from_numpy(t[f"{conv}/kernel"])[:, :, 0]
                             .permute(2, 1, 0).contiguous())               # [64, C, 7]
        self.register_buffer("bias", torch.from_numpy(t[f"{conv}/bias"]))
        self.register_buffer("scale", scale[:, None])
        self.register_buffer("shift", shift[:, None])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(F.conv1d(F.pad(x, (3, 3)), self.kernel, self.bias)) * self.scale + self.shift


class MusicnnPort(torch.nn.Module):
    """Log-mel patches [B, 187, 96] -> {max_pool, mean_pool, penultimate, taggram}."""

    def __init__(self, t: dict[str, np.ndarray]):
        super().__init__()
        scale, shift = _norm(t, "batch_normalization")
        self.register_buffer("in_scale", scale)
        self.register_buffer("in_shift", shift)
        self.front = torch.nn.ModuleList(FrontEndBlock(t, *layer) for layer in FRONT_END)
        self.mid = torch.nn.ModuleList(MidEndBlock(t, *layer) for layer in MID_END)
        for name, norm in (("pool", "batch_normalization_9"), ("hidden", "batch_normalization_10")):
            scale, shift = _norm(t, norm)
            self.register_buffer(f"{name}_scale", scale)
            self.register_buffer(f"{name}_shift", shift)
        for name, dense in (("hidden", "dense"), ("logits", "dense_1")):
            self.register_buffer(f"{name}_kernel", torch.from_numpy(t[f"{dense}/kernel"]))
            self.register_buffer(f"{name}_bias", torch.from_numpy(t[f"{dense}/bias"]))

    def forward(self, patches: torch.Tensor) -> dict[str, torch.Tensor]:
        x = (patches * self.in_scale + self.in_shift)[:, None]           # [B, 1, T, 96]
        h = torch.cat([block(x) for block in self.front], dim=1)         # [B, 561, T]
        layers = [h]
        for i, block in enumerate(self.mid):
            h = block(h) if i == 0 else block(h) + h                     # residual from mid 2
            layers.append(h)
        features = torch.cat(layers, dim=1)                              # [B, 753, T]
        max_pool, mean_pool = features.amax(dim=2), features.mean(dim=2)
        pooled = torch.stack([max_pool, mean_pool], dim=2).flatten(1)    # interleaved, 1506
        pooled = pooled * self.pool_scale + self.pool_shift
        hidden = F.relu(pooled @ self.hidden_kernel + self.hidden_bias)
        penultimate = hidden * self.hidden_scale + self.hidden_shift
        logits = penultimate @ self.logits_kernel + self.logits_bias
        return {"max_pool": max_pool, "mean_pool": mean_pool, "penultimate": penultimate,
                "taggram": torch.sigmoid(logits)}


class TorchMusicnnBackbone:
    """musicnn through the port: log-mel and network on one torch device, no TensorFlow."""
    runtime = "torch"

    def __init__(self, model: str = "MTT_musicnn", layers=("max_pool", "mean_pool"),
                 seconds: float = 3.0, device: str | None = None, batch_size: int = 64):
        self.layers = wheel.validate(model, layers)
        self.model_name, self.seconds = model, seconds
        self.weights = wheel.weights_description(model)
        self.device = torch_device(device)
        self.model = MusicnnPort(wheel.read_checkpoint(model)).eval().to(self.device)
        self.dim = sum(wheel.LAYERS[name] for name in self.layers)
        self.staging = PinnedStaging(self.device) if self.device.type == "cuda" else None
        self.batch_size = batch_size if self.staging is None else cuda_batch_size(
            lambda rows: self.forward(torch.zeros(rows, int(seconds * SAMPLE_RATE),
                                                  device=self.device)),
            self.device, cap=1024)

    @classmethod
    def from_params(cls, params: dict, device: str | None = None) -> "TorchMusicnnBackbone":
        audio = params["features"]["audio"]
        return cls(audio["model"], audio["layers"], params["decode"]["window_seconds"],
                   device, audio["batch_size"])

    def prepare(self, audio: np.ndarray):
        """Reader thread: windows [B, samples] float32 at 16 kHz -> on a GPU, the windows in a
        pinned buffer (the log-mel is computed on the device); on the CPU, the reference
        log-mel patches (librosa: exact, and faster there than torch's float64 STFT)."""
        if self.staging is not None:
            return self.staging.stage(np.asarray(audio, np.float32))
        return torch.from_numpy(log_mel(audio, self.seconds))

    @torch.inference_mode()
    def forward(self, batch) -> np.ndarray:
        """A prepared batch, or windows [B, samples] already on the device (their log-mel
        computed there) -> features [B, dim] float32."""
        if isinstance(batch, tuple):
            batch = self.staging.to_device(batch)
        if batch.dim() == 2:                                  # windows on the device
            batch = log_mel_torch(batch, self.seconds)
        out = self.model(batch)
        return torch.cat([out[name] for name in self.layers], dim=1).float().cpu().numpy()

    def __call__(self, audio: np.ndarray) -> np.ndarray:
        return self.forward(self.prepare(audio))

    def info(self) -> dict:
        device = (f"cuda ({torch.cuda.get_device_name(self.device)})"
                  if self.device.type == "cuda" else "cpu")
        return {"backbone": "musicnn", "model": self.model_name, "weights": self.weights,
                "layers": self.layers, "runtime": self.runtime, "device": device,
                "versions": {"torch": torch.__version__, "librosa": librosa.__version__,
                             "musicnn": wheel.package_version("musicnn"),
                             "numpy": np.__version__}}
