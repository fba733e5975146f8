"""benchmarks/catalogue.py front-door at a small N: the real scan and prepare stages build, a
no-op `dvc repro` runs only the scan and hashes nothing, `dvc status` reports only the scan,
and new videos are hashed and probed alone. The 550 000-video run belongs to the benchmark."""
import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def load_benchmark():
    spec = importlib.util.spec_from_file_location("catalogue", ROOT / "benchmarks/catalogue.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_front_door_reports_each_step(tmp_path):
    summary = load_benchmark().front_door(300, 20, tmp_path / "work")
    assert (summary["videos"], summary["added"]) == (300, 20) and summary["target_seconds"] == 60
    steps = {s["step"]: s for s in summary["steps"]}
    assert list(steps) == ["build", "noop_repro", "status", "repro_added"]
    assert all(s["seconds"] > 0 for s in steps.values())
    assert steps["build"]["stages_run"] == ["prepare", "scan"]
    assert (steps["build"]["hashed"], steps["build"]["probed"]) == (300, 300)
    assert steps["noop_repro"]["stages_run"] == ["scan"] and steps["noop_repro"]["hashed"] == 0
    assert steps["status"]["output"] == "scan:\n\talways changed"
    assert (steps["repro_added"]["hashed"], steps["repro_added"]["probed"]) == (20, 20)
    assert summary["pass"] == all(s["seconds"] <= 60 for n, s in steps.items() if n != "build")


def test_planning_decodes_and_embeds_exactly_the_ideal_share():
    import sys
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from catalogue_planning import planning
    summary = planning(videos=2000, unit_videos=8, block_rows=128, dim=2, say=lambda _: None)
    cases = summary["cases"]
    assert summary["pass"] and set(cases) == {"a_inserted", "b_removed", "c_shuffled", "d_copied",
                                              "e_appended"}
    for name in ("a_inserted", "e_appended"):
        assert cases[name]["videos_decoded"] == 20 and cases[name]["segments_computed"] == 120
    for name in ("b_removed", "c_shuffled", "d_copied"):
        assert cases[name]["videos_decoded"] == 0 and cases[name]["segments_computed"] == 0
    assert cases["d_copied"]["shards_written"] == cases["d_copied"]["videos_copied"] == 0
    assert cases["e_appended"]["videos_copied"] < 3 * 8 * 4          # the last shard at most
