"""MLP probes: aggregation, standardisation, label sets, thresholds, metrics, determinism."""
import numpy as np
import pytest
import torch
from sklearn.metrics import f1_score, roc_auc_score

from mvclr.evaluation import pooling, probes
from mvclr.evaluation.videos import Videos, video_table

CFG = {"aggregate": "mean", "top_tags": 3, "hidden": [32, 16], "lr": 0.01, "weight_decay": 1e-4,
       "max_epochs": 100, "patience": 10, "batch_size": 16}
GENRES = ["jazz", "pop", "rock"]


def synthetic_videos(n=60, seed=0, genre_of=None):
    """Videos whose (noisy) features reveal their genre; tags follow genre."""
    rng = np.random.default_rng(seed)
    genre_idx = rng.integers(0, 3, n) if genre_of is None else genre_of
    split = np.array(["train"] * int(0.6 * n) + ["val"] * int(0.2 * n)
                     + ["test"] * (n - int(0.6 * n) - int(0.2 * n)))
    tag_sets = [["sax", "mellow"], ["catchy"], ["guitar", "loud"]]
    videos = Videos(ids=np.array([f"v{i:03d}" for i in range(n)]), split=split,
                           genre=[GENRES[g] for g in genre_idx],
                           tags=[list(tag_sets[g]) for g in genre_idx])
    x = np.eye(3, 8)[genre_idx] * 2 + rng.normal(size=(n, 8))
    return videos, x.astype(np.float32)


def test_aggregate_mean_per_video_in_given_order():
    seg_ids = np.array(["b", "a", "b", "c", "a", "b"])
    x = np.arange(12, dtype=np.float32).reshape(6, 2)
    out = pooling.aggregate(x, seg_ids, np.array(["c", "a", "b"]), "mean")
    np.testing.assert_allclose(out, [x[3], x[[1, 4]].mean(0), x[[0, 2, 5]].mean(0)])
    with pytest.raises(ValueError, match="unknown probe.aggregate"):
        pooling.aggregate(x, seg_ids, np.array(["a"]), "median-of-nothing")


def test_video_table_order_labels_and_bad_index():
    ids, split = np.array(["b", "a"]), np.array(["test", "train"])          # the layout's order
    rows = [{"video_id": "a", "split": "train", "genre": "pop", "tags": ["x"]},
            {"video_id": "b", "split": "test", "genre": "", "tags": []},
            {"video_id": "a", "split": "", "genre": "jazz", "tags": [], "status": "skipped"}]
    v = video_table(ids, split, rows)
    assert list(v.ids) == ["b", "a"] and list(v.split) == ["test", "train"]
    assert v.genre == ["", "pop"] and v.tags == [[], ["x"]]
    with pytest.raises(ValueError, match="index.csv.*no row"):
        video_table(ids, split, rows[:1] + rows[2:])
    with pytest.raises(ValueError, match="split differs"):
        video_table(ids, np.array(["val", "train"]), rows)


def test_standardise_uses_training_rows_only():
    rng = np.random.default_rng(1)
    x = rng.normal(3, 2, size=(20, 4))
    x[:, 3] = 5.0                                    # constant column stays finite
    train = np.arange(20) < 12
    z = probes.standardise(x.copy(), train)
    np.testing.assert_allclose(z[train, :3].mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(z[train, :3].std(0), 1, atol=1e-5)
    assert np.all(z[:, 3] == 0)
    x2 = x.copy()
    x2[~train] += 100                                # test rows do not move the statistics
    np.testing.assert_allclose(probes.standardise(x2, train)[train], z[train])
    assert probes.standardise(x2, train) is x2                # in place


def test_tags_are_the_most_frequent_of_the_training_split():
    videos = Videos(
        ids=np.array(list("abcdef")), split=np.array(["train"] * 4 + ["test"] * 2),
        genre=[""] * 6,
        tags=[["rock", "pop"], ["rock", "jazz"], ["pop", "indie"], [], ["metal"], ["metal", "rock"]])
    task = probes.tags_task(videos, top=3)
    # rock 2, pop 2, then indie/jazz tied at 1 -> by name; metal (test only) never chosen
    assert task.classes == ["pop", "rock", "indie"]
    assert list(task.labelled) == [True, True, True, False, True, True]
    np.testing.assert_array_equal(task.y[5], [0, 1, 0])


def test_genre_classes_come_from_training_and_unseen_genres_stay():
    videos = Videos(ids=np.array(list("abcd")), split=np.array(["train", "train", "test", "test"]),
                           genre=["rock", "pop", "jazz", ""], tags=[[]] * 4)
    task = probes.genre_task(videos)
    assert task.classes == ["pop", "rock"]
    assert list(task.y[:3]) == [1, 0, -1] and list(task.labelled) == [True, True, True, False]


def test_choose_threshold_maximises_validation_f1():
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 30)
    s = np.clip(y * 0.3 + rng.uniform(0, 0.7, 30), 0, 1)
    t = probes.choose_threshold(y, s)
    best = max(f1_score(y, s >= c) for c in np.unique(s))
    assert f1_score(y, s >= t) == pytest.approx(best)
    assert probes.choose_threshold(np.zeros(5), s[:5]) == 0.5


