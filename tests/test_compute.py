"""The executor choice and the actors' resources (pure); on an embedded Ray: a decode unit
that raised is retried, and the GPU actor path on a CPU machine (Ray declaring one GPU runs one
`num_gpus=1` actor, which finds no CUDA device here and fills the store exactly as the local run
does)."""
from __future__ import annotations

import copy
import sys
from functools import partial
from pathlib import Path

import numpy as np
import pytest
import torch
from test_embed import make_segments

from mvclr.compute.cluster import ATTEMPTS, EXECUTORS, executor_name, worker_env
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


@pytest.fixture(scope="module")
def embedded_ray(tmp_path_factory):
    """An embedded Ray of 2 CPUs declaring one GPU (there is none), as a stage starts it."""
    import ray
    from ray import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])   # the flaky units below
    with pytest.MonkeyPatch.context() as env:
        env.setenv("RAY_AUTH_MODE", "disabled")                   # no token written to ~/.ray
        ray.init(address="local", num_cpus=2, num_gpus=1, include_dashboard=False,
                 runtime_env={"env_vars": worker_env()},
                 _temp_dir=str(tmp_path_factory.mktemp("ray")))
    yield
    ray.shutdown()
    cloudpickle.unregister_pickle_by_value(sys.modules[__name__])


def flaky(unit: int, folder: str, failures: int) -> int:
    """Raise on the first `failures` attempts at `unit` (counted in files), then return."""
    tries = Path(folder) / f"{unit}.tries"
    tries.write_text(tries.read_text() + "x" if tries.exists() else "x")
    if len(tries.read_text()) <= failures:
        raise OSError(f"unit {unit}: attempt {len(tries.read_text())} failed")
    return 10 * unit


def test_ray_tasks_retry_a_unit_that_raised(embedded_ray, tmp_path):
    from mvclr.compute.tasks import ray_tasks
    out = sorted(ray_tasks(flaky, [1, 2, 3], str(tmp_path), ATTEMPTS - 1, workers=2))
    assert out == [(1, 10, None), (2, 20, None), (3, 30, None)]
    with pytest.raises(OSError, match=f"unit 4: attempt {ATTEMPTS} failed"):
        list(ray_tasks(flaky, [4], str(tmp_path), ATTEMPTS, workers=2))
    assert (tmp_path / "4.tries").read_text() == "x" * ATTEMPTS


def test_a_gpu_actor_fills_the_store_as_the_local_run(embedded_ray, tmp_path, profile_threads):
    from mvclr.compute.actors import embed_on_ray
    from mvclr.features.r2plus1d import R2Plus1DBackbone

    segments = tmp_path / "segments.h5"
    make_segments(segments, videos=3, per_video=3)
    params = copy.deepcopy(load_params(ROOT / "params.yaml"))
    params["decode"]["window_seconds"] = 3.0
    params["features"]["block_rows"] = 2
    params["features"]["video"].update(weights="none", frames=2, batch_size=1)
    embedding.embed("video", R2Plus1DBackbone.from_params(params, "cpu"), params, segments,
                    tmp_path / "local.zarr", progress=False)
    summary = embed_on_ray("video", partial(R2Plus1DBackbone.from_params, params), params,
                           segments, tmp_path / "ray.zarr", progress=False)
    assert summary["actors"] == 1 and summary["resources"] == {"num_gpus": 1, "num_cpus": 1}
    assert summary["segments"] == 9 and summary["blocks"] == [0, 1, 2, 3, 4]
    np.testing.assert_array_equal(feature_store.load(tmp_path / "ray.zarr"),
                                  feature_store.load(tmp_path / "local.zarr"))
    np.testing.assert_array_equal(feature_store.markers(tmp_path / "ray.zarr"),
                                  feature_store.markers(tmp_path / "local.zarr"))
