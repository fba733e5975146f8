"""End to end: the real pipeline through DVC, in a fresh copy of the repository, on a tiny
generated data set that also holds every bad-input case of the contract."""
from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import pytest
import yaml
from workspace import commit, copy_repo, run, stages_run, tiny_set

from mvclr.data import decoding, segment_store
from mvclr.features import store as feature_store

VIDEOS = 30
SEGMENTS = 3


def small_params(params: dict, raw: Path) -> dict:
    params["data"].update(source=str(raw), min_videos=10)
    params["decode"].update(segments=SEGMENTS, frames=20, workers=2)
    params["features"]["video"].update(weights="none", frames=8)
    params["max_epochs"] = params["paper_base"]["max_epochs"] = 6
    params["autoencoder"]["epochs"] = 2
    params["eval"].update(seed_videos=2, seed_segments=2)
    return params


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    """A git repository holding what a clean clone of this one holds, with small params."""
    root = tmp_path_factory.mktemp("pipeline")
    repo, raw = copy_repo(root / "repo"), root / "raw"
    expected = tiny_set(raw, VIDEOS)
    (root / "expected.json").write_text(json.dumps(expected))

    params = small_params(yaml.safe_load((repo / "params.yaml").read_text()), raw)
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    commit(repo)
    out = run(["dvc", "repro"], repo)
    (root / "repro.log").write_text(out)
    return repo


def test_ingest_reports_every_bad_case(workspace):
    expected = json.loads((workspace.parent / "expected.json").read_text())
    with open(workspace / "data/index.csv") as f:
        rows = list(csv.DictReader(f))
    status = {}
    for row in rows:
        status.setdefault(row["video_id"], []).append((row["status"], row["reason"]))
    for vid, reason in expected.items():
        assert ("skipped", reason) in status[vid], (vid, status[vid])
    ok = [r for r in rows if r["status"] == "ok"]
    assert len(ok) == VIDEOS
    with open(workspace / "data/split.csv") as f:
        split = {r["video_id"]: r["split"] for r in csv.DictReader(f)}
    assert set(split) == {r["video_id"] for r in ok} and set(split.values()) == {"train", "val", "test"}
    report = json.loads((workspace / "reports/ingest.json").read_text())
    assert report["status"]["ok"] == VIDEOS
    assert report["status"]["skipped"] == len(rows) - VIDEOS


