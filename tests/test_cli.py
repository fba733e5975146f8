"""`mvclr similar` on a workspace built by the pipeline's own decode and embed functions.

Anything that runs the backbones runs in a subprocess: torchvision's R(2+1)D crashes a
process into which TensorFlow was loaded first, and other tests load TensorFlow."""
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from make_media import write_media

from mvclr import catalogue, cli
from mvclr.evaluation import pooling
from mvclr.features import store as feature_store
from mvclr.data.segment_store import read_meta

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
BUILD = """
import os
import sys
from pathlib import Path
from fixtures_neighbours import pipeline_workspace
pipeline_workspace(Path(sys.argv[1]), Path(sys.argv[2]))
os.chdir(sys.argv[1])
from stages import index
index.main()
"""


def run(*args: str, cwd=None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": f"{TESTS}{os.pathsep}{REPO}"}
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=300)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    root, media = tmp_path_factory.mktemp("ws"), tmp_path_factory.mktemp("media")
    done = run("-c", BUILD, str(root), str(media))
    assert done.returncode == 0, done.stderr[-3000:]
    return root, media


def tables(text: str) -> dict[str, list[tuple[str, float]]]:
    """representation -> [(video_id, similarity)] from the command's output."""
    out, name = {}, None
    for line in text.splitlines():
        head = re.match(r"\d+ nearest videos to .* by (\S+) \(", line)
        row = re.match(r"\s*\d+\s+(-?[\d.]+)\s+(\S+)\s", line)
        if head:
            name = head.group(1)
            out[name] = []
        elif row and name:
            out[name].append((row.group(2), float(row.group(1))))
    return out


