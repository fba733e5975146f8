"""The qualitative analysis of RQ2: nearest neighbours of test videos and segments, with their
media, for the representations cl_agg, cl_video, musicnn and r2plus1d.

`eval.seed_videos` random test videos with their `eval.neighbours` nearest test videos (video
vectors: segment vectors aggregated by `probe.aggregate`, as the probes do) and
`eval.seed_segments` random test segments with their nearest segments of other videos, by
cosine similarity of the vectors as they are (no standardisation). The same seeds serve every
representation. The summary (genre share and tag Jaccard of the neighbours against chance, see
mvclr.evaluation.neighbours) is taken over the first `eval.summary_seeds` items of the same
random order, so the shown seeds are part of it.
"""
from __future__ import annotations

import zlib
from pathlib import Path

import h5py
import numpy as np
from tqdm import tqdm

from mvclr.contrastive import heads
from mvclr.evaluation import neighbours
from mvclr.evaluation.pooling import aggregate, representations, video_rows
from mvclr.evaluation.videos import Videos
from mvclr.features.paired import PairedFeatures
from mvclr.reporting.page import Item, Page, Section
from mvclr.reporting.previews import MediaCollector

REPRESENTATIONS = ("cl_agg", "cl_video", "musicnn", "r2plus1d")


def seed_order(seed: int, name: str, n: int, count: int) -> np.ndarray:
    return neighbours.pick_seeds(n, count, np.random.default_rng([seed, zlib.crc32(name.encode())]))


def build(params: dict, features: PairedFeatures, videos: Videos, segments: str | Path,
          weights: str) -> tuple[Page, dict]:
    """The page and its summary metrics. `videos`: the test videos (video_table of the test
    rows); `weights`: the R(2+1)D weights the video store records."""
    ev, k, seed = params["eval"], params["eval"]["neighbours"], params["seed"]
    meta = features.meta
    rows = np.flatnonzero(features.rows("test"))
    if len(rows) == 0:
        raise ValueError("the segment store holds no test segments")
    seg_video = meta.video_id[rows]
    rows_of_video = {v: rows[r] for v, r in zip(videos.ids, video_rows(seg_video, videos.ids))}
    by_id = {v: i for i, v in enumerate(videos.ids)}
    seg_of = np.array([by_id[v] for v in seg_video])
    seg_genre = [videos.genre[i] for i in seg_of]
    seg_tags = [videos.tags[i] for i in seg_of]

    audio, video = features.audio[rows], features.video[rows]
    za, zv = heads.embed(heads.load_trained("main"), audio, video)
    reps = representations(audio, video, za, zv)

    how = params["probe"]["aggregate"]
    summary_seeds = ev["summary_seeds"]
    video_seeds = seed_order(seed, "neighbours/videos", len(videos.ids),
                             max(ev["seed_videos"], summary_seeds))
    segment_seeds = seed_order(seed, "neighbours/segments", len(rows),
                               max(ev["seed_segments"], summary_seeds))
    metrics, sections = {}, []
    with h5py.File(segments, "r") as store:
        media = MediaCollector(store, rows_of_video, params["decode"]["window_seconds"])

        def video_item(i, sim=None):
            v = videos.ids[i]
            return Item(media.video(v), f"{v} ({len(rows_of_video[v])} segments)",
                        videos.genre[i], videos.tags[i], sim)

        def segment_item(j, sim=None):
            r = int(rows[j])
            return Item(media.segment(r), f"{seg_video[j]} #{meta.segment_index[r]} "
                        f"@ {meta.start_seconds[r]:.1f} s", seg_genre[j], seg_tags[j], sim)

        for name in tqdm(REPRESENTATIONS, desc="neighbours"):
            x_video = aggregate(reps[name], seg_video, videos.ids, how)
            by_video = neighbours.analyse(x_video, None, videos.genre, videos.tags,
                                          video_seeds, ev["seed_videos"], k)
            by_segment = neighbours.analyse(reps[name], seg_video, seg_genre, seg_tags,
                                            segment_seeds, ev["seed_segments"], k)
            metrics[name] = {"videos": by_video["summary"], "segments": by_segment["summary"]}
            section = Section(name)
            for found, target, make in ((by_video, section.videos, video_item),
                                        (by_segment, section.segments, segment_item)):
                for s, idx, sim in zip(found["seeds"], found["index"], found["similarity"]):
                    target.append([make(s)] + [make(j, float(c)) for j, c in zip(idx, sim) if j >= 0])
            sections.append(section)
    notes = [
        f"Test split: {len(videos.ids)} videos, {len(rows)} segments. Nearest neighbours by cosine "
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
