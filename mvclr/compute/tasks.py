"""The Ray executor: `fn(unit, *args)` for each unit as a Ray task, with the interface of
mvclr.data.executors.local (yields `(unit, result, error)` as units complete), so the decode
stage runs the same units into the same shards on a cluster.

Each task takes one CPU and runs in the driver's working directory (mvclr.compute.cluster).
Ray retries a unit, ATTEMPTS times in all as locally, when its worker process or node dies
(after that the unit's error says so: its videos are reported, the other units carry on) and
when `fn` raises (on a cluster: e.g. a node's I/O error on the shared file system; one that
persists stops the run, as any exception of `fn` does locally, and a re-run resumes). At most
IN_FLIGHT_PER_CPU tasks per cluster CPU are submitted at once, so the driver's bookkeeping
stays small for any number of units.
"""
from __future__ import annotations

import os
import sys

import ray
from tqdm import tqdm

from mvclr.compute.cluster import ATTEMPTS, connect, in_repository

IN_FLIGHT_PER_CPU = 2


@ray.remote(num_cpus=1, max_retries=ATTEMPTS - 1, retry_exceptions=True)
def run_unit(cwd: str, fn, unit, *args):
    """One unit in a worker; also where it ran (the node), for the driver's summary."""
    return in_repository(cwd, fn, unit, *args), ray.get_runtime_context().get_node_id()


def ray_tasks(fn, units: list, *args, workers: int = 1):
    """`fn(unit, *args)` for each unit on Ray: on the cluster RAY_ADDRESS names (its CPUs
    decide the parallelism), else on an embedded Ray of `workers` CPUs."""
    if not units:
        return
    connect(num_cpus=workers)
    window = max(1, IN_FLIGHT_PER_CPU * int(ray.cluster_resources().get("CPU", 1)))
    todo, running, nodes = iter(units), {}, set()
    cwd = os.getcwd()
    while True:
        for unit in todo:
            running[run_unit.remote(cwd, fn, unit, *args)] = unit
            if len(running) >= window:
                break
        if not running:
            break
        [ready], _ = ray.wait(list(running), num_returns=1)
        unit = running.pop(ready)
        try:
            result, node = ray.get(ready)
        except ray.exceptions.RayTaskError:           # fn raised ATTEMPTS times
            raise
        except ray.exceptions.RayError as e:          # the worker or its node died ATTEMPTS times
            yield unit, None, f"its Ray worker died {ATTEMPTS} times ({type(e).__name__})"
            continue
        nodes.add(node)
        yield unit, result, None
    tqdm.write(f"ray: {len(units)} units as tasks on {len(nodes)} node(s)", file=sys.stderr)
