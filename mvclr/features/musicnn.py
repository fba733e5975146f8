"""musicnn (Pons & Serra 2019) from its wheel: the package's own TensorFlow graph and
checkpoint, fed batches of log-mel patches computed as `musicnn.extractor` computes them.

The one deliberate difference from the extractor: it rounds the mel to float16 and takes
log10(10000 * mel + 1) in float16, so any mel bin above ~6.55 overflows to inf and the
pooled features of loud audio come out inf/NaN or absurd (its taggram stays finite, which
hides it). Here the extractor's float16 arithmetic is kept wherever it is finite (quiet
audio gives the extractor's very inputs; a float32 logarithm everywhere would differ by
float16 rounding, up to ~1.4e-3 of the feature scale) and the bins that would overflow are
computed in float32.

This is the only module of the project that imports TensorFlow.
"""
from __future__ import annotations

import os
import warnings
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

os.environ["TF_USE_LEGACY_KERAS"] = "1"          # tf.compat.v1.layers need tf-keras
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

try:    # loaded after TensorFlow, triton's libtriton (torchvision, torch.compile) segfaults
    import triton._C.libtriton  # noqa: E402,F401
except ImportError:
    pass
import librosa  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import musicnn  # noqa: E402
from musicnn import configuration, models  # noqa: E402

SAMPLE_RATE = configuration.SR
MODELS = ("MTT_musicnn", "MSD_musicnn")
# Per-patch vectors of `models.build_musicnn`, by the extractor's names.
LAYERS = {"max_pool": 7, "mean_pool": 6, "penultimate": 8, "taggram": 0}


def patch_frames(seconds: float) -> int:
    """Mel frames of a patch of `seconds`, as the extractor computes it (3 s: 187)."""
    return int(librosa.time_to_frames(seconds, sr=SAMPLE_RATE, n_fft=configuration.FFT_SIZE,
                                      hop_length=configuration.FFT_HOP)) + 1


def log_mel(audio: np.ndarray, seconds: float = 3.0) -> np.ndarray:
    """Log-mel patches [B, frames, 96] of 16 kHz windows [B, samples] of `seconds`."""
    audio = np.asarray(audio, dtype=np.float32)
    frames = patch_frames(seconds)
    mel = librosa.feature.melspectrogram(
        y=audio, sr=SAMPLE_RATE, hop_length=configuration.FFT_HOP,
        n_fft=configuration.FFT_SIZE, n_mels=configuration.N_MELS)
    mel = np.swapaxes(mel, -1, -2)[..., :frames, :]
    if mel.shape[-2] < frames:
        raise ValueError(f"audio windows of {audio.shape[-1]} samples give {mel.shape[-2]} mel "
                         f"frames, a {seconds} s patch needs {frames} (at {SAMPLE_RATE} Hz)")
    # the extractor's float16 arithmetic wherever it is finite, float32 where it overflows
    mel16 = mel.astype(np.float16)
    with np.errstate(over="ignore"):
        log16 = np.log10(np.float16(10000) * mel16 + np.float16(1))
        log32 = np.log10(np.float32(10000) * mel.astype(np.float32) + np.float32(1))
    return np.where(np.isfinite(log16), log16.astype(np.float32), log32).astype(np.float32)


class MusicnnBackbone:
    """One TF graph and session for the life of the object; `forward` runs a batch."""

    def __init__(self, model: str = "MTT_musicnn", layers=("max_pool", "mean_pool"),
                 seconds: float = 3.0):
        if model not in MODELS:
            raise ValueError(f"features.audio.model={model!r}: choose one of {', '.join(MODELS)}")
        layers = list(layers)
        unknown = [name for name in layers if name not in LAYERS]
        if unknown or not layers:
            raise ValueError(f"features.audio.layers={layers}: choose from {', '.join(LAYERS)}")
        checkpoint = Path(musicnn.__file__).parent / model
        if not (checkpoint / ".index").exists():
            raise FileNotFoundError(f"musicnn checkpoint of {model} not found in {checkpoint} "
                                    "(reinstall the musicnn wheel)")
        labels = configuration.MTT_LABELS if model.startswith("MTT") else configuration.MSD_LABELS
        self.model, self.layers, self.seconds = model, layers, seconds
        self.frames = patch_frames(seconds)
        self.graph = tf.Graph()
        with self.graph.as_default(), warnings.catch_warnings():
            warnings.simplefilter("ignore")          # tf.compat.v1.layers deprecation notices
            self.x = tf.compat.v1.placeholder(tf.float32, [None, self.frames, configuration.N_MELS])
            with tf.name_scope("model"):             # as the extractor builds it
                outputs = models.define_model(self.x, False, model, len(labels))
            vectors = [tf.nn.sigmoid(outputs[0]) if name == "taggram" else outputs[LAYERS[name]]
                       for name in layers]
            self.output = tf.concat(vectors, axis=1)
            self.session = tf.compat.v1.Session(graph=self.graph)
            tf.compat.v1.train.Saver().restore(self.session, str(checkpoint) + "/")
        self.dim = int(self.output.shape[1])
        gpus = tf.config.list_physical_devices("GPU")
        self.device = f"gpu ({gpus[0].name})" if gpus else "cpu"

    @classmethod
    def from_params(cls, params: dict) -> "MusicnnBackbone":
        """The backbone `features.audio` and `decode.window_seconds` describe."""
        audio = params["features"]["audio"]
        return cls(audio["model"], audio["layers"], seconds=params["decode"]["window_seconds"])

    def prepare(self, audio: np.ndarray) -> np.ndarray:
        """CPU side: windows [B, samples] float32 at 16 kHz -> log-mel patches."""
        return log_mel(audio, self.seconds)

    def forward(self, patches: np.ndarray) -> np.ndarray:
        """Log-mel patches [B, frames, 96] -> features [B, dim] float32."""
        return self.session.run(self.output, {self.x: patches}).astype(np.float32, copy=False)

    def __call__(self, audio: np.ndarray) -> np.ndarray:
        return self.forward(self.prepare(audio))

    def info(self) -> dict:
        return {
            "backbone": "musicnn",
            "model": self.model,
            "weights": f"{self.model} checkpoint of the musicnn {_version('musicnn')} package",
            "layers": self.layers,
            "device": self.device,
            "versions": {"tensorflow": tf.__version__, "librosa": librosa.__version__,
                         "musicnn": _version("musicnn"), "numpy": np.__version__},
        }

    def close(self) -> None:
        self.session.close()


def _version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "unknown"
