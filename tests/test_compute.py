"""The executor choice and the actors' resources (pure), and the GPU actor path on a CPU
machine: an embedded Ray declaring one GPU runs one `num_gpus=1` actor, which finds no CUDA
device here and fills the store exactly as the local run does."""
from __future__ import annotations

import copy
from functools import partial
from pathlib import Path

import numpy as np
import pytest
import torch
from test_embed import make_segments

from mvclr.compute.cluster import EXECUTORS, executor_name, worker_env
from mvclr.config import load_params
from mvclr.cpu_profile import THREADS
from mvclr.features import embedding
from mvclr.features import store as feature_store

ROOT = Path(__file__).resolve().parents[1]


def test_executor_name():
    assert executor_name({}) == "local"
    assert {executor_name({"compute": {"executor": name}}) for name in EXECUTORS} == set(EXECUTORS)
    with pytest.raises(ValueError, match=r"compute\.executor='slurm'"):
        executor_name({"compute": {"executor": "slurm"}})


@pytest.mark.parametrize("nodes, want", [
    ([{"CPU": 16, "GPU": 2}, {"CPU": 8, "GPU": 1}], (3, {"num_gpus": 1, "num_cpus": 1})),
    ([{"CPU": 16, "GPU": 2}, {"CPU": 8}], (2, {"num_gpus": 1, "num_cpus": 1})),
    ([{"CPU": 2}, {"CPU": 2}], (2, {"num_cpus": 2})),
    ([{"CPU": 5}, {"CPU": 8}], (6, {"num_cpus": 2})),       # 5 // 2 + 8 // 2
    ([{"CPU": 1}, {"CPU": 1}], (2, {"num_cpus": 1})),       # no node has 2: slots of 1
])
def test_actor_slots(nodes, want):
    from mvclr.compute.actors import actor_slots
    assert actor_slots(nodes, threads=2) == want


@pytest.fixture
def profile_threads():
    threads = torch.get_num_threads()
    torch.set_num_threads(THREADS)        # what the actors' profile gives torch
    yield
    torch.set_num_threads(threads)


def test_a_gpu_actor_fills_the_store_as_the_local_run(tmp_path_factory, monkeypatch,
                                                      profile_threads):
    import ray

    from mvclr.compute.actors import embed_on_ray
    from mvclr.features.r2plus1d import R2Plus1DBackbone

    root = tmp_path_factory.mktemp("gpu")
    segments = root / "segments.h5"
    make_segments(segments, videos=3, per_video=3)
    params = copy.deepcopy(load_params(ROOT / "params.yaml"))
    params["decode"]["window_seconds"] = 3.0
    params["features"]["block_rows"] = 2
    params["features"]["video"].update(weights="none", frames=2, batch_size=1)
    make = partial(R2Plus1DBackbone.from_params, params, "cpu")
    embedding.embed("video", make(), params, segments, root / "local.zarr", progress=False)

    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")     # no token written to ~/.ray
    ray.init(address="local", num_cpus=2, num_gpus=1, include_dashboard=False,
             runtime_env={"env_vars": worker_env()}, _temp_dir=str(root / "ray"))
    try:
        summary = embed_on_ray("video", partial(R2Plus1DBackbone.from_params, params), params,
                               segments, root / "ray.zarr", progress=False)
    finally:
        ray.shutdown()
    assert summary["actors"] == 1 and summary["resources"] == {"num_gpus": 1, "num_cpus": 1}
    assert summary["segments"] == 9 and summary["blocks"] == [0, 1, 2, 3, 4]
    np.testing.assert_array_equal(feature_store.load(root / "ray.zarr"),
                                  feature_store.load(root / "local.zarr"))
    np.testing.assert_array_equal(feature_store.markers(root / "ray.zarr"),
                                  feature_store.markers(root / "local.zarr"))
