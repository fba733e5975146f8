"""`mvclr check-results` against what another CPU really produced: tests/data/repro_zen3 holds
the demo's reports of main at 6b08b71 from this project's AVX-512 machine (committed_*.json)
and from a fresh clone on an AMD EPYC Zen 3 (*.json, from ../shared/repro/zen3)."""
import copy
import json
import subprocess
import sys
from pathlib import Path

from mvclr.reporting import reproduction

DATA = Path(__file__).parent / "data" / "repro_zen3"


def reports(prefix: str = "") -> dict:
    return {name: json.loads((DATA / f"{prefix}{name}.json").read_text())
            for name in ("retrieval", "probes")}


def test_the_zen3_run_reproduces_the_committed_metrics_within_their_uncertainty():
    committed, zen3 = reports("committed_"), reports()
    assert zen3["retrieval"]["main"]["full"] != committed["retrieval"]["main"]["full"]   # it moved
    assert reproduction.failures(zen3, committed) == []


def test_a_broken_run_fails_naming_each_metric():
    committed = reports("committed_")
    broken = copy.deepcopy(committed)
    full = broken["retrieval"]["main"]["full"]
    full.update(median_rank_a2v=17.0, median_rank_v2a=18.0, r1_a2v=0.03)
    broken["probes"]["musicnn"]["tags"]["auc"] = 0.5
    del broken["probes"]["cl_agg"]["genre"]["auc"]
    failed = reproduction.failures(broken, committed)
    named = {line.split(":")[0] for line in failed}
    assert named == {"retrieval.json main.full.median_rank_a2v", "retrieval.json main.full.median_rank_v2a",
                     "retrieval.json main.full.ratio", "retrieval.json main.full.r1_a2v",
                     "probes.json musicnn.tags.auc", "probes.json cl_agg.genre.auc"}, failed


def test_the_command_compares_with_the_committed_reports(tmp_path):
    (tmp_path / "reports").mkdir()
    for name, data in reports("committed_").items():
        (tmp_path / "reports" / f"{name}.json").write_text(json.dumps(data))
    git = ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "results"], check=True)
    cmd = [sys.executable, "-m", "mvclr.cli", "check-results", "--root", str(tmp_path)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    assert done.returncode == 0 and "PASS: 0 metric(s)" in done.stdout, done.stdout + done.stderr
    probes = reports("committed_")["probes"]
    probes["r2plus1d"]["genre"]["auc"] = 0.1
    (tmp_path / "reports/probes.json").write_text(json.dumps(probes))
    done = subprocess.run(cmd, capture_output=True, text=True)
    assert done.returncode == 1 and "not reproduced: probes.json r2plus1d.genre.auc: 0.1" in done.stdout
