import numpy as np
import pytest

from mvclr.contrastive.batching import epoch_batches, n_batches


def layout(counts):
    """video_ids with counts[v] segments of video v, videos interleaved in store order."""
    ids = np.concatenate([[f"v{v}"] * c for v, c in enumerate(counts)])
    return np.random.default_rng(123).permutation(ids)


def check_epoch(video_ids, batch_size, batches):
    everything = np.concatenate(batches)
    assert np.array_equal(np.sort(everything), np.arange(len(video_ids)))  # each segment once
    for b in batches:
        assert len(np.unique(video_ids[b])) == len(b)                       # one per video
        assert len(b) <= batch_size
    sizes = [len(b) for b in batches]
    assert max(sizes) - min(sizes) <= 1
    _, counts = np.unique(video_ids, return_counts=True)
    assert len(batches) == max(-(-len(video_ids) // batch_size), counts.max())


def test_skewed_video_with_more_segments_than_batches_would_need():
    # one video holds 40 of 100 segments: 10 batches of 10 would fit the count, but its
    # segments need 40 different batches
    counts = [40] + [6] * 10
    video_ids = layout(counts)
    batches = epoch_batches(video_ids, 10, np.random.default_rng(0))
    check_epoch(video_ids, 10, batches)
    assert len(batches) == 40
    assert all(sum(video_ids[b] == "v0") == 1 for b in batches)


@pytest.mark.parametrize("seed", range(30))
def test_random_skewed_layouts(seed):
    rng = np.random.default_rng(seed)
    counts = rng.integers(1, 8, size=rng.integers(1, 40))
    counts[0] = rng.integers(1, 60)
    video_ids = layout(counts)
    batch_size = int(rng.integers(1, 50))
    gen = np.random.default_rng(seed)
    for _ in range(2):
        check_epoch(video_ids, batch_size, epoch_batches(video_ids, batch_size, gen))


def test_whole_split_in_one_batch_when_smaller_than_batch_size():
    video_ids = layout([1] * 30)
    batches = epoch_batches(video_ids, 1000, np.random.default_rng(0))
    assert len(batches) == 1 and len(batches[0]) == 30


def test_seeded_and_reshuffled_every_epoch():
    video_ids = layout([6] * 50)

    def two_epochs(seed):
        rng = np.random.default_rng(seed)
        return [epoch_batches(video_ids, 32, rng) for _ in range(2)]

    def same(x, y):
        return len(x) == len(y) and all(np.array_equal(a, b) for a, b in zip(x, y))

    first, again, other = two_epochs(7), two_epochs(7), two_epochs(8)
    assert same(first[0], again[0]) and same(first[1], again[1])
    assert not same(first[0], first[1])
    assert not same(first[0], other[0])


def test_batches_mix_videos_differently_across_epochs():
    # every pair of videos should meet in some batch over a few epochs, not a fixed partition
    video_ids = layout([6] * 12)
    rng = np.random.default_rng(0)
    met = set()
    for _ in range(20):
        for b in epoch_batches(video_ids, 4, rng):
            vids = sorted(set(video_ids[b]))
            met.update((x, y) for i, x in enumerate(vids) for y in vids[i + 1:])
    assert len(met) == 12 * 11 // 2


def test_edge_cases():
    assert epoch_batches(np.array([], dtype=str), 10, np.random.default_rng(0)) == []
    with pytest.raises(ValueError, match="batch_size"):
        n_batches(np.array([3]), 0)
