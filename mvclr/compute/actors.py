"""Filling a feature store on Ray: the store's blocks are the units of work, filled by actors
that each load the backbone once.

One actor per GPU of the cluster (`num_gpus=1`: Ray gives it one device, the backbone takes
it), or, on a cluster without GPUs, one per CPU slot of mvclr.cpu_profile.THREADS CPUs (the
threads the profile gives torch). The driver plans the run as locally
(mvclr.features.embedding.plan: same store, same blocks, same digests) and hands each block to
the next idle actor (a queue: fast actors take more blocks, no static i/n shares); an actor
fills it with the same loop as the local run (mvclr.features.filling.fill), which marks the
block done only after its rows are written. An actor that dies (its process killed, its node
lost) is restarted by Ray, reloading its backbone, and its block is run again: ATTEMPTS times
in all, as for decode units; a block is never marked twice nor lost, and a run that still
fails resumes with the blocks not yet marked.
"""
from __future__ import annotations

import os
import time
from collections import deque

import h5py
import ray
import zarr

from mvclr.compute.cluster import ATTEMPTS, connect, in_repository
from mvclr.cpu_profile import THREADS
from mvclr.features import embedding
from mvclr.features.filling import fill
from mvclr.features.store import FeatureStore
from mvclr.features.windows import window_reader


def actor_slots(nodes: list[dict], threads: int = THREADS) -> tuple[int, dict]:
    """How many actors the cluster holds and the resources each asks for, from each alive
    node's resources (Ray's `Resources` of `ray.nodes()`): one per GPU, else one per
    `threads` CPUs of a node (fewer when no node has that many)."""
    gpus = sum(int(n.get("GPU", 0)) for n in nodes)
    if gpus:
        return gpus, {"num_gpus": 1, "num_cpus": 1}
    cpus = min(threads, max(int(n.get("CPU", 0)) for n in nodes)) or 1
    return max(1, sum(int(n.get("CPU", 0)) // cpus for n in nodes)), {"num_cpus": cpus}


@ray.remote
class BlockFiller:
    """One backbone, loaded once, filling the blocks it is given."""

    def __init__(self, cwd: str, make_backbone, modality: str, params: dict, segments: str,
                 out: str):
        self.backbone = in_repository(cwd, make_backbone)
        self.modality, self.params, self.segments, self.out = modality, params, segments, out
        self.store = self.read = None

    def describe(self) -> tuple[dict, int]:
        """The backbone's `info` and `dim` (what the driver plans the store with)."""
        return self.backbone.info(), self.backbone.dim

    def fill(self, block: int, task) -> tuple[int, float, str]:
        """Compute the rows `task` (mvclr.features.store.Task) leaves to compute in block
        `block` and mark it done; segments, seconds, node."""
        if self.store is None:          # opened after the driver has planned the store
            f = h5py.File(self.segments, "r")
            self.read = window_reader(f, self.modality, self.params)
            self.store = FeatureStore(self.out, zarr.open_group(self.out, mode="r+"))
        start = time.perf_counter()
        n = fill(self.store, {block: task}, self.read, self.backbone.prepare,
                 self.backbone.forward, self.backbone.batch_size)
        return n, time.perf_counter() - start, ray.get_runtime_context().get_node_id()


def embed_on_ray(modality: str, make_backbone, params: dict, segments, out,
                 shard: str | None = None, progress: bool = True, actors: int | None = None) -> dict:
    """`mvclr.features.embedding.embed` on Ray actors that each hold `make_backbone()`:
    the same blocks, the same values; `actors` (default: every slot of the cluster,
    `actor_slots`). Returns embed's summary, with the actors, their resources and nodes."""
    connect()
    count, resources = actor_slots([n["Resources"] for n in ray.nodes() if n["Alive"]])
    pool = [BlockFiller.options(**resources, max_restarts=ATTEMPTS - 1,
                                max_task_retries=ATTEMPTS - 1)
            .remote(os.getcwd(), make_backbone, modality, params, str(segments), str(out))
            for _ in range(actors or count)]
    info, dim = ray.get(pool[0].describe.remote())
    work = embedding.plan(modality, info, dim, params, segments, out, shard)
    for extra in pool[len(work.blocks) or 1:]:
        ray.kill(extra)
    pool = pool[:len(work.blocks) or 1]
    todo, running, nodes = deque(work.blocks), {}, set()
    computed, busy = 0, 0.0
    slots = "GPU" if "num_gpus" in resources else "CPU"
    start = time.perf_counter()
    with embedding.bar(work, f"embed {modality} (ray: {len(pool)} {slots} actor(s), "
                             f"{info['device']})", progress) as shown:
        idle = list(pool)
        while todo or running:
            while todo and idle:
                actor, block = idle.pop(), todo.popleft()
                running[actor.fill.remote(block, work.blocks[block])] = actor
            [ready], _ = ray.wait(list(running), num_returns=1)
            idle.append(running.pop(ready))
            n, seconds, node = ray.get(ready)
            computed, busy = computed + n, busy + seconds
            nodes.add(node)
            shown.set_postfix_str(f"{computed / max(busy, 1e-9):.1f} seg/s per actor, "
                                  f"{len(nodes)} node(s)", refresh=False)
            shown.update(n)
    for actor in pool:
        ray.kill(actor)
    if progress:
        print(f"ray: {len(work.blocks)} blocks by {len(pool)} actor(s) on {len(nodes)} node(s)")
    return {**embedding.finish(work, computed, time.perf_counter() - start, progress),
            "actors": len(pool), "resources": resources, "nodes": len(nodes)}
