"""Diagnostics of trained embeddings against brute-force references, the verdicts drawn from
them, and the diagnose and tables stages on a tiny workspace."""
import csv
import json
import math

import numpy as np
import pytest
from fixtures_eval import make_workspace

from mvclr.contrastive.fitting import HISTORY_COLUMNS
from mvclr.evaluation import diagnostics, similarity
from mvclr.reporting import verdicts
from stages import diagnose, tables


def unit(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def pairs(n=12, d=5, seed=0, positive=False):
    rng = np.random.default_rng(seed)
    za, zv = rng.normal(size=(n, d)), rng.normal(size=(n, d))
    if positive:
        za, zv = np.abs(za), np.abs(zv)
    return za, zv


def test_logit_stats_match_brute_force():
    za, zv = pairs()
    tau = 0.3
    out = diagnostics.logit_stats(za, zv, tau)
    a, v = unit(za), unit(zv)
    n = len(a)
    s = [[float(a[i] @ v[k]) / tau for k in range(n)] for i in range(n)]

    def entropy(row):
        z = sum(math.exp(x) for x in row)
        return -sum(math.exp(x) / z * math.log(math.exp(x) / z) for x in row)

    def prob(row, j):
        return math.exp(row[j]) / sum(math.exp(x) for x in row)

    cols = [[s[i][k] for i in range(n)] for k in range(n)]
    flat = [x for row in s for x in row]
    assert out["logit_range"] == pytest.approx(max(flat) - min(flat))
    h = (np.mean([entropy(r) for r in s]) + np.mean([entropy(c) for c in cols])) / 2
    assert out["entropy_share"] == pytest.approx(h / math.log(n))
    p = (np.mean([prob(s[j], j) for j in range(n)]) + np.mean([prob(cols[j], j) for j in range(n)])) / 2
    assert out["partner_prob_x_n"] == pytest.approx(p * n)
    assert out["logit_bound"] == pytest.approx(2 / tau)          # some cosines are negative
    # all-positive embeddings (sigmoid outputs): the bound is 1/tau, entropy near its maximum
    pos = diagnostics.logit_stats(*pairs(positive=True), tau=1.0)
    assert pos["logit_bound"] == 1.0 and pos["logit_range"] <= 1.0 and pos["entropy_share"] > 0.99
    # perfectly aligned, well separated partners with a small tau: the softmax is sharp
    eye = np.eye(8)
    sharp = diagnostics.logit_stats(eye, eye, 0.05)
    assert sharp["entropy_share"] < 0.01 and sharp["partner_prob_x_n"] == pytest.approx(8, rel=1e-3)


def test_alignment_uniformity_gap_match_brute_force():
    za, zv = pairs(n=9, d=4, seed=1)
    a, v = unit(za), unit(zv)
    assert diagnostics.alignment(za, zv) == pytest.approx(np.mean([np.sum((a[i] - v[i]) ** 2) for i in range(9)]))
    pair_terms = [math.exp(-2 * np.sum((a[i] - a[j]) ** 2)) for i in range(9) for j in range(i + 1, 9)]
    assert diagnostics.uniformity(za) == pytest.approx(math.log(np.mean(pair_terms)))
    ids = np.arange(9)
    assert diagnostics.diagnose(za, zv, ids, 1.0)["modality_gap"] == pytest.approx(
        np.linalg.norm(a.mean(0) - v.mean(0)))
    # limiting cases
    same = np.ones((4, 3))
    assert diagnostics.uniformity(same) == pytest.approx(0.0)
    assert diagnostics.uniformity(np.array([[1.0, 0], [-1.0, 0]])) == pytest.approx(-8.0)
    assert diagnostics.alignment(za, za) == pytest.approx(0.0)
    assert diagnostics.alignment(za, -za) == pytest.approx(4.0)
    assert diagnostics.diagnose(za, za, ids, 1.0)["modality_gap"] == pytest.approx(0.0)
    # uniformity in blocks equals the one-block result
    big = np.random.default_rng(2).normal(size=(50, 6))
    full = diagnostics.uniformity(big)
    old = similarity.BLOCK_ELEMENTS
    try:
        similarity.BLOCK_ELEMENTS = 120
        assert diagnostics.uniformity(big) == pytest.approx(full)
    finally:
        similarity.BLOCK_ELEMENTS = old


def test_similarity_groups_histograms_and_separation():
    za, zv = pairs(n=6, d=3, seed=3)
    ids = np.array(["a", "a", "b", "b", "b", "c"])
    g = diagnostics.similarity_groups(za, zv, ids)
    a, v = unit(za), unit(zv)
    expect = {"positive": [], "same_video": [], "negative": []}
    for i in range(6):
        for k in range(6):
            key = "positive" if i == k else "same_video" if ids[i] == ids[k] else "negative"
            expect[key].append(a[i] @ v[k])
    for key, values in expect.items():
        np.testing.assert_allclose(np.sort(g[key]), np.sort(values))
    assert [len(g[k]) for k in ("positive", "same_video", "negative")] == [6, 2 + 6, 36 - 6 - 8]
    h = diagnostics.histograms(g)
    assert [sum(h[k]) for k in g] == [len(g[k]) for k in g]
    assert diagnostics.separation_auc(np.array([0.9, 0.8]), np.array([0.1, 0.2, 0.7])) == 1.0
    assert diagnostics.separation_auc(np.array([0.5]), np.array([0.5])) == 0.5
    with pytest.raises(ValueError, match="video ids"):
        diagnostics.similarity_groups(za, zv, ids[:3])


def test_coherence_and_saturation():
    z = np.array([[1.0, 0], [0.8, 0.6], [0, 1.0], [0.6, 0.8]])
    ids = np.array(["x", "x", "y", "y"])
    out = diagnostics.coherence(z, ids)
    c = unit(z) @ unit(z).T
    assert out["within_video"] == pytest.approx((c[0, 1] + c[2, 3]) / 2)
    assert out["between_video"] == pytest.approx(np.mean([c[0, 2], c[0, 3], c[1, 2], c[1, 3]]))
    assert out["same_video_auc"] == pytest.approx(np.mean([w > b for w in (c[0, 1], c[2, 3])
                                                           for b in (c[0, 2], c[0, 3], c[1, 2], c[1, 3])]))
    assert diagnostics.saturation(np.array([-6.0, -1, 0, 4.9, 5.1, 20])) == pytest.approx(0.5)


def test_pools_merge_as_documented():
    """Over pools: exact per-pair figures, pooled pairwise means and histograms, averaged AUCs,
    entropy per segment; one pool is the whole split."""
    za, zv = pairs(n=30, d=4, seed=5)
    ids = np.repeat(np.arange(10), 3)
    bounds = [(0, 12), (12, 30)]
    pools = [np.arange(a, b) for a, b in bounds]
    got = diagnostics.diagnose(za, zv, ids, 0.5, pools)
    one = [diagnostics.diagnose(za[a:b], zv[a:b], ids[a:b], 0.5) for a, b in bounds]
    assert got["alignment"] == pytest.approx(diagnostics.alignment(za, zv))
    a, v = unit(za), unit(zv)
    assert got["modality_gap"] == pytest.approx(np.linalg.norm(a.mean(0) - v.mean(0)))
    sizes = [b - a for a, b in bounds]
    assert got["entropy_share"] == pytest.approx(np.average([o["entropy_share"] for o in one], weights=sizes))
    assert got["separation_auc"] == pytest.approx(np.mean([o["separation_auc"] for o in one]))
    assert got["logit_range"] == pytest.approx(max(o["logit_max"] for o in one)
                                               - min(o["logit_min"] for o in one))
    groups = [diagnostics.similarity_groups(za[x:y], zv[x:y], ids[x:y]) for x, y in bounds]
    negative = np.concatenate([g["negative"] for g in groups])
    assert got["similarity"]["negative"]["mean"] == pytest.approx(negative.mean())
    assert got["similarity"]["negative"]["std"] == pytest.approx(negative.std())
    assert got["histograms"]["negative"] == diagnostics.histograms({"n": negative})["n"]
    pairs_a = [math.exp(-2 * np.sum((a[i] - a[j]) ** 2)) for x, y in bounds
               for i in range(x, y) for j in range(i + 1, y)]
    assert got["uniformity_audio"] == pytest.approx(math.log(np.mean(pairs_a)))
    within = [a[i] @ a[j] for x, y in bounds for i in range(x, y) for j in range(i + 1, y) if ids[i] == ids[j]]
    assert got["coherence_audio"]["within_video"] == pytest.approx(np.mean(within))
    whole = diagnostics.diagnose(za, zv, ids, 0.5)
    assert whole["uniformity_audio"] == pytest.approx(diagnostics.uniformity(za))
    assert whole["coherence_video"] == pytest.approx(diagnostics.coherence(zv, ids))


def around(x, half_width=0.01):
    return [x - half_width, x + half_width]


def retrieval_entry(mr, code=None, chance=18.5, width=0.01):
    """A retrieval.json entry of median rank `mr` whose ratio interval is `width` wide."""
    ratio = mr / chance
    view = {"median_rank_a2v": mr, "median_rank_v2a": mr, "chance": {"median_rank": chance},
            "n_chunks": 1, "min_chunk": 2 * chance - 1, "max_chunk": 2 * chance - 1,
            "n_segments": 2 * chance - 1, "ci95": {"ratio": around(ratio, width)}}
    code = chance if code is None else code
    return {"paper": view, "full": view,
            "authors_code": {"median_rank_a2v": 0.0, "median_rank_v2a": 0.0, "n_chunks": 0,
                             "chance_median_rank": 999.5},
            "authors_code_variant": {"median_rank_a2v": code, "median_rank_v2a": code,
                                     "chance_median_rank": chance,
                                     "ci95": {"ratio": around(code / chance)}}}


def diag_entry(**kw):
    base = {"tau": 1.0, "n": 36, "cos_min": 0.0, "logit_range": 0.99, "entropy_share": 0.98,
            "partner_prob_x_n": 1.5, "separation_auc": 0.88, "alignment": 0.7,
            "modality_gap": 0.2, "uniformity_audio": -2.0, "uniformity_video": -2.0,
            "saturation": {"audio": 0.8, "video": None}}
    entry = {**base, **kw}
    share = entry["modality_gap"] / np.sqrt(entry["alignment"])
    ci = {"entropy_share": around(entry["entropy_share"]), "gap_share": around(share)}
    if entry["saturation"] is not None:
        ci["saturation"] = {m: around(v) for m, v in entry["saturation"].items() if v is not None}
    return {**entry, "ci95": ci}


def probe_gains(max_genre=0.7, max_tags=0.65, width=0.005):
    def task(auc, base):
        return {"auc": auc, "auc_minus_primary_ci95": around(auc - base, width)}
    return {"cl_audio": {"aggregate": "mean", "by_aggregate": {
        "mean": {"genre": task(0.6, 0.6), "tags": task(0.6, 0.6)},
        "max": {"genre": task(max_genre, 0.6), "tags": task(max_tags, 0.6)}}}}


def perfect_code(ratio=1.0, width=0.01):
    return {"literal": {"n_chunks": 0, "median_rank_a2v": 0.0, "median_rank_v2a": 0.0,
                        "chance_median_rank": 999.5},
            "variant": {"median_rank_a2v": 18.5 * ratio, "median_rank_v2a": 18.5 * ratio,
                        "chance_median_rank": 18.5, "ci95": {"ratio": around(ratio, width)}}}


def test_verdicts_follow_the_numbers_and_their_intervals():
    probes = probe_gains()
    diag = {"configs": {"cl_base": diag_entry(), "aligned": diag_entry(
                tau=0.07, cos_min=-0.5, logit_range=15.0, entropy_share=0.5, saturation=None)},
            "frozen": {"r2plus1d": {"within_video": 0.9, "between_video": 0.9, "same_video_auc": 0.55,
                                    "ci95": {"same_video_auc": around(0.55)}}},
            "authors_code_perfect": perfect_code(1.01)}
    ret = {"main": retrieval_entry(4.5), "configs": {"cl_base": retrieval_entry(4.5),
                                                     "aligned": retrieval_entry(3.7, code=20.0)}}
    out = verdicts.verdicts(diag, ret, probes)
    assert all(v["verdict"] in ("HOLDS", "DOES NOT HOLD") for v in out)
    got = {v["claim"]: v["verdict"] for v in out}

    def find(text):
        return next(v for c, v in got.items() if text in c)

    assert find("confine the logits") == "HOLDS"
    assert find("near-uniform") == "HOLDS"
    assert find("hence it does not align") == "DOES NOT HOLD"     # 4.5 / 18.5 < 0.8
    assert find("authors' evaluation code") == "HOLDS"
    assert find("sigmoids saturate") == "HOLDS"
    assert find("aligned (no sigmoid") == "HOLDS"                 # 3.7 / 18.5 = 0.2
    assert find("cl_base: a modality gap") == "DOES NOT HOLD"
    assert find("barely more alike") == "HOLDS"
    assert find("mean-pooling") == "HOLDS"                        # max beats mean by 0.1, 0.05
    assert any("0.24 × chance" in v["evidence"] for v in out)

    # other numbers, other verdicts
    diag["configs"]["cl_base"] = diag_entry(entropy_share=0.5, logit_range=1.5, cos_min=-0.2,
                                            saturation={"audio": 0.1, "video": 0.2})
    ret["configs"]["cl_base"] = retrieval_entry(17.0, code=5.0)
    probes = probe_gains(max_genre=0.6, max_tags=0.61)
    got = {v["claim"]: v["verdict"] for v in verdicts.verdicts(diag, ret, probes)}
    assert find("confine the logits") == "DOES NOT HOLD"
    assert find("near-uniform") == "DOES NOT HOLD"
    assert find("hence it does not align") == "HOLDS"
    assert find("authors' evaluation code") == "DOES NOT HOLD"
    assert find("sigmoids saturate") == "DOES NOT HOLD"
    assert find("mean-pooling") == "DOES NOT HOLD"

    # claims about missing configurations are left out
    only_main = verdicts.verdicts({"configs": {"main": diag_entry()}}, {"main": ret["main"]}, {})
    assert only_main == []


def test_an_interval_across_the_criterion_is_inconclusive():
    """The same point estimates as a clear verdict, with intervals wide enough to straddle
    the criterion (a test split of a few videos): INCONCLUSIVE, never HOLDS."""
    diag = {"configs": {"cl_base": diag_entry(entropy_share=0.92),
                        "aligned": diag_entry(tau=0.07, cos_min=-0.5, logit_range=15.0,
                                              entropy_share=0.5, saturation=None)},
            "authors_code_perfect": perfect_code(1.01, width=0.3)}
    diag["configs"]["cl_base"]["ci95"]["entropy_share"] = [0.85, 0.97]
    ret = {"main": retrieval_entry(4.5),
           "configs": {"cl_base": retrieval_entry(16.0, width=0.2),     # ratio 0.86 [0.66, 1.06]
                       "aligned": retrieval_entry(8.0, width=0.2)}}     # ratio 0.43 [0.23, 0.63]
    got = {v["claim"]: v["verdict"] for v in verdicts.verdicts(diag, ret, probe_gains(width=0.2))}

    def find(text):
        return next(v for c, v in got.items() if text in c)

    assert find("near-uniform") == "INCONCLUSIVE"
    assert find("hence it does not align") == "INCONCLUSIVE"
    assert find("authors' evaluation code") == "INCONCLUSIVE"
    assert find("aligned (no sigmoid") == "INCONCLUSIVE"
    assert find("mean-pooling") == "INCONCLUSIVE"
    assert find("confine the logits") == "HOLDS"                  # structural: exact


def write_curves(root, names, epochs=3):
    for name in names:
        path = root / "reports/train" / f"{name}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=HISTORY_COLUMNS)
            w.writeheader()
            for e in range(1, epochs + 1):
                w.writerow(dict(epoch=e, train_loss=1.0, val_loss=1.0, val_median_rank=5.0 - e,
                                lr=0.01, tau=1.0))


def test_diagnose_and_tables_stages(tmp_path, monkeypatch):
    p = make_workspace(tmp_path)
    names = ["main", *p["configs"]]
    write_curves(tmp_path, names)
    monkeypatch.chdir(tmp_path)
    diagnose.main()
    report = json.loads((tmp_path / "reports/diagnostics.json").read_text())
    assert list(report["configs"]) == names and report["split"] == "test"
    assert report["n_segments"] == report["configs"]["main"]["n"] == 18
    main = report["configs"]["main"]
    assert main["head_activation"] == "sigmoid" and main["logit_bound"] == 1.0
    assert set(main["saturation"]) == {"audio", "video"}
    assert report["configs"]["single_head"]["saturation"]["audio"] is None
    assert set(report["frozen"]) == {"musicnn", "r2plus1d"}
    assert report["pairwise"] == {"pool": 8, "pools": 2, "auc_interval_pools": 2,
                                  "auc_interval_negatives": 50_000}
    for png in ("similarities.png", "val_median_rank.png"):
        assert (tmp_path / "reports/diagnostics" / png).read_bytes()[:4] == b"\x89PNG"

    # the tables stage renders everything, the diagnostics section included
    (tmp_path / "reports/retrieval.json").write_text(json.dumps(
        {"rank_pool": 8, "bootstrap": 10, "main": retrieval_entry(4.0, chance=9.5),
         "configs": {n: retrieval_entry(4.0, chance=9.5) for n in p["configs"]}}))
    (tmp_path / "reports/probes.json").write_text(json.dumps({}))
    tables.main()
    md = (tmp_path / "reports/tables.md").read_text()
    assert "## Why alignment fails or works" in md and "| CL_base | sigmoid | 1 |" in md
    assert "computed within each of 2 pools of 8–15 test segments" in md
    assert "**HOLDS**" in md or "**DOES NOT HOLD**" in md


def test_diagnose_names_a_missing_curve(tmp_path, monkeypatch):
    make_workspace(tmp_path)
    write_curves(tmp_path, ["main", "cl_base"])
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError, match="single_head.csv"):
        diagnose.main()
