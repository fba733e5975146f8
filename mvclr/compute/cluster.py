"""Which executor runs decode and embed (`compute.executor`), and the connection to Ray.

`ray` connects to the cluster Ray's own RAY_ADDRESS names or, when it is unset, starts an
embedded local Ray (address "local", never `auto`: an unrelated Ray instance on the machine is
not joined by accident). Every node must see the repository at the same path (a shared file
system): each worker runs in the driver's working directory with the repository first on its
import path and the driver's reproducible CPU profile (mvclr.cpu_profile), so it computes what
the local executor computes. Ray is imported only here and in the modules that run on it.
"""
from __future__ import annotations

import os

from mvclr import cpu_profile

EXECUTORS = ("local", "ray")
ATTEMPTS = 3        # a Ray task or actor whose process dies this often is given up (as locally:
                    #   mvclr.data.executors.ATTEMPTS)


def executor_name(params: dict) -> str:
    """`compute.executor` (default `local`); an error naming the key for anything else."""
    name = params.get("compute", {}).get("executor", "local")
    if name not in EXECUTORS:
        raise ValueError(f"params.yaml: compute.executor={name!r}: choose one of "
                         f"{', '.join(EXECUTORS)}")
    return name


def worker_env() -> dict[str, str]:
    """Environment of every Ray worker: the repository (the driver's working directory) first
    on the import path, and the CPU profile the driver applied."""
    path = os.pathsep.join(filter(None, [os.getcwd(), os.environ.get("PYTHONPATH")]))
    env = {"PYTHONPATH": path, **cpu_profile.APPLIED}
    if "MVCLR_CPU_PROFILE" in os.environ:
        env["MVCLR_CPU_PROFILE"] = os.environ["MVCLR_CPU_PROFILE"]
    return env


def connect(num_cpus: int | None = None) -> str:
    """Connect this process to Ray once: the cluster at RAY_ADDRESS, else an embedded local
    Ray with `num_cpus` CPUs (None: all cores). Returns where it connected."""
    import ray

    address = os.environ.get("RAY_ADDRESS") or "local"
    if not ray.is_initialized():
        local = {"num_cpus": num_cpus, "include_dashboard": False} if address == "local" else {}
        ray.init(address=address, runtime_env={"env_vars": worker_env()}, **local)
    return address


def in_repository(cwd: str, fn, *args):
    """Run `fn(*args)` in the driver's working directory `cwd` (a worker's entry point)."""
    os.chdir(cwd)
    return fn(*args)
