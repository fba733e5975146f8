"""The embed stage on a tiny generated segment store: windows, a run killed mid-block that
resumes with only the missing blocks, --shard workers, changed segments recompute exactly
their blocks."""
import copy
import os
import subprocess
import sys
import urllib.error
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
import yaml

from mvclr.data import segment_store
from mvclr.features import embedding, windows
from mvclr.features import store as feature_store
from mvclr.config import load_params

ROOT = Path(__file__).resolve().parents[1]
ROWS = 6


def make_segments(path, videos=3, per_video=2, seed=0, last_gain=1.0):
    """`videos` x `per_video` segments; `last_gain` scales the last segment's audio only."""
    rng = np.random.default_rng(seed)
    with segment_store.SegmentWriter(path, sample_rate=16000, segment_seconds=5.0, frames=10,
                                     window_seconds=3.0, window_frames=2, height=24, width=32,
                                     seed=seed) as writer:
        t = np.arange(48000) / 16000                                   # the 3 s window
        for v in range(videos):
            pitch = 200 * (1 + v + np.arange(per_video))[:, None]      # a tone per segment
            audio = 0.05 * np.sin(2 * np.pi * pitch * t) + 0.01 * rng.standard_normal((per_video, len(t)))
            frames = rng.integers(0, 256, (per_video, 2, 24, 32, 3), dtype=np.uint8)
            if v == videos - 1:
                audio[-1] *= last_gain
            writer.append(audio.astype(np.float32), frames, f"v{v}", 10.0 * np.arange(per_video))



@pytest.fixture(scope="module")
def params():
    p = copy.deepcopy(load_params(ROOT / "params.yaml"))
    p["seed"] = 0
    p["decode"]["window_seconds"] = 3.0
    p["features"]["block_rows"] = 2
    p["features"]["video"].update(weights="none", frames=2, batch_size=1)
    p["features"]["audio"].update(model="MTT_musicnn", layers=["max_pool", "mean_pool"],
                                  batch_size=4)
    return p


@pytest.fixture(scope="module")
def workdir(tmp_path_factory, params):
    """A project folder of its own: params.yaml and data/segments.h5."""
    root = tmp_path_factory.mktemp("project")
    make_segments(root / "data" / "segments.h5")
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    return root


@pytest.fixture(scope="module")
def video_backbone(one_thread):
    from mvclr.features.r2plus1d import R2Plus1DBackbone
    return R2Plus1DBackbone("none", seed=0, device="cpu")


@pytest.fixture(scope="module")
def video_reference(workdir, params, video_backbone):
    """The backbone on every segment's window frames, without the stage."""
    with h5py.File(workdir / "data" / "segments.h5") as f:
        return video_backbone(f["frames"][:])


def test_readers_take_the_stored_window(workdir, params):
    with h5py.File(workdir / "data" / "segments.h5") as f:
        audio = windows.window_reader(f, "audio", params)(slice(1, 3))
        np.testing.assert_array_equal(audio, f["audio"][1:3])               # 1 s .. 4 s, as stored
        np.testing.assert_array_equal(windows.window_reader(f, "video", params)(slice(0, 2)),
                                      f["frames"][0:2])
        with pytest.raises(ValueError, match="features.video.frames = 8"):  # decoded for 2 frames
            windows.window_reader(f, "video", {**params, "features": {
                **params["features"], "video": {**params["features"]["video"], "frames": 8}}})


KILL_MID_BLOCK = """
import os, signal
from mvclr.features import store as feature_store
from stages import embed_video

original = feature_store.FeatureStore.write
def write(self, b, values, digest, rows=None):
    if b == 1:      # block 1's rows reach the disk, then the process dies before its marker
        self.features[self.block(b)] = values
        os.kill(os.getpid(), signal.SIGKILL)
    original(self, b, values, digest, rows)
feature_store.FeatureStore.write = write
embed_video.main([])
"""


