"""The evaluate stage on a tiny workspace, and the tables it writes."""
import json

import pytest
import yaml
from fixtures_eval import make_workspace, params, write_models

from mvclr.contrastive import heads
from mvclr.evaluation import table1
from mvclr.reporting import tables
from stages import evaluate
from mvclr.features.store import load
from mvclr.data.segment_store import read_meta
from mvclr.data.split import split_of

BASELINES = ("musicnn", "r2plus1d", "musicnn+r2plus1d")


def run_stage(root, monkeypatch):
    monkeypatch.chdir(root)
    evaluate.main()
    ret = json.loads((root / "reports/retrieval.json").read_text())
    prb = json.loads((root / "reports/probes.json").read_text())
    return ret, prb, tables.render(ret, prb)


def test_stage_writes_metrics_and_tables(tmp_path, monkeypatch):
    p = make_workspace(tmp_path)
    ret, prb, md = run_stage(tmp_path, monkeypatch)

    assert ret["rank_pool"] == 8 and set(ret["configs"]) == {"cl_base", "single_head"}
    # main's figures are those of its test-split embeddings
    meta = read_meta(tmp_path / "data/segments.h5")
    test = split_of(meta.video_id, tmp_path / "data/split.csv") == "test"
    za, zv = heads.embed(heads.load(tmp_path / "models/main.pt"),
                         load(tmp_path / "features/audio.zarr")[test],
                         load(tmp_path / "features/video.zarr")[test])
    expected = table1.evaluate(za, zv, 8, meta.video_id[test], p["seed"], p["eval"]["bootstrap"])
    for key, value in expected["paper"].items():
        assert ret["main"]["paper"][key] == (value if isinstance(value, dict) else pytest.approx(value))
    assert ret["main"]["authors_code"] == expected["authors_code"]
    assert ret["main"]["full"]["median_rank_a2v"] == pytest.approx(expected["full"]["median_rank_a2v"])
    assert ret["main"]["full"]["chance"]["median_rank"] == (test.sum() + 1) / 2
    assert ret["main"]["paper"]["n_chunks"] == test.sum() // 8

    assert list(prb) == ["musicnn", "r2plus1d", "musicnn+r2plus1d", "cl_audio", "cl_video", "cl_agg"]
    for rep in prb.values():
        for task in ("genre", "tags"):
            assert {"auc", "f1", "excluded", "n_test"} <= set(rep[task])
        assert rep["aggregate"] == "mean"
        assert list(rep["by_aggregate"]) == p["probe"]["compare_aggregates"]
        assert {k: rep["by_aggregate"]["mean"]["genre"][k] for k in ("auc", "f1")} == \
            {k: rep["genre"][k] for k in ("auc", "f1")}
    assert prb["musicnn"]["genre"]["auc"] > 0.8           # audio features carry the genre
    assert prb["musicnn"]["tags"]["n_classes"] == p["probe"]["top_tags"]
    assert prb["musicnn"]["genre"]["n_train"] == 18        # the skipped index row is ignored

    assert "**Table 1.**" in md and "**Table 2.**" in md and "**Table 3.**" in md
    assert "| Single projection head |" in md and "| CL_base |" in md
    assert "(0.78)" in md and "| 507 | 502 |" in md


def test_baselines_do_not_depend_on_the_trained_models(tmp_path, monkeypatch):
    make_workspace(tmp_path)
    ret1, prb1, _ = run_stage(tmp_path, monkeypatch)
    # another main configuration (single head, other tau, other weights)
    write_models(tmp_path, params(single_head=True, tau=0.3), seed=1)
    ret2, prb2, _ = run_stage(tmp_path, monkeypatch)
    for name in BASELINES:
        assert prb2[name] == prb1[name], name
    assert ret2["main"] != ret1["main"]
    assert prb2["cl_audio"] != prb1["cl_audio"]


def test_probed_configurations_get_their_own_rows(tmp_path, monkeypatch):
    p = params()
    p["probe"].update(configs=["cl_base"], compare_aggregates=["mean", "attention"])
    make_workspace(tmp_path, p=p)
    _, prb, md = run_stage(tmp_path, monkeypatch)
    assert list(prb)[6:] == ["cl_audio@cl_base", "cl_video@cl_base", "cl_agg@cl_base"]
    assert "| CL_a (cl_base) |" in md
    p["probe"]["configs"] = ["nonexistent"]
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(p))
    with pytest.raises(KeyError, match="nonexistent"):
        evaluate.main()