def test_segment_store_holds_every_usable_video(workspace):
    with h5py.File(workspace / "data/segments.h5") as f:
        segment_store.check_shards(f)      # every shard there (and hdf5plugin's filters loaded)
        n = len(f["video_id"])
        assert n == VIDEOS * SEGMENTS
        assert f["audio"].shape == (n, 3 * 16000)                # the analysis window
        assert f["frames"].shape == (n, 8, 128, 171, 3)          # the frames R(2+1)D reads
        assert len(set(f["video_id"].asstr()[:])) == VIDEOS
        assert f["frames"][-1].std() > 0 and f["audio"][-1].std() > 0
        shards = {m.file_name for m in f["frames"].virtual_sources()}
    assert {f"segments/{p.name}" for p in (workspace / "data/segments").iterdir()} == shards
    # shards end at content-defined boundaries: 16 videos on average, at most 4 x 16
    assert -(-VIDEOS // (16 * decoding.MAX_FACTOR)) <= len(shards) <= VIDEOS
    assert "up to date" in run(["dvc", "status", "decode"], workspace)


def test_feature_stores_align_with_segments(workspace):
    audio = feature_store.load(workspace / "features/audio.zarr")
    video = feature_store.load(workspace / "features/video.zarr")
    assert audio.shape == (VIDEOS * SEGMENTS, 1506) and video.shape == (VIDEOS * SEGMENTS, 512)
    assert feature_store.attrs(workspace / "features/video.zarr")["weights"].startswith("random init")


def test_reports(workspace):
    retrieval = json.loads((workspace / "reports/retrieval.json").read_text())
    params = yaml.safe_load((workspace / "params.yaml").read_text())
    assert set(retrieval["configs"]) == set(params["configs"])
    probes = json.loads((workspace / "reports/probes.json").read_text())
    assert {"musicnn", "r2plus1d", "musicnn+r2plus1d", "cl_audio", "cl_video", "cl_agg"} <= set(probes)
    tables = (workspace / "reports/tables.md").read_text()
    assert "Table 1" in tables and "Table 2" in tables
    assert (workspace / "reports/neighbours.html").stat().st_size > 0
    for name in ["main", *params["configs"]]:
        assert (workspace / "models" / f"{name}.pt").exists()
        assert (workspace / "reports/train" / f"{name}.csv").exists()


def test_numbers_a_broken_pipeline_cannot_reach(workspace):
    """The generated set shares latent factors between audio and video: a working pipeline
    aligns them and its frozen features carry genre and tags. A pipeline that shuffles rows,
    breaks a backbone or trains nothing sits at chance here."""
    retrieval = json.loads((workspace / "reports/retrieval.json").read_text())
    full = retrieval["main"]["full"]
    ratio = (full["median_rank_a2v"] + full["median_rank_v2a"]) / 2 / full["chance"]["median_rank"]
    assert ratio < 0.6, ratio
    assert full["ci95"]["ratio"][1] < 1.0                  # the interval excludes chance
    probes = json.loads((workspace / "reports/probes.json").read_text())
    for name in ("musicnn", "musicnn+r2plus1d"):
        assert probes[name]["genre"]["auc"] > 0.7, (name, probes[name]["genre"])
    assert probes["musicnn"]["tags"]["auc"] > 0.55, probes["musicnn"]["tags"]


def test_experiment_on_tau_reruns_only_training_and_evaluation(workspace):
    before = {name: json.loads((workspace / "reports" / name).read_text())
              for name in ("retrieval.json", "probes.json")}
    out = run(["dvc", "exp", "run", "-S", "tau=0.3"], workspace)
    ran = stages_run(out)
    assert "train" in ran and "evaluate" in ran
    assert not ran & {"demo", "prepare", "decode", "embed_audio", "embed_video"}
    assert not any(s.startswith("train_config") for s in ran), ran

    retrieval = json.loads((workspace / "reports/retrieval.json").read_text())
    probes = json.loads((workspace / "reports/probes.json").read_text())
    assert retrieval["main"] != before["retrieval.json"]["main"]
    assert retrieval["configs"] == before["retrieval.json"]["configs"]
    for frozen in ("musicnn", "r2plus1d", "musicnn+r2plus1d"):
        assert probes[frozen] == before["probes.json"][frozen]
    diff = run(["dvc", "metrics", "diff", "--json"], workspace)
    assert "median_rank" in diff


def test_experiment_on_the_split_reruns_neither_probing_nor_decoding_nor_embedding(workspace):
    out = run(["dvc", "exp", "run", "-S", "data.split=[0.7,0.15,0.15]"], workspace)
    ran = stages_run(out)
    assert "split" in ran and "train" in ran and "evaluate" in ran
    assert not ran & {"demo", "prepare", "decode", "embed_audio", "embed_video"}, ran



def test_a_change_of_runtime_re_embeds_audio_only(workspace):
    params = yaml.safe_load((workspace / "params.yaml").read_text())
    before = params["features"]["audio"]["runtime"]
    after = {"torch": "tensorflow", "tensorflow": "torch"}[before]
    params["features"]["audio"]["runtime"] = after
    (workspace / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    changed = json.loads(run(["dvc", "status", "--json"], workspace).strip().splitlines()[-1])
    assert "embed_audio" in changed and "embed_video" not in changed
    out = run(["dvc", "repro", "--single-item", "embed_audio"], workspace)
    assert stages_run(out) == {"embed_audio"}
    assert f"{VIDEOS * SEGMENTS} segments computed in" in out      # every block recomputed
    assert feature_store.attrs(workspace / "features/audio.zarr")["runtime"] == after


def failing(cmd: list[str], cwd: Path) -> str:
    """`cmd` in `cwd`, which must fail; its output."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode != 0, f"{' '.join(cmd)} passed:\n{done.stdout[-3000:]}"
    return done.stdout + done.stderr


def test_an_unknown_params_key_stops_every_run_whatever_is_up_to_date(workspace):
    original = (workspace / "params.yaml").read_text()
    try:
        for key, hint in (("tua", "did you mean tau?"), ("decode.segmnets", "did you mean decode.segments?")):
            params = yaml.safe_load(original)
            where = params
            for part in key.split(".")[:-1]:
                where = where[part]
            where[key.split(".")[-1]] = 3
            (workspace / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
            out = failing(["dvc", "repro"], workspace)
            assert f"unknown key {key}; {hint}" in out and "Traceback" not in out, out[-3000:]
        (workspace / "params.yaml").write_text(original)
        out = failing(["dvc", "exp", "run", "-S", "+tua=0.3"], workspace)
        assert "unknown key tua; did you mean tau?" in out, out[-3000:]
    finally:
        (workspace / "params.yaml").write_text(original)


def similar(workspace: Path, query: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(Path(sys.executable).parent / "mvclr"), "similar", query],
                          cwd=workspace, capture_output=True, text=True, timeout=300)


def decoded(out: str) -> tuple[int, list[int]]:
    """Videos decoded and segments computed per feature store, as the stages report them."""
    videos = re.search(r"(\d+) videos decoded", out)
    return (int(videos.group(1)) if videos else None,
            [int(n) for n in re.findall(r"\.zarr: (\d+) segments computed in", out)])


def test_a_living_catalogue_costs_only_what_changed(workspace):
    """Runs last: it changes the catalogue. One new video at the top of metadata.csv is decoded
    and embedded alone and answered by `mvclr similar`; a removed one costs nothing and is
    refused."""
    raw = Path(yaml.safe_load((workspace / "params.yaml").read_text())["data"]["source"])
    meta = raw / "metadata.csv"
    header, *rows = meta.read_text().splitlines()
    with open(meta, newline="") as f:
        first, second = list(csv.DictReader(f))[:2]
    shutil.copy(raw / first["path"], raw / "fresh.mp4")
    meta.write_text("\n".join([header, "fresh,fresh.mp4,rock,", *rows]) + "\n")
    out = run(["dvc", "repro"], workspace)
    assert decoded(out) == (1, [SEGMENTS, SEGMENTS]), out[-3000:]           # audio, video
    answer = similar(workspace, "fresh")
    assert answer.returncode == 0 and "nearest videos to fresh" in answer.stdout, answer.stderr

    meta.write_text("\n".join([header, "fresh,fresh.mp4,rock,",
                               *(r for r in rows if not r.startswith(second["video_id"] + ","))]) + "\n")
    out = run(["dvc", "repro"], workspace)
    assert decoded(out) == (0, [0, 0]), out[-3000:]
    answer = similar(workspace, second["video_id"])
    assert answer.returncode == 1 and f"unknown video id '{second['video_id']}'" in answer.stderr
    status = run(["dvc", "status"], workspace)
    assert "changed" not in status.replace("always changed", ""), status