def test_a_run_killed_mid_block_resumes_with_only_the_missing_blocks(
        workdir, params, video_backbone, video_reference):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    killed = subprocess.run([sys.executable, "-c", KILL_MID_BLOCK], cwd=workdir, env=env,
                            capture_output=True, text=True, timeout=300)
    assert killed.returncode == -9, killed.stderr
    out = workdir / "features" / "video.zarr"
    stale = embedding.stale_blocks(out, workdir / "data" / "segments.h5")
    assert stale == [1, 2]                    # block 1's rows are on disk, not its marker

    seen = []
    forward = video_backbone.forward
    video_backbone.forward = lambda clips: seen.append(len(clips)) or forward(clips)
    try:
        summary = embedding.embed("video", video_backbone, params, workdir / "data" / "segments.h5",
                                  out, progress=False)
    finally:
        video_backbone.forward = forward
    assert summary["blocks"] == [1, 2] and summary["segments"] == 4 and sum(seen) == 4
    np.testing.assert_allclose(feature_store.load(out), video_reference, rtol=1e-4, atol=1e-5)
    attrs = feature_store.attrs(out)
    assert attrs["backbone"] == "r2plus1d_18" and attrs["weights"] == "random init (seed 0)"
    assert attrs["window"]["start"] == 1.0 and attrs["window"]["stop"] == 4.0
    assert attrs["segments"]["rows"] == ROWS and attrs["device"] == "cpu"
    # nothing left to do: a re-run computes nothing
    again = embedding.embed("video", video_backbone, params, workdir / "data" / "segments.h5",
                            out, progress=False)
    assert again["segments"] == 0


def test_shard_workers_fill_disjoint_blocks(tmp_path, workdir, params, monkeypatch,
                                            video_reference, one_thread):
    # `auto` offline: falls back to the same seeded random init, recorded in the attributes
    from mvclr.features import r2plus1d as r2plus1d_backbone
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(torch.hub, "download_url_to_file",
                        lambda *a, **k: (_ for _ in ()).throw(urllib.error.URLError("offline")))
    auto = {**params, "features": {**params["features"], "video": {
        **params["features"]["video"], "weights": "auto"}}}
    with pytest.warns(UserWarning, match="random weights"):
        backbone = r2plus1d_backbone.R2Plus1DBackbone("auto", seed=0, device="cpu")
    segments, out = workdir / "data" / "segments.h5", tmp_path / "video.zarr"
    first = embedding.embed("video", backbone, auto, segments, out, shard="2/2",
                        progress=False)
    assert first["blocks"] == [1]
    with pytest.raises(RuntimeError, match="incomplete"):
        feature_store.load(out)
    second = embedding.embed("video", backbone, auto, segments, out, shard="1/2",
                         progress=False)
    assert second["blocks"] == [0, 2]
    np.testing.assert_allclose(feature_store.load(out), video_reference, rtol=1e-4, atol=1e-5)
    attrs = feature_store.attrs(out)
    assert attrs["weights"] == "random init (seed 0)"
    assert "kinetics400 unavailable" in attrs["weights_note"]

    # a video more: shard workers resize the store and compute only the new block
    longer = tmp_path / "longer.h5"
    make_segments(longer, videos=4)
    with pytest.raises(ValueError, match="has 6 rows"):
        feature_store.load(out, rows=8)
    assert embedding.embed("video", backbone, auto, longer, out, shard="2/2",
                           progress=False)["blocks"] == [3]
    assert embedding.embed("video", backbone, auto, longer, out, shard="1/2",
                           progress=False)["blocks"] == []
    assert feature_store.load(out, rows=8).shape == (8, 512)
    other = tmp_path / "other.h5"
    make_segments(other, seed=1)                       # other segments: every block changes
    assert embedding.stale_blocks(out, other) == [0, 1, 2]
    assert embedding.embed("video", backbone, auto, other, out, shard="1/2",
                           progress=False)["blocks"] == [0, 2]
    assert embedding.stale_blocks(out, other) == [1]
    assert feature_store.attrs(out)["segments"]["path"] == str(other)


