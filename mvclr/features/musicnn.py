"""musicnn (Pons & Serra 2019) through TensorFlow, the reference runtime
(`features.audio.runtime: tensorflow`): the wheel's own graph (`musicnn.models.define_model`)
and checkpoint, fed batches of log-mel patches computed as `musicnn.extractor` computes them
(mvclr.features.mel). Every requested layer, `penultimate` included, is a graph output run
for the whole batch: the released extractor's stale-array bug (it concatenates the first
batch's `penultimate` and mid-end arrays to every later batch's) is in its Python loop, which
is not used here.

This is the only module of the project that imports TensorFlow; mvclr.features.musicnn_runtime
imports it only for that runtime.
"""
from __future__ import annotations

import os
import warnings

os.environ["TF_USE_LEGACY_KERAS"] = "1"          # tf.compat.v1.layers need tf-keras
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

try:    # loaded after TensorFlow, triton's libtriton (torchvision, torch.compile) segfaults
    import triton._C.libtriton  # noqa: E402,F401
except ImportError:
    pass
import librosa  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from musicnn import configuration, models  # noqa: E402

from mvclr.features import musicnn_wheel as wheel  # noqa: E402
from mvclr.features.mel import log_mel, patch_frames  # noqa: E402

# outputs of `models.build_musicnn` by the extractor's names (taggram: sigmoid of the logits)
OUTPUTS = {"max_pool": 7, "mean_pool": 6, "penultimate": 8, "taggram": 0}


class MusicnnBackbone:
    """One TF graph and session for the life of the object; `forward` runs a batch."""
    runtime = "tensorflow"

    def __init__(self, model: str = "MTT_musicnn", layers=("max_pool", "mean_pool"),
                 seconds: float = 3.0, batch_size: int = 64):
        self.layers = wheel.validate(model, layers)
        checkpoint = wheel.checkpoint_dir(model)
        self.model, self.seconds, self.batch_size = model, seconds, batch_size
        self.weights = wheel.weights_description(model)
        self.frames = patch_frames(seconds)
        self.graph = tf.Graph()
        with self.graph.as_default(), warnings.catch_warnings():
            warnings.simplefilter("ignore")          # tf.compat.v1.layers deprecation notices
            self.x = tf.compat.v1.placeholder(tf.float32, [None, self.frames, configuration.N_MELS])
            with tf.name_scope("model"):             # as the extractor builds it
                outputs = models.define_model(self.x, False, model, len(wheel.labels(model)))
            vectors = [tf.nn.sigmoid(outputs[0]) if name == "taggram" else outputs[OUTPUTS[name]]
                       for name in self.layers]
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
        return cls(audio["model"], audio["layers"], seconds=params["decode"]["window_seconds"],
                   batch_size=audio["batch_size"])

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
            "weights": self.weights,
            "layers": self.layers,
            "runtime": self.runtime,
            "device": self.device,
            "versions": {"tensorflow": tf.__version__, "librosa": librosa.__version__,
                         "musicnn": wheel.package_version("musicnn"), "numpy": np.__version__},
        }

    def close(self) -> None:
        self.session.close()
