import numpy as np
import pytest

from mvclr.data.sampling import segment_count, segment_starts, video_rng

EPS = 1e-9


def check_windows(starts, duration, count, seconds):
    """The rules of Figure 2: inside the video, non-overlapping, one per equal section."""
    assert len(starts) == count
    assert np.all(starts >= 0) and np.all(starts + seconds <= duration + EPS)
    assert np.all(np.diff(starts) >= seconds - EPS)
    if count:
        section = duration / count
        assert np.array_equal(np.floor((starts + EPS) / section).astype(int), np.arange(count))
        assert np.all(starts + seconds <= (np.arange(count) + 1) * section + EPS)


@pytest.mark.parametrize("segments,seconds", [(6, 5.0), (3, 2.0), (1, 5.0)])
def test_windows_follow_the_rules(segments, seconds):
    durations = np.random.default_rng(1).uniform(0, 80, 300)
    for i, d in enumerate([*durations, seconds, segments * seconds, segments * seconds + 1e-3]):
        starts = segment_starts(d, segments, seconds, video_rng(0, f"v{i}"))
        check_windows(starts, d, min(segments, int(d // seconds + EPS)), seconds)


def test_short_videos_get_as_many_windows_as_fit():
    assert segment_count(4.99, 6, 5.0) == 0
    assert segment_count(5.0, 6, 5.0) == 1
    assert segment_count(12.0, 6, 5.0) == 2
    assert segment_count(30.0, 6, 5.0) == 6
    assert segment_count(100.0, 6, 5.0) == 6
    assert np.allclose(segment_starts(30.0, 6, 5.0, video_rng(0, "x")), np.arange(6) * 5.0)
    assert len(segment_starts(3.0, 6, 5.0, video_rng(0, "x"))) == 0


def test_draws_cover_each_section_uniformly():
    # brute force: many draws fill each section's admissible range [i*L, (i+1)*L - s]
    d, k, s = 40.0, 4, 5.0
    draws = np.array([segment_starts(d, k, s, video_rng(seed, "v")) for seed in range(2000)])
    lo, hi = np.arange(k) * d / k, (np.arange(k) + 1) * d / k - s
    assert np.all(draws >= lo - EPS) and np.all(draws <= hi + EPS)
    assert np.allclose(draws.min(0), lo, atol=0.05) and np.allclose(draws.max(0), hi, atol=0.05)
    assert np.allclose(draws.mean(0), (lo + hi) / 2, atol=0.1)


def test_deterministic_per_seed_and_video():
    a = segment_starts(60.0, 6, 5.0, video_rng(3, "abc"))
    assert np.array_equal(a, segment_starts(60.0, 6, 5.0, video_rng(3, "abc")))
    assert not np.array_equal(a, segment_starts(60.0, 6, 5.0, video_rng(4, "abc")))
    assert not np.array_equal(a, segment_starts(60.0, 6, 5.0, video_rng(3, "abd")))