def test_missing_model_is_named(tmp_path, monkeypatch):
    make_workspace(tmp_path)
    (tmp_path / "models/cl_base.pt").unlink()
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError, match="cl_base"):
        evaluate.main()


def fake_retrieval():
    view = {"median_rank_a2v": 3.5, "median_rank_v2a": 4.0, "n_chunks": 2, "min_chunk": 8,
            "max_chunk": 10, "n_segments": 18, "chance": {"median_rank": 4.75},
            "ci95": {"median_rank_a2v": [2.0, 5.5], "median_rank_v2a": [3.0, 6.0]}}
    full = {**view, "median_rank_a2v": 7.0, "chance": {"median_rank": 9.5}, "ci95": {}}
    entry = {"paper": view, "full": full,
             "authors_code": {"median_rank_a2v": 0.0, "median_rank_v2a": 0.0, "n_chunks": 0,
                              "chance_median_rank": 3.5},
             "authors_code_variant": {"median_rank_a2v": 5.0, "median_rank_v2a": 4.5,
                                      "chance_median_rank": 4.75}}
    return {"rank_pool": 8, "bootstrap": 100, "main": entry,
            "configs": {"tau03": entry, "my_config": entry}}


def fake_probes():
    task = {"auc": 0.75, "f1": None, "f1_at_half": 0.4, "n_train": 5, "n_val": 2, "n_test": 2,
            "n_classes": 3, "n_evaluated": 2, "excluded": ["jazz"], "f1_classes": 3}
    return {"musicnn": {"genre": task, "tags": task}, "cl_agg": {"genre": task, "tags": task}}


def test_table1_layout():
    md = tables.table1(fake_retrieval())
    lines = md.splitlines()
    cells = "3.5 [2.0–5.5] | 4.0 [3.0–6.0] | 7.0 | 4.0 | – (no full chunk) | 5.0 / 4.5"
    assert f"| main (top-level params) | {cells} | – | – |" in lines
    assert f"| τ = 0.3 | {cells} | 497 | 503 |" in lines
    assert f"| my_config | {cells} | – | – |" in lines
    assert lines[-1] == "| *chance* | 4.8 | 4.8 | 9.5 | 9.5 | 3.5 | 4.8 | ≈500 | ≈500 |"
    assert "2 chunk(s) of 8–10 segments" in md and "100 resamples" in md


def test_table2_layout():
    md = tables.table2(fake_probes())
    assert "| Musicnn | 0.750 (0.78) | 0.400 (0.22) | – | 0.750 (0.79) | – (0.18) |" in md
    assert "| CL_agg | 0.750 (0.71) | 0.400 (0.11) | – | 0.750 (0.68) | – (0.07) |" in md
    assert "without a positive or a negative test video: jazz" in md and "F1 over 3 classes" in md


def test_names_from_the_data_are_escaped():
    prb = fake_probes()
    for rep in prb.values():
        rep["genre"]["excluded"] = ["<script>alert(1)</script>", "a|b"]
    md = tables.table2(prb)
    assert "<script>" not in md and "&lt;script&gt;alert(1)&lt;/script&gt;, a\\|b" in md


def test_render_holds_both_tables():
    md = tables.render(fake_retrieval(), fake_probes())
    assert md.index("**Table 1.**") < md.index("**Table 2.**")
    assert all(s in md for s in ("retrieval.json", "probes.json"))
    assert "Table 3" not in md and "diagnostics" not in md      # nothing to show


def test_table3_lays_out_every_aggregation():
    prb = fake_probes()
    prb["musicnn"]["by_aggregate"] = {"mean": {"genre": {"auc": 0.7, "f1": 0.1},
                                               "tags": {"auc": 0.6, "f1": 0.2}},
                                      "max": {"genre": {"auc": None, "f1": None},
                                              "tags": {"auc": 0.65, "f1": 0.3}}}
    prb["cl_agg@aligned"] = {**prb["cl_agg"], "by_aggregate": {"max": prb["musicnn"]["by_aggregate"]["max"]}}
    md = tables.table3(prb)
    assert "| Musicnn | 0.600 / 0.700 | 0.650 / – |" in md
    assert "| CL_agg | – | – |" in md and "| CL_agg (aligned) | – | 0.650 / – |" in md
