"""The PyTorch port of musicnn against the wheel's TensorFlow graph, on CPU with reduced
precision off: the checkpoint read without TensorFlow, every layer of both models on generated
and real music (loud and quiet windows), `penultimate` independent of the batch, and a torch
runtime that never imports TensorFlow.

The reference graph runs in a subprocess with TF32 off and TensorFlow's oneDNN custom
operations off (TF_ENABLE_ONEDNN_OPTS=0, read at import): on CPU those are TensorFlow's
reduced-accuracy mode, 8.7e-6 (relative max difference) from a float64 evaluation of the same
network on these signals where TensorFlow's own kernels are 1.5e-6 and the port 1.0e-6 from it.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from fixtures_music import signals
from mvclr.features import mel, musicnn_torch, musicnn_wheel

tf_backbone = pytest.importorskip("mvclr.features.musicnn")

ROOT = Path(__file__).resolve().parents[1]
LAYERS = list(musicnn_wheel.LAYERS)
TOLERANCE = 1e-5              # relative max difference: max |port - graph| / max |graph|


def relative_max_difference(ours: np.ndarray, reference: np.ndarray) -> float:
    return float(np.abs(ours - reference).max() / np.abs(reference).max())


def split(features: np.ndarray) -> dict[str, np.ndarray]:
    bounds = np.cumsum([musicnn_wheel.LAYERS[name] for name in LAYERS])[:-1]
    return dict(zip(LAYERS, np.split(features, bounds, axis=1)))


REFERENCE = """
import sys
import numpy as np
from mvclr.features import musicnn
musicnn.tf.config.experimental.enable_tensor_float_32_execution(False)
patches = np.load(sys.argv[1])["patches"]
out = {}
for model in musicnn.wheel.MODELS:
    graph = musicnn.MusicnnBackbone(model, list(musicnn.wheel.LAYERS))
    out[model] = graph.forward(patches)
    graph.close()
np.savez(sys.argv[2], **out)
"""


@pytest.fixture(scope="module")
def patches():
    return mel.log_mel(signals())


@pytest.fixture(scope="module")
def graph_features(patches, tmp_path_factory):
    """Every layer of both models through the TensorFlow graph at full precision."""
    folder = tmp_path_factory.mktemp("graph")
    np.savez(folder / "patches.npz", patches=patches)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_ENABLE_ONEDNN_OPTS": "0",
           "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", REFERENCE, str(folder / "patches.npz"),
                           str(folder / "graph.npz")], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return dict(np.load(folder / "graph.npz"))


@pytest.fixture(scope="module")
def full_precision():
    """No TF32 or other reduced precision on the torch side either."""
    matmul, cudnn = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    assert torch.get_float32_matmul_precision() == "highest"
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = matmul, cudnn


@pytest.mark.parametrize("model", musicnn_wheel.MODELS)
def test_checkpoint_read_without_tensorflow_is_tensorflows(model):
    ours = musicnn_wheel.read_checkpoint(model)
    reader = tf_backbone.tf.compat.v1.train.NewCheckpointReader(str(musicnn_wheel.checkpoint_dir(model)) + "/")
    names = reader.get_variable_to_shape_map()
    assert set(ours) == set(names) and len(ours) == 150
    for name in names:
        np.testing.assert_array_equal(ours[name], reader.get_tensor(name), err_msg=name)
        assert ours[name].dtype == np.float32


def test_the_graphs_batch_norms_use_epsilon_1e_3():
    """9 fused (4-d inputs: input, front-end, mid-end) and 2 plain (back-end) batch norms."""
    backbone = tf_backbone.MusicnnBackbone("MTT_musicnn", ["taggram"])
    try:
        ops = backbone.graph.get_operations()
        fused = [op.get_attr("epsilon") for op in ops if op.type == "FusedBatchNormV3"]
        plain = [backbone.session.run(op.outputs[0]) for op in ops
                 if op.name.endswith("batchnorm/add/y")]
        assert len(fused) == 9 and len(plain) == 2
        np.testing.assert_allclose(fused + plain, musicnn_torch.EPSILON, rtol=1e-7)
    finally:
        backbone.close()


@pytest.mark.parametrize("model", musicnn_wheel.MODELS)
def test_every_layer_equals_the_tensorflow_graph(model, patches, graph_features, full_precision,
                                                 one_thread):
    reference = split(graph_features[model])
    port = musicnn_torch.TorchMusicnnBackbone(model, LAYERS, device="cpu")
    ours = split(port.forward(torch.from_numpy(patches)))
    differences = {name: relative_max_difference(ours[name], reference[name]) for name in LAYERS}
    print(model, "port vs graph", json.dumps(differences))
    assert all(d <= TOLERANCE for d in differences.values()), differences
    assert reference["max_pool"].shape == (len(patches), 753)
    assert np.ptp(reference["taggram"], axis=0).max() > 0.05          # windows differ
    # the torch runtime from audio: on the CPU through the reference log-mel; on a GPU through
    # the torch log-mel, whose float16 step rounds a handful of bins a window to the
    # neighbouring float16 value (tests/test_mel.py)
    for path, audio, bound in (("cpu", signals(), TOLERANCE),
                               ("device log-mel", torch.from_numpy(signals()), 1e-3)):
        end_to_end = split(port(audio) if path == "cpu" else port.forward(audio))
        differences = {name: relative_max_difference(end_to_end[name], reference[name])
                       for name in LAYERS}
        print(model, f"torch runtime ({path}) vs graph", json.dumps(differences))
        assert all(d <= bound for d in differences.values()), differences


def test_penultimate_does_not_depend_on_the_batch(patches, one_thread):
    """The released extractor's bug (stale `penultimate` after the first batch) is absent:
    a window's penultimate is the same alone and anywhere in a batch, in both runtimes."""
    window = patches[4]
    others = patches[[0, 1, 2, 3, 5]]
    graph = tf_backbone.MusicnnBackbone("MTT_musicnn", ["penultimate"])
    port = musicnn_torch.TorchMusicnnBackbone("MTT_musicnn", ["penultimate"], device="cpu")
    try:
        for run in (graph.forward, lambda x: port.forward(torch.from_numpy(x))):
            alone = run(window[None])[0]
            batched = run(np.concatenate([others[:2], window[None], others[2:]]))
            first_batch = run(others[:2])
            assert not np.allclose(first_batch[0], alone)
            # The bug swaps in another window's vector (differences of order one); the
            # kernels a CPU picks for a batch of 5 vs 1 differ only in float32 rounding.
            np.testing.assert_allclose(batched[2], alone, rtol=1e-3, atol=1e-4 * np.abs(alone).max())
    finally:
        graph.close()


NO_TENSORFLOW = """
import json, sys
import numpy as np
from mvclr.features.musicnn_runtime import audio_backbone
params = {"features": {"audio": {"runtime": "torch", "model": "MTT_musicnn",
                                 "layers": ["max_pool", "mean_pool"], "batch_size": 2}},
          "decode": {"window_seconds": 3.0}}
backbone = audio_backbone(params, "cpu")
out = backbone(np.zeros((2, 48000), np.float32))
import stages.embed_audio, mvclr.features.worker
print(json.dumps({"shape": list(out.shape), "runtime": backbone.info()["runtime"],
                  "tf": sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras", "tf_keras"))}))
"""


def test_the_torch_runtime_imports_no_tensorflow():
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", NO_TENSORFLOW], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report == {"shape": [2, 1506], "runtime": "torch", "tf": []}
