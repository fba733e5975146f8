"""Decode and embed on a real Ray cluster of two nodes on this machine's loopback addresses
(`ray start --head`, then `ray start --address=...`), driven by `dvc repro` with
`compute.executor: ray` and RAY_ADDRESS set, against the local executor on the same tiny
generated set (every bad-input case included): bit-identical outputs, a killed worker process
and a killed actor process retried, and the results carried to a clone by a DVC remote.
The cluster's processes are found by its own temp dir and GCS address and killed in teardown,
whatever happened (never `ray stop`: it would stop every Ray on the machine)."""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest
import yaml
from workspace import commit, copy_repo, run, stages_run, tiny_set

VIDEOS, SEGMENTS, UNIT_VIDEOS, BLOCK_ROWS = 10, 2, 2, 4
CPUS = 2                               # per node: one embed actor (cpu_profile.THREADS) each
HEAD, NODE = "127.0.0.2", "127.0.0.3"  # loopback; Ray turns 127.0.0.1 into the public address
TARGETS = ["embed_audio", "embed_video"]
OUTPUTS = ["data/segments.h5", "data/segments", "reports/ingest.json", "features/audio.zarr",
           "features/video.zarr"]


@pytest.fixture(scope="module")
def raw(tmp_path_factory) -> tuple[Path, dict]:
    raw = tmp_path_factory.mktemp("rayset") / "raw"
    return raw, tiny_set(raw, VIDEOS, min_seconds=11, max_seconds=13)


def workspace(root: Path, raw: Path, executor: str) -> Path:
    """A fresh copy of the repository on the tiny set, its params small."""
    repo = copy_repo(root / "repo")
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["compute"]["executor"] = executor
    params["data"].update(source=str(raw), min_videos=5)
    params["decode"].update(segments=SEGMENTS, frames=20, workers=2, unit_videos=UNIT_VIDEOS)
    params["features"]["block_rows"] = BLOCK_ROWS
    params["features"]["video"].update(weights="none", frames=8)
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    commit(repo)
    return repo


def outputs(repo: Path) -> dict[str, str]:
    """md5 of each decode and embed output, as dvc.lock records it."""
    lock = yaml.safe_load((repo / "dvc.lock").read_text())["stages"]
    return {o["path"]: o["md5"] for s in ("decode", *TARGETS)
            for o in lock[s].get("outs", []) + lock[s].get("metrics", [])}


def processes(temp: Path, gcs: str) -> list[psutil.Process]:
    """Every process of the test's cluster: those naming its temp dir or GCS address (GCS,
    raylets, monitors, client server) and their descendants (agents, workers, decoders)."""
    found = {}
    for p in psutil.process_iter():
        line = command(p)
        if p.pid != os.getpid() and (str(temp) in line or gcs in line):
            found[p.pid] = p
    for p in list(found.values()):
        try:
            found.update((c.pid, c) for c in p.children(recursive=True))
        except psutil.NoSuchProcess:
            pass
    return list(found.values())


def command(p: psutil.Process) -> str:
    """The process's command line ('' once it has ended)."""
    try:
        return " ".join(p.cmdline())
    except psutil.Error:
        return ""


def free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """RAY_ADDRESS of a two-node cluster, CPUS CPUs a node; stopped in teardown."""
    temp = tmp_path_factory.mktemp("ray")      # short: Ray's socket paths must stay < 108 bytes
    gcs = f"{HEAD}:{free_port(HEAD)}"
    ray = [str(Path(sys.executable).parent / "ray"), "start", f"--num-cpus={CPUS}",
           "--object-store-memory=100000000", "--disable-usage-stats"]
    try:
        run([*ray, "--head", f"--node-ip-address={HEAD}", f"--port={gcs.split(':')[1]}",
             f"--temp-dir={temp / 'head'}", "--include-dashboard=false"], temp)
        run([*ray, f"--address={gcs}", f"--node-ip-address={NODE}", f"--temp-dir={temp / 'node'}"],
            temp)
        yield {"address": gcs, "temp": temp}
    finally:
        left = processes(temp, gcs)
        for p in left:
            try:
                p.kill()
            except psutil.NoSuchProcess:
                pass
        psutil.wait_procs(left, timeout=30)