def test_audio_stage_stores_musicnn_of_the_window(tmp_path, workdir, params):
    from mvclr.features.musicnn import MusicnnBackbone
    backbone = MusicnnBackbone("MTT_musicnn", ["max_pool", "mean_pool"])
    try:
        out = tmp_path / "audio.zarr"
        summary = embedding.embed("audio", backbone, params, workdir / "data" / "segments.h5",
                                  out, progress=False)
        assert summary["segments"] == ROWS
        with h5py.File(workdir / "data" / "segments.h5") as f:
            expected = backbone(f["audio"][:])
    finally:
        backbone.close()
    stored = feature_store.load(out)
    assert stored.shape == (ROWS, 1506) and np.isfinite(stored).all()
    np.testing.assert_allclose(stored, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())
    attrs = feature_store.attrs(out)
    assert attrs["backbone"] == "musicnn" and attrs["model"] == "MTT_musicnn"
    assert attrs["layers"] == ["max_pool", "mean_pool"]
    assert attrs["window"]["samples"] == [16000, 64000]
    assert {"tensorflow", "musicnn", "librosa", "zarr", "h5py"} <= set(attrs["versions"])


def test_changing_the_last_segments_audio_recomputes_its_block_only(tmp_path, params):
    """The issue's case: a change confined to a later segment (a replaced source file, a media
    fix) used to leave every block marked done."""
    from mvclr.features.musicnn_torch import TorchMusicnnBackbone
    backbone = TorchMusicnnBackbone("MTT_musicnn", ["max_pool", "mean_pool"], device="cpu",
                                    batch_size=2)
    segments, out = tmp_path / "segments.h5", tmp_path / "audio.zarr"
    make_segments(segments)
    first = embedding.embed("audio", backbone, params, segments, out, progress=False)
    assert first["blocks"] == [0, 1, 2]
    before = feature_store.load(out)
    make_segments(segments, last_gain=0.5)          # segment 5 (block 2) only
    seen = []
    forward = backbone.forward
    backbone.forward = lambda batch: seen.append(len(batch)) or forward(batch)
    again = embedding.embed("audio", backbone, params, segments, out, progress=False)
    # block 2 is redone: its changed segment computed, its other segment copied by content
    assert again["blocks"] == [2] and again["segments"] == 1 and sum(seen) == 1
    assert again["copied"] == 1
    after = feature_store.load(out)
    np.testing.assert_array_equal(after[:4], before[:4])
    assert not np.allclose(after[5], before[5]) and np.allclose(after[4], before[4], atol=1e-6)
    with h5py.File(segments) as f:
        np.testing.assert_allclose(after, forward(backbone.prepare(f["audio"][:])),
                                   rtol=1e-5, atol=1e-5 * np.abs(after).max())
    assert embedding.embed("audio", backbone, params, segments, out,
                           progress=False)["blocks"] == []


def test_a_change_of_runtime_recomputes_every_audio_block(tmp_path, workdir, params):
    from mvclr.features.musicnn_runtime import audio_backbone
    segments, out = workdir / "data" / "segments.h5", tmp_path / "audio.zarr"
    results = {}
    for runtime in ("tensorflow", "torch"):
        p = copy.deepcopy(params)
        p["features"]["audio"]["runtime"] = runtime
        backbone = audio_backbone(p, "cpu") if runtime == "torch" else audio_backbone(p)
        assert backbone.info()["runtime"] == runtime
        assert embedding.embed("audio", backbone, p, segments, out,
                               progress=False)["blocks"] == [0, 1, 2]
        results[runtime] = feature_store.load(out)
        assert feature_store.attrs(out)["fingerprint_of"]["runtime"] == runtime
    # the same log-mel on the CPU; TensorFlow's default oneDNN kernels are within ~1e-5
    # (tests/test_musicnn_port.py)
    np.testing.assert_allclose(results["torch"], results["tensorflow"], rtol=0,
                               atol=1e-4 * np.abs(results["tensorflow"]).max())
    with pytest.raises(ValueError, match="features.audio.runtime='jax'"):
        audio_backbone({**params, "features": {**params["features"], "audio": {
            **params["features"]["audio"], "runtime": "jax"}}})