def test_score_auc_over_classes_with_both_labels_f1_over_true_or_predicted_classes():
    task = probes.Task("genre", ["a", "b", "c", "d"], False, np.zeros(0), np.zeros(0, bool))
    y = np.array([0, 0, 1, 1, 1, -1])                 # c, d absent; -1: genre unseen in training
    rng = np.random.default_rng(3)
    p = rng.dirichlet(np.ones(4), size=6)
    p[0, 2] = 2.0                                     # predicted c once: a false positive of c
    out = probes.score(task, y, p, None)
    assert out["excluded"] == ["c", "d"] and out["n_evaluated"] == 2
    auc = np.mean([roc_auc_score(y == k, p[:, k]) for k in (0, 1)])
    predicted = p.argmax(1)
    labels = sorted({0, 1} | {int(k) for k in predicted})   # c (and d if predicted) count
    f1 = f1_score(y, predicted, labels=labels, average="macro", zero_division=0)
    assert 2 in labels and out["f1_classes"] == len(labels)
    assert out["auc"] == pytest.approx(auc) and out["f1"] == pytest.approx(f1)
    # the false positive of c costs F1: with c left out (the old protocol) it would be higher
    assert out["f1"] < f1_score(y, predicted, labels=[0, 1], average="macro", zero_division=0)
    # a class every test video has has no negative: excluded from AUC, kept in F1
    tags = probes.Task("tags", ["x", "y"], True, np.zeros(0), np.zeros(0, bool))
    truth = np.array([[1, 0], [1, 1], [1, 0]])
    scores = rng.uniform(size=(3, 2))
    out = probes.score(tags, truth, scores, np.full(2, .5))
    assert out["excluded"] == ["x"] and out["n_evaluated"] == 1 and out["f1_classes"] == 2
    assert out["f1_at_half"] == out["f1"]              # thresholds 0.5: the two protocols agree


def test_probe_aggregations_give_intervals_of_auc_and_of_the_gain_over_mean():
    videos, x = synthetic_videos()
    seg_ids = np.repeat(videos.ids, 2)
    xs = np.repeat(x, 2, axis=0) + np.random.default_rng(0).normal(size=(len(seg_ids), x.shape[1]))
    cfg = {**CFG, "aggregate": "mean", "compare_aggregates": ["mean", "max"]}
    xs = xs.astype(np.float32)
    out = probes.probe_aggregations(lambda how: pooling.aggregate(xs, seg_ids, videos.ids, how),
                                    videos, cfg, seed=0, name="rep", n_boot=200)
    low, high = out["genre"]["auc_ci95"]
    assert low <= out["genre"]["auc"] <= high
    gain = out["by_aggregate"]["mean"]["genre"]["auc_minus_primary_ci95"]
    assert gain == [0.0, 0.0]                          # mean against itself: no gain, any resample
    gain = out["by_aggregate"]["max"]["genre"]["auc_minus_primary_ci95"]
    diff = out["by_aggregate"]["max"]["genre"]["auc"] - out["genre"]["auc"]
    assert gain[0] <= diff <= gain[1]


def test_probes_learn_separable_data_deterministically():
    videos, x = synthetic_videos()
    first = probes.probe_representation(x.copy(), videos, CFG, seed=0, name="rep")
    assert first["genre"]["auc"] > 0.9 and first["tags"]["auc"] > 0.9
    assert first["genre"]["f1"] > 0.6 and first["tags"]["f1"] > 0.6
    assert len(first["tags"]["classes"]) == 3 and first["tags"]["n_evaluated"] == 3
    torch.manual_seed(123)                             # global RNG state does not matter
    torch.rand(7)
    assert probes.probe_representation(x, videos, CFG, seed=0, name="rep") == first


def test_probe_never_crashes_on_missing_classes_or_labels():
    genre_of = np.array([0] * 30 + [1] * 10 + [2] * 20)   # test videos (last 12) all genre 2
    videos, x = synthetic_videos(genre_of=genre_of)
    videos.genre[0] = ""                                  # an unlabelled training video
    out = probes.probe_representation(x, videos, CFG, seed=0, name="rep")
    assert out["genre"]["auc"] is None and out["genre"]["excluded"] == ["jazz", "pop"]
    assert out["genre"]["n_train"] == 35
    no_tags = Videos(videos.ids, videos.split, videos.genre, [[] for _ in videos.ids])
    out = probes.probe_representation(x, no_tags, CFG, seed=0, name="rep")
    assert out["tags"]["auc"] is None and out["tags"]["n_classes"] == 0


def test_no_validation_videos_falls_back_to_training_loss():
    videos, x = synthetic_videos()
    videos.split[videos.split == "val"] = "train"
    out = probes.probe_representation(x, videos, CFG, seed=0, name="rep")
    assert out["genre"]["n_val"] == 0 and out["genre"]["auc"] > 0.9
    assert out["tags"]["thresholds"] == [0.5, 0.5, 0.5]


def test_combine_modalities_and_representations():
    za = np.array([[3.0, 4.0]])
    zv = np.array([[0.0, 2.0]])
    np.testing.assert_allclose(pooling.combine_modalities(za, zv), [[0.3, 0.9]])
    np.testing.assert_allclose(pooling.combine_modalities(za, np.array([[2.0, 0, 0]])),
                               [[0.6, 0.8, 1, 0, 0]])
    reps = pooling.representations(np.ones((2, 3)), np.zeros((2, 2)), za.repeat(2, 0), zv.repeat(2, 0))
    assert list(reps) == list(pooling.REPRESENTATIONS)
    assert reps["musicnn+r2plus1d"].shape == (2, 5)