@pytest.fixture(scope="module")
def local_run(tmp_path_factory, raw) -> Path:
    repo = workspace(tmp_path_factory.mktemp("local"), raw[0], "local")
    run(["dvc", "repro", *TARGETS], repo)
    commit(repo, "repro")
    return repo


@pytest.fixture(scope="module")
def ray_run(tmp_path_factory, raw, cluster) -> tuple[Path, str]:
    repo = workspace(tmp_path_factory.mktemp("onray"), raw[0], "ray")
    out = run(["dvc", "repro", *TARGETS], repo, env={"RAY_ADDRESS": cluster["address"]})
    return repo, out


def test_ray_outputs_are_bit_identical_to_local(local_run, ray_run, raw):
    repo, out = ray_run
    assert stages_run(out) == {"scan", "prepare", "decode", *TARGETS}
    assert out.count("on 2 node(s)") == 3, out[-3000:]      # decode, embed_audio, embed_video
    assert outputs(repo) == outputs(local_run)
    skipped = {s["video_id"]: s["reason"]
               for s in json.loads((repo / "reports/ingest.json").read_text())["skipped"]}
    assert skipped.items() >= raw[1].items()
    assert "up to date" in run(["dvc", "status", *TARGETS], repo)


def kill_when_running(cluster: dict, titles: list[str], killed: list, stop: threading.Event):
    """Kill (SIGKILL) the first process of the cluster seen running each of `titles` in turn
    (Ray titles a busy worker `ray::<task>`); (title, pid) appended to `killed`."""
    for title in titles:
        while not stop.is_set():
            busy = [p for p in processes(cluster["temp"], cluster["address"])
                    if command(p).startswith(title)]
            if busy:
                busy[0].kill()
                killed.append((title, busy[0].pid))
                break
            time.sleep(0.05)


def test_a_killed_worker_and_a_killed_actor_are_redone(local_run, ray_run, cluster):
    repo, _ = ray_run
    for name in ("data/segments", "data/segments.h5", "features/video.zarr"):
        shutil.rmtree(repo / name) if (repo / name).is_dir() else (repo / name).unlink()
    killed, stop = [], threading.Event()
    killer = threading.Thread(target=kill_when_running, daemon=True,
                              args=(cluster, ["ray::run_unit", "ray::BlockFiller.fill"], killed, stop))
    killer.start()
    try:
        out = run(["dvc", "repro", "embed_video"], repo, env={"RAY_ADDRESS": cluster["address"]})
    finally:
        stop.set()
        killer.join()
    assert [title for title, _ in killed] == ["ray::run_unit", "ray::BlockFiller.fill"], out[-3000:]
    assert stages_run(out) == {"scan", "decode", "embed_video"}      # scan: always run
    assert outputs(repo) == outputs(local_run)


def test_the_local_executor_imports_no_ray(local_run, tmp_path):
    repo = shutil.copytree(local_run, tmp_path / "repo", symlinks=True)
    code = ("import runpy, sys\n"
            "for stage in ('stages.decode', 'stages.embed_video'):\n"
            "    runpy.run_module(stage, run_name='__main__')\n"
            "assert 'ray' not in sys.modules, 'the local executor imported ray'\n")
    out = run([sys.executable, "-c", code], repo)
    assert "kept" in out


def test_results_travel_through_a_dvc_remote(local_run, tmp_path):
    run(["dvc", "remote", "add", "-d", "shared", str(tmp_path / "remote")], local_run)
    commit(local_run, "remote")
    run(["dvc", "push", "--with-deps", *TARGETS], local_run)
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(local_run), str(clone)], check=True)
    run(["dvc", "pull", "--with-deps", *TARGETS], clone)
    for path in OUTPUTS:
        assert (clone / path).exists(), path
    assert "up to date" in run(["dvc", "status", *TARGETS], clone)
    # only the scan, which re-checks the folder on every run: same files table, nothing follows
    assert stages_run(run(["dvc", "repro", *TARGETS], clone)) == {"scan"}
