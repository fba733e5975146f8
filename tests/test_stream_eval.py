"""The stages after training stream the stores: vectors spilled to RowFiles in one pass, then
ranks, Table 1, diagnostics and video vectors read by blocks or gathered pools, each equal to the
in-memory computation on a tiny store with tiny blocks."""
import numpy as np
import pytest
import torch
from fixtures_train import skewed_stores

from mvclr.contrastive import heads
from mvclr.evaluation import diagnostics, pooling, retrieval, similarity, table1
from mvclr.evaluation.embedded import embedder, spill, split_counts
from mvclr.evaluation.rowfile import RowFile
from mvclr.features.paired import PairedStores

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def spilled(tmp_path_factory):
    root = tmp_path_factory.mktemp("ws")
    ids, split, audio, video = skewed_stores(root, block_rows=4)
    stores = PairedStores(root)
    torch.manual_seed(0)
    model = heads.build(dict(head_layers=2, hidden_dim=8, embed_dim=4, head_activation="none",
                             batchnorm=False, dropout=0.0, single_head=False, tau=0.5,
                             learn_tau=False), audio.shape[1], video.shape[1])
    out = spill(stores, {"frozen": (None, "test"), "cl": (embedder(model), "test"),
                         "all": (embedder(model), None)}, root / "scratch")
    return stores, ids, split, audio, video, model, out


def test_row_file_reads_like_an_array_and_refuses_out_of_order_writes(tmp_path):
    x = np.random.default_rng(0).normal(size=(11, 3)).astype(np.float32)
    f = RowFile(tmp_path / "x.npy", 11)
    with pytest.raises(ValueError, match="only 0 of 11"):
        f[0:1]
    for a in range(0, 11, 4):
        f[a:a + 4] = x[a:a + 4]
    np.testing.assert_array_equal(f[2:9], x[2:9])
    np.testing.assert_array_equal(f[[7, 1, 1]], x[[7, 1, 1]])
    assert f.shape == (11, 3) and len(f) == 11
    with pytest.raises(ValueError, match="written in order"):
        f[3:4] = x[3:4]


def test_spill_equals_the_in_memory_vectors(spilled):
    stores, ids, split, audio, video, model, out = spilled
    test = split == "test"
    np.testing.assert_array_equal(out["frozen"][0][:], audio[test])
    np.testing.assert_array_equal(out["frozen"][1][:], video[test])
    za, zv = heads.embed(model, audio, video)
    np.testing.assert_allclose(out["cl"][0][:], za[test], rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(out["all"][1][:], zv, rtol=1e-6, atol=1e-7)
    assert split_counts(stores.layout, "test").sum() == test.sum()


def test_blocked_ranks_and_table1_equal_in_memory(spilled, monkeypatch):
    stores, ids, split, audio, video, model, out = spilled
    za_file, zv_file = out["cl"]
    za, zv = za_file[:], zv_file[:]
    monkeypatch.setattr(similarity, "BLOCK_ELEMENTS", 30)         # blocks of both sides
    monkeypatch.setattr(retrieval, "QUERY_ROWS", 5)
    blocked = retrieval.ranks(za_file, zv_file)
    monkeypatch.setattr(retrieval, "QUERY_ROWS", 10 ** 6)
    monkeypatch.setattr(similarity, "BLOCK_ELEMENTS", 10 ** 8)
    np.testing.assert_array_equal(blocked[0], retrieval.ranks(za, zv)[0])
    np.testing.assert_array_equal(blocked[1], retrieval.ranks(zv, za)[0])
    codes = stores.layout.row_codes(stores.layout.videos_of("test"))
    np.testing.assert_array_equal(np.unique(codes, return_inverse=True)[1],
                                  np.unique(ids[split == "test"], return_inverse=True)[1])
    streamed = table1.evaluate(za_file, zv_file, 4, codes, 0, 50)
    assert streamed == table1.evaluate(za, zv, 4, ids[split == "test"], 0, 50)


def test_diagnostics_over_row_files_equal_in_memory(spilled):
    stores, ids, split, audio, video, model, out = spilled
    za_file, zv_file = out["cl"]
    test_ids = ids[split == "test"]
    order = retrieval.chunk_order(test_ids, 0)
    pools = [order[a:b] for a, b in retrieval.chunk_bounds(len(test_ids), 4)]
    assert len(pools) > 1
    got = diagnostics.diagnose(za_file, zv_file, test_ids, 0.5, pools)
    want = diagnostics.diagnose(za_file[:], zv_file[:], test_ids, 0.5, pools)
    assert got == want


@pytest.mark.parametrize("how", ["mean", "max"])
def test_video_vectors_from_the_stores_equal_in_memory(spilled, how):
    stores, ids, split, audio, video, model, out = spilled
    counts, videos = stores.layout.count, stores.layout.ids
    got = pooling.video_vectors(stores.video_blocks(), "musicnn+r2plus1d", counts, how)
    want = pooling.aggregate(np.hstack([audio, video]), ids, videos, how)
    np.testing.assert_allclose(got, want, rtol=1e-6)
    only_video = pooling.video_vectors(stores.video_blocks(audio=False), "r2plus1d", counts, how)
    np.testing.assert_allclose(only_video, pooling.aggregate(video, ids, videos, how), rtol=1e-6)


def test_same_video_auc_interval_over_pools_and_sampled_pairs(monkeypatch):
    from mvclr.evaluation import intervals
    rng = np.random.default_rng(1)
    ids = np.repeat(np.arange(40), 3)
    z = rng.normal(size=(40, 5))[ids] + 1.5 * rng.normal(size=(120, 5))   # a video's segments alike
    pools = [np.arange(0, 60), np.arange(60, 120)]
    point = diagnostics.coherence_over_pools(z, ids, pools)["same_video_auc"]
    low, high = intervals.same_video_auc(z, ids, 200, 0, pools)
    assert low < point < high and 0.5 < low
    monkeypatch.setattr(intervals, "NEGATIVE_PAIRS", 300)                 # of 1716 per pool
    monkeypatch.setattr(intervals, "AUC_POOLS", 1)
    sampled = intervals.same_video_auc(z, ids, 200, 0, pools)
    assert sampled != [low, high] and sampled[0] < point + 0.1 and sampled[1] > point - 0.1
