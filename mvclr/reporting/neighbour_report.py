"""The qualitative analysis of RQ2: nearest neighbours of test videos and segments, with their
media, for the representations cl_agg, cl_video, musicnn and r2plus1d.

`eval.seed_videos` random test videos with their `eval.neighbours` nearest test videos (video
vectors: segment vectors aggregated by `probe.aggregate`, as the probes do) and
`eval.seed_segments` random test segments with their nearest segments of other videos, by
cosine similarity of the vectors as they are (no standardisation). The same seeds serve every
representation. The summary (genre share and tag Jaccard of the neighbours against chance, see
mvclr.evaluation.neighbours) is taken over the first `eval.summary_seeds` items of the same
random order, so the shown seeds are part of it.

Scale: one pass over the stores keeps the frozen features and main's embeddings of the test rows
on disk (mvclr.evaluation.embedded); the test videos' vectors are aggregated from them by blocks
(one vector per test video in memory) and each segment seed's neighbours are searched over the
test segments read by blocks; media are read from the segment store for the items shown only.
"""
from __future__ import annotations

import zlib
from pathlib import Path

import h5py
import numpy as np
from tqdm import tqdm

from mvclr.contrastive import heads
from mvclr.evaluation import neighbours
from mvclr.evaluation.embedded import embedder, spill
from mvclr.evaluation.pooling import pair_blocks, segment_vectors, video_vectors
from mvclr.evaluation.similarity import top_k, top_k_blocks
from mvclr.evaluation.videos import Videos
from mvclr.features.paired import PairedStores
from mvclr.reporting.page import Item, Page, Section
from mvclr.reporting.previews import MediaCollector

REPRESENTATIONS = ("cl_agg", "cl_video", "musicnn", "r2plus1d")
SEGMENT_ROWS = 1 << 14          # test segments compared with the seeds at a time


def seed_order(seed: int, name: str, n: int, count: int) -> np.ndarray:
    return neighbours.pick_seeds(n, count, np.random.default_rng([seed, zlib.crc32(name.encode())]))


def nearest_segments(pair, name: str, seeds: np.ndarray, video_of: np.ndarray, k: int):
    """Top-k test segments of other videos for each seed row, representation `name` of the test
    rows' vector pair (RowFiles) read by blocks."""
    queries = segment_vectors(name, pair[0][seeds], pair[1][seeds])
    blocks = ((a, segment_vectors(name, pair[0][a:a + SEGMENT_ROWS], pair[1][a:a + SEGMENT_ROWS]),
               video_of[a:a + SEGMENT_ROWS]) for a in range(0, len(video_of), SEGMENT_ROWS))
    return top_k_blocks(queries, video_of[seeds], blocks, k)


def build(params: dict, stores: PairedStores, videos: Videos, segments: str | Path,
          weights: str, scratch: str | Path) -> tuple[Page, dict]:
    """The page and its summary metrics. `videos`: the test videos (video_table of the layout's
    test videos); `weights`: the R(2+1)D weights the video store records; `scratch`: a directory
    for the test rows' vectors."""
    ev, k, seed = params["eval"], params["eval"]["neighbours"], params["seed"]
    layout = stores.layout
    test = layout.videos_of("test")
    if len(test) == 0:
        raise ValueError("the segment store holds no test segments")
    counts = layout.count[test]
    video_of = np.repeat(np.arange(len(test)), counts)           # test video of each test row
    first = np.cumsum(counts) - counts
    rows_of_video = {v: np.arange(layout.start[i], layout.start[i] + layout.count[i])
                     for v, i in zip(videos.ids, test)}
    seg_genre = [videos.genre[i] for i in video_of]
    seg_tags = [videos.tags[i] for i in video_of]
    pairs = spill(stores, {"frozen": (None, "test"),
                           "cl": (embedder(heads.load_trained("main")), "test")}, scratch)

    how = params["probe"]["aggregate"]
    summary_seeds = ev["summary_seeds"]
    video_seeds = seed_order(seed, "neighbours/videos", len(test),
                             max(ev["seed_videos"], summary_seeds))
    segment_seeds = seed_order(seed, "neighbours/segments", len(video_of),
                               max(ev["seed_segments"], summary_seeds))
    metrics, sections = {}, []
    with h5py.File(segments, "r") as store:
        media = MediaCollector(store, rows_of_video, params["decode"]["window_seconds"])

        def video_item(i, sim=None):
            v = videos.ids[i]
            return Item(media.video(v), f"{v} ({counts[i]} segments)", videos.genre[i],
                        videos.tags[i], sim)

        def segment_item(j, sim=None):
            i = video_of[j]
            r = int(layout.start[test[i]] + j - first[i])
            return Item(media.segment(r), f"{videos.ids[i]} #{store['segment_index'][r]} "
                        f"@ {store['start_seconds'][r]:.1f} s", seg_genre[j], seg_tags[j], sim)

        for name in tqdm(REPRESENTATIONS, desc="neighbours"):
            pair = pairs["cl" if name.startswith("cl_") else "frozen"]
            x_video = video_vectors(pair_blocks(*pair, counts), name, counts, how)
            by_video = neighbours.analyse(top_k(x_video, video_seeds, k), video_seeds,
                                          videos.genre, videos.tags, None, ev["seed_videos"], k)
            by_segment = neighbours.analyse(nearest_segments(pair, name, segment_seeds, video_of, k),
                                            segment_seeds, seg_genre, seg_tags, video_of,
                                            ev["seed_segments"], k)
            metrics[name] = {"videos": by_video["summary"], "segments": by_segment["summary"]}
            section = Section(name)
            for found, target, make in ((by_video, section.videos, video_item),
                                        (by_segment, section.segments, segment_item)):
                for s, idx, sim in zip(found["seeds"], found["index"], found["similarity"]):
                    target.append([make(s)] + [make(j, float(c)) for j, c in zip(idx, sim) if j >= 0])
            sections.append(section)
    notes = [
        f"Test split: {len(videos.ids)} videos, {len(video_of)} segments. Nearest neighbours by cosine "
        f"similarity, k = {k}; video vectors are the {how} of their segment vectors; a segment's "
        "neighbours come from other videos. The same random seeds serve every representation.",
        f"Summary over up to {summary_seeds} random seeds per level (those shown included). "
        "Chance: the expected value when the neighbours are drawn uniformly from the seed's "
        "candidates (the other test videos; the test segments of other videos).",
        "cl_agg / cl_video: the main configuration's projection heads "
        f"(models/main.pt); musicnn, r2plus1d: the frozen backbone features "
        f"(R(2+1)D weights: {weights}).",
        "Each item: frames of the analysis window (videos: the middle frame of each segment), "
        "the window's audio (videos: the middle segment), id, genre · tags, cosine similarity.",
    ]
    if weights != "kinetics400":
        notes.append(f"WARNING: R(2+1)D ran with {weights}, not the Kinetics-400 weights: the "
                     "r2plus1d and CL representations are not those of the paper.")
    return Page("Nearest neighbours (RQ2)", notes, metrics, sections, media.media), metrics
