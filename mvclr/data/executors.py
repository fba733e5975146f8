"""Executors: run a function over units of work and yield each unit's result as it completes.

An executor is `executor(fn, units, *args) -> iterator of (unit, result, error)`: `error` is
None, or why the unit got no result (its process died `ATTEMPTS` times). `local` runs units
in a pool of `workers` processes (in this process when workers <= 1); `named("ray")` is the
Ray executor (mvclr.compute.tasks), which runs the same `fn` on the same units and yields the
same results.
"""
from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

from mvclr.data.supervise import exit_with_parent

ATTEMPTS = 3           # a unit whose worker process dies this often is given up


def local(fn, units: list, *args, workers: int = 1):
    """`fn(unit, *args)` for each unit with at most `workers` in parallel, results as they
    complete. When a worker process dies, the units it may have held run again in a fresh
    pool; ATTEMPTS deaths give a unit up."""
    if workers <= 1:
        for unit in units:
            yield unit, fn(unit, *args), None
        return
    todo, attempts = list(units), {id(u): 0 for u in units}
    while todo:
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(workers, mp_context=context, initializer=exit_with_parent,
                                 initargs=(os.getpid(),)) as pool:
            pending = {pool.submit(fn, u, *args): u for u in todo}
            todo = []
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    unit = pending.pop(future)
                    try:
                        yield unit, future.result(), None
                    except BrokenProcessPool:
                        attempts[id(unit)] += 1
                        if attempts[id(unit)] >= ATTEMPTS:
                            yield unit, None, f"its worker process died {ATTEMPTS} times"
                        else:
                            todo.append(unit)


def named(name: str):
    """The executor `compute.executor` names (mvclr.compute.cluster.executor_name): `local`,
    or `ray`, whose module (and Ray) is imported only then."""
    if name == "ray":
        from mvclr.compute.tasks import ray_tasks
        return ray_tasks
    return local
