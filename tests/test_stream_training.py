"""Training reads the stores by blocks: the layout against brute force, windows of shuffled
blocks keep the sampler's guarantee across block boundaries, streamed statistics equal the
in-memory ones, and a fit on tiny blocks is seeded."""
import numpy as np
import pytest
import torch
from fixtures_train import skewed_stores, write_segments

from mvclr.contrastive import fitting, heads
from mvclr.contrastive.batching import epoch_batches, epoch_windows
from mvclr.contrastive.sources import Pairs, StoreSplit, standardisation
from mvclr.features.paired import PairedStores, read_layout

pytestmark = pytest.mark.usefixtures("one_thread")
BLOCK = 4                     # rows per store block: every video (6 segments) straddles blocks


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    """Tiny stores whose first audio column is the row number."""
    root = tmp_path_factory.mktemp("ws")
    ids, split, audio, video = skewed_stores(root, BLOCK)
    return PairedStores(root), ids, split, audio, video


def test_layout_and_blocks_match_brute_force(stores):
    s, ids, split, audio, video = stores
    layout = s.layout
    np.testing.assert_array_equal(layout.ids[layout.video_of(np.arange(len(ids)))], ids)
    np.testing.assert_array_equal(np.repeat(layout.split, layout.count), split)
    for name in ("train", "val", "test"):
        per_block = layout.rows_per_block(layout.videos_of(name), BLOCK)
        brute = [np.sum(split[b:b + BLOCK] == name) for b in range(0, len(ids), BLOCK)]
        np.testing.assert_array_equal(per_block, brute)
    chosen = np.array([7, 2, 11])
    np.testing.assert_array_equal(layout.rows_of(chosen),
                                  np.concatenate([np.flatnonzero(ids == layout.ids[v]) for v in chosen]))
    seen = []
    for videos, rows, a, v in s.video_blocks():
        assert rows.start == layout.start[videos.start]                # whole videos only
        assert rows.stop == layout.start[videos.stop - 1] + layout.count[videos.stop - 1]
        np.testing.assert_array_equal(a, audio[rows])
        np.testing.assert_array_equal(v, video[rows])
        seen.append(rows)
    assert seen[0].start == 0 and seen[-1].stop == len(ids)
    assert all(x.stop == y.start for x, y in zip(seen, seen[1:]))


def test_scattered_video_or_missing_split_is_refused(tmp_path):
    ids = np.array(["a", "a", "b", "a"])
    write_segments(tmp_path / "s.h5", ids, np.array(["train"] * 4))
    with pytest.raises(ValueError, match="'a' are not in consecutive rows"):
        read_layout(tmp_path / "s.h5", {"a": "train", "b": "test"})
    write_segments(tmp_path / "t.h5", ids[:3], np.array(["train"] * 3))
    with pytest.raises(ValueError, match=r"no split for videos \['b'\].*stage split"):
        read_layout(tmp_path / "t.h5", {"a": "train"})


@pytest.mark.parametrize("per_window", [1, 2, 100])
def test_windows_keep_videos_apart_and_use_every_segment_once(stores, per_window):
    s, ids, split, audio, _ = stores
    source = StoreSplit(s, "train")
    rng = np.random.default_rng(0)
    used = []
    for blocks in epoch_windows(source.blocks, per_window, np.random.default_rng(1)):
        window = source.read(blocks)
        rows = window.audio[:, 0].astype(int)
        np.testing.assert_array_equal(ids[rows], s.layout.ids[window.videos])
        assert set(split[rows]) == {"train"}
        for batch in epoch_batches(window.videos, 3, rng):
            assert len(set(window.videos[batch])) == len(batch)        # never two of one video
            used += rows[batch].tolist()
    assert sorted(used) == np.flatnonzero(split == "train").tolist()


def test_streamed_standardisation_equals_in_memory(stores):
    s, ids, split, audio, video = stores
    (ma, sa), (mv, sv) = standardisation(StoreSplit(s, "train"))
    train = split == "train"
    np.testing.assert_allclose(ma, audio[train].astype(np.float64).mean(0), rtol=1e-10, atol=1e-8)
    np.testing.assert_allclose(sa, audio[train].astype(np.float64).std(0), rtol=1e-9)
    np.testing.assert_allclose(sv, video[train].astype(np.float64).std(0), rtol=1e-9)
    assert heads.mean_std([audio[train]])[1] == pytest.approx(sa)


def test_fit_on_tiny_blocks_is_seeded_and_matches_in_memory_with_one_window(stores):
    s, ids, split, audio, video = stores
    cfg = dict(head_layers=2, hidden_dim=8, embed_dim=4, head_activation="none", batchnorm=False,
               dropout=0.0, single_head=False, tau=0.5, learn_tau=False)
    fit = dict(loss="clip", batch_size=4, lr=0.01, lr_gamma=1.0, patience=5, max_epochs=3,
               rank_pool=5, device=torch.device("cpu"), progress=False)

    def run(train, val, seed=0, **extra):
        torch.manual_seed(seed)
        model = heads.build(cfg, audio.shape[1], video.shape[1])
        return fitting.fit(model, train, val, seed=seed, **fit, **extra).history

    stream = StoreSplit(s, "train"), StoreSplit(s, "val")
    small = run(*stream, shuffle_rows=2 * BLOCK)
    assert small == run(*stream, shuffle_rows=2 * BLOCK)
    assert small != run(*stream, seed=1, shuffle_rows=2 * BLOCK)
    memory = [Pairs(audio[split == x], video[split == x], ids[split == x]) for x in ("train", "val")]
    whole = run(*stream, shuffle_rows=None)
    for a, b in zip(whole, run(*memory)):
        assert a == pytest.approx(b, rel=1e-5)