def similar(root, *args, capsys) -> tuple[int, str, str]:
    code = cli.main(["similar", *args, "--root", str(root)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_similar_by_id_matches_brute_force(workspace, capsys):
    root, _ = workspace
    code, out, err = similar(root, "clip1", "--k", "2", "--representation", "musicnn",
                             "--representation", "r2plus1d", capsys=capsys)
    assert code == 0, err
    assert err == ""                            # stores match params.yaml: no warning
    found = tables(out)
    meta = read_meta(root / "data/segments.h5")
    ids = np.array(["clip0", "clip1", "clip2", "clip3"])
    for name, store in (("musicnn", "audio"), ("r2plus1d", "video")):
        x = pooling.aggregate(feature_store.load(root / f"features/{store}.zarr"), meta.video_id, ids)
        x = x / np.linalg.norm(x, axis=1, keepdims=True)
        sims = {v: float(x[1] @ x[j]) for j, v in enumerate(ids) if v != "clip1"}
        want = sorted(sims, key=lambda v: -sims[v])[:2]
        assert [v for v, _ in found[name]] == want
        assert [s for _, s in found[name]] == pytest.approx([sims[v] for v in want], abs=1e-4)


def test_an_id_is_answered_from_the_index_alone(workspace, tmp_path):
    """No feature store, no segment store, no model: a query by id still works, without
    importing torch (the answer comes from the index's stored vectors)."""
    root = tmp_path / "ws"
    shutil.copytree(workspace[0], root)
    for gone in ("features", "data/segments.h5", "models"):
        shutil.rmtree(root / gone) if (root / gone).is_dir() else (root / gone).unlink()
    code = ("import sys; from mvclr import cli; rc = cli.main(sys.argv[1:]); "
            "assert 'torch' not in sys.modules and 'zarr' not in sys.modules; sys.exit(rc)")
    done = run("-c", code, "similar", "clip1", "--k", "2", "--root", str(root))
    assert done.returncode == 0, done.stderr[-3000:]
    assert len(tables(done.stdout)["cl_agg"]) == 2 and done.stderr == ""


def test_a_changed_model_makes_the_index_stale(workspace, tmp_path, capsys):
    root = tmp_path / "ws"
    shutil.copytree(workspace[0], root)
    with open(root / "models/main.pt", "ab") as f:
        f.write(b"\0")
    code, out, err = similar(root, "clip1", capsys=capsys)
    assert code == 0 and "models/main.pt changed after" in err and "warning" in err
    code, out, err = similar(root, str(workspace[1] / "clip2.mp4"), capsys=capsys)
    assert code == 1 and "models/main.pt changed after" in err


def test_split_restricts_the_search(workspace, capsys):
    root, _ = workspace
    code, out, _ = similar(root, "clip0", "--k", "5", "--split", "test", "--split", "val", capsys=capsys)
    assert code == 0
    assert sorted(v for v, _ in tables(out)["cl_agg"]) == ["clip2", "clip3"]


@pytest.mark.parametrize("query, message", [
    ("nosuchvideo", "unknown video id 'nosuchvideo'"),
    ("broken", "'broken' has no segments in .*skipped by prepare \\(truncated\\)"),
])
def test_unknown_or_skipped_ids_are_clear_errors(workspace, capsys, query, message):
    code, out, err = similar(workspace[0], query, capsys=capsys)
    assert code == 1 and out == ""
    assert re.search(message, err), err


def test_unreadable_and_too_short_files_are_clear_errors(workspace, tmp_path, capsys):
    bad = tmp_path / "garbage.mp4"
    bad.write_bytes(b"\x00not a video" * 100)
    code, _, err = similar(workspace[0], str(bad), capsys=capsys)
    assert code == 1 and str(bad) in err and "unreadable" in err
    short = write_media(tmp_path / "short.mp4", 1.0)
    code, _, err = similar(workspace[0], str(short), capsys=capsys)
    assert code == 1 and str(short) in err and "too short" in err


def test_stores_built_with_other_params(workspace, tmp_path, capsys):
    root = tmp_path / "ws"
    shutil.copytree(workspace[0], root)
    p = yaml.safe_load((root / "params.yaml").read_text())
    p["decode"]["frames"] = 16
    p["tau"] = 0.3
    (root / "params.yaml").write_text(yaml.safe_dump(p))
    video = workspace[1] / "clip2.mp4"
    code, out, err = similar(root, str(video), capsys=capsys)
    assert code == 1 and out == ""
    assert "decode.frames=8, params.yaml says 16" in err and "tau=1.0, params.yaml says 0.3" in err
    # a query by id is answered from the index as built, with the differences as warnings
    code, out, err = similar(root, "clip2", capsys=capsys)
    assert code == 0 and len(tables(out)["cl_agg"]) == 3
    assert "warning" in err and "decode.frames" in err


def test_mismatches_lists_each_difference():
    p = yaml.safe_load((REPO / "params.yaml").read_text())
    dec = p["decode"]
    same = catalogue.mismatches(
        p, {**{k: dec[k] for k in catalogue.DECODE_KEYS}, "seed": p["seed"]},
        {"fingerprint_of": {"window_seconds": dec["window_seconds"],
                            **{k: p["features"]["audio"][k] for k in ("model", "layers")}}},
        {"weights": "kinetics400", "fingerprint_of": {"frames": p["features"]["video"]["frames"],
                                                      "seed": p["seed"]}},
        {}, {catalogue.AUDIO: [], catalogue.VIDEO: []})
    assert same == []
    other = catalogue.mismatches(
        p, {"sample_rate": 22050}, {"fingerprint_of": {"model": "MSD_musicnn"}},
        {"weights": "random init (seed 0)", "fingerprint_of": {}}, {"train_config": {"embed_dim": 3}},
        {catalogue.AUDIO: [3], catalogue.VIDEO: []})
    text = "\n".join(other)
    for part in ("decode.sample_rate=22050", "features.audio.model='MSD_musicnn'",
                 "audio.zarr was computed from other segments", "embed_dim=3"):
        assert part in text
    p["features"]["video"]["weights"] = "kinetics400"
    assert any("R(2+1)D weights" in m for m in catalogue.mismatches(
        p, {}, {}, {"weights": "random init (seed 0)"}, {}))


def test_cold_start_reproduces_the_stored_vectors(workspace, tmp_path):
    """A copy of a catalogue video under the same name gets the same segments, backbone
    vectors and embeddings as the pipeline gave the original: similarity 1 to it, below 1
    to every other video."""
    root, media = workspace
    copy = tmp_path / "elsewhere" / "clip2.mp4"
    copy.parent.mkdir()
    shutil.copy(media / "clip2.mp4", copy)
    done = run("-m", "mvclr.cli", "similar", str(copy), "--k", "3", "--root", str(root),
               "--representation", "musicnn", "--representation", "r2plus1d",
               "--representation", "cl_agg", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    found = tables(done.stdout)
    assert set(found) == {"musicnn", "r2plus1d", "cl_agg"}
    for name, rows in found.items():
        assert rows[0] == ("clip2", 1.0), (name, rows)
        assert all(s < 1.0 for _, s in rows[1:]), (name, rows)


COLD_START_TORCH = """
import json, sys
from types import SimpleNamespace
import numpy as np
from mvclr.cold_start import backbone_vectors
from mvclr.config import load_params
params = load_params()
cat = SimpleNamespace(params=params, root=None,
    audio_attrs={"fingerprint_of": {"model": "MTT_musicnn", "layers": ["max_pool"], "runtime": "torch"}},
    video_attrs={"weights": "random init (seed 0)", "fingerprint_of": {"seed": 0}})
a, v = backbone_vectors(np.zeros((2, 48000), np.float32), np.zeros((2, 16, 128, 171, 3), np.uint8), cat)
print(json.dumps({"a": list(a.shape), "v": list(v.shape),
                  "tf": sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "tf_keras"))}))
"""


def test_cold_start_runs_musicnn_in_the_runtime_the_store_was_built_with():
    """A store built with the torch runtime (a GPU worker without TensorFlow) gets cold-start
    vectors from the port, with the store's layers, and TensorFlow is never imported."""
    done = run("-c", COLD_START_TORCH, cwd=REPO)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.splitlines()[-1]) == {"a": [2, 753], "v": [2, 512], "tf": []}
