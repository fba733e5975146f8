"""benchmarks/scale.py at a small N: every stage after embed runs on the synthetic catalogue as
the pipeline runs it, the planted structure comes out far from chance, and the summary line has
the fields the targets are read from. The big runs (250 000 and 1 000 000 segments, 550 000
videos) belong to the benchmark only."""
import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def run_benchmark(*args: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "benchmarks/scale.py", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_every_stage_after_embed_runs_on_a_synthetic_catalogue(tmp_path):
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["eval"]["rank_pool"] = 20                       # 60 test segments: 3 pools
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    lines = [json.loads(line) for line in run_benchmark(
        "--segments", "600", "--workdir", str(tmp_path / "w"), "--keep",
        "--params", str(tmp_path / "params.yaml")).splitlines()]
    catalogue, stages, summary = lines[0]["catalogue"], lines[1:-1], lines[-1]
    assert catalogue["segments"] == 600 and catalogue["videos"] == 100
    names = [s["stage"] for s in stages]
    assert names[0] == "train" and names[-1] == "similar"
    assert {"evaluate", "diagnose", "tables", "neighbours", "index"} <= set(names)
    assert all(s["returncode"] == 0 for s in stages), stages
    assert summary["segments"] == 600
    assert set(summary["stages"]) == set(names)
    assert summary["max_peak_rss_gb"] == max(s["peak_rss_gb"] for s in stages) > 0

    work = tmp_path / "w"
    full = json.loads((work / "reports/retrieval.json").read_text())["main"]["full"]
    assert full["median_rank_a2v"] <= 0.2 * full["chance"]["median_rank"]
    assert full["median_rank_v2a"] <= 0.2 * full["chance"]["median_rank"]
    probes = json.loads((work / "reports/probes.json").read_text())
    assert probes["musicnn"]["genre"]["auc"] > 0.7
    labels = (work / "index/labels.csv").read_text().splitlines()
    assert len(labels) == 1 + catalogue["videos"]
    assert full["n_segments"] == 60
    paper = json.loads((work / "reports/retrieval.json").read_text())["main"]["paper"]
    assert paper["n_chunks"] == 3
    assert "computed within each of 3 pools of 20–39 test segments" in (
        work / "reports/tables.md").read_text()


def test_index_mode_reports_latency_and_recall():
    out = run_benchmark("--videos-index", "2000", "--queries", "20", "--representations", "cl_agg")
    row = next(line for line in out.splitlines() if line.startswith("cl_agg "))
    assert row.split()[2] == "exact" and row.endswith("PASS")
    assert "fresh process, start to answer" in out
