"""Stage `neighbours`: the qualitative analysis of RQ2 -> reports/neighbours.html, reports/neighbours.json.

For the representations cl_agg, cl_video, musicnn and r2plus1d of the test split:
`eval.seed_videos` random test videos with their `eval.neighbours` nearest test videos (video
vectors: segment vectors aggregated by `probe.aggregate`, as the probes do) and
`eval.seed_segments` random test segments with their nearest segments of other videos, by
cosine similarity of the vectors as they are (no standardisation). The same seeds serve every
representation. The summary (genre share and tag Jaccard of the neighbours against chance, see
stages.neighbours) is taken over the first `eval.summary_seeds` items of the same random order,
so the shown seeds are part of it.

Media per item (stages.report_page.MediaCollector), from data/segments.h5: frames and audio of
the analysis window, embedded in the page.
"""
from __future__ import annotations

import json
import zlib
from pathlib import Path

import h5py
import numpy as np
from tqdm import tqdm

from stages import feature_store, heads, neighbours, probes
from stages.config import load_params
from stages.ingest import read_index
from stages.report_page import Item, MediaCollector, Page, Section, render
from stages.paths import AUDIO, INDEX, SEGMENTS, VIDEO
from stages.segment_store import read_meta

HTML = Path("reports/neighbours.html")
METRICS = Path("reports/neighbours.json")

REPRESENTATIONS = ("cl_agg", "cl_video", "musicnn", "r2plus1d")


def seed_order(seed: int, name: str, n: int, count: int) -> np.ndarray:
    return neighbours.pick_seeds(n, count, np.random.default_rng([seed, zlib.crc32(name.encode())]))


def main() -> None:
    params = load_params()
    ev, k, seed = params["eval"], params["eval"]["neighbours"], params["seed"]
    window = params["decode"]["window_seconds"]
    meta = read_meta(SEGMENTS)
    audio, video = (feature_store.load(p, rows=len(meta)) for p in (AUDIO, VIDEO))
    rows = np.flatnonzero(meta.split == "test")
    if len(rows) == 0:
        raise ValueError(f"{SEGMENTS}: no test segments")
    seg_video = meta.video_id[rows]
    # segment rows of each test video in time order
    order = np.lexsort((meta.segment_index[rows], seg_video))
    rows_of_video = {v: rows[order][seg_video[order] == v] for v in np.unique(seg_video)}

    videos = probes.video_table(seg_video, meta.split[rows], read_index(INDEX), str(INDEX))
    by_id = {v: i for i, v in enumerate(videos.ids)}
    seg_of = np.array([by_id[v] for v in seg_video])
    seg_genre = [videos.genre[i] for i in seg_of]
    seg_tags = [videos.tags[i] for i in seg_of]

    model = heads.load_trained("main")
    za, zv = heads.embed(model, audio[rows], video[rows])
    reps = probes.representations(audio[rows], video[rows], za, zv)

    how = params["probe"]["aggregate"]
    summary_seeds = ev["summary_seeds"]
    video_seeds = seed_order(seed, "neighbours/videos", len(videos.ids),
                             max(ev["seed_videos"], summary_seeds))
    segment_seeds = seed_order(seed, "neighbours/segments", len(rows),
                               max(ev["seed_segments"], summary_seeds))
    metrics, sections = {}, []
    with h5py.File(SEGMENTS, "r") as store:
        media = MediaCollector(store, rows_of_video, window)
        for name in tqdm(REPRESENTATIONS, desc="neighbours"):
            x_video = probes.aggregate(reps[name], seg_video, videos.ids, how)
            by_video = neighbours.analyse(x_video, None, videos.genre, videos.tags,
                                          video_seeds, ev["seed_videos"], k)
            by_segment = neighbours.analyse(reps[name], seg_video, seg_genre, seg_tags,
                                            segment_seeds, ev["seed_segments"], k)
            metrics[name] = {"videos": by_video["summary"], "segments": by_segment["summary"]}

            def video_item(i, sim=None):
                v = videos.ids[i]
                return Item(media.video(v), f"{v} ({len(rows_of_video[v])} segments)",
                            videos.genre[i], videos.tags[i], sim)

            def segment_item(j, sim=None):
                r = int(rows[j])
                return Item(media.segment(r), f"{seg_video[j]} #{meta.segment_index[r]} "
                            f"@ {meta.start_seconds[r]:.1f} s", seg_genre[j], seg_tags[j], sim)

            section = Section(name)
            for found, target, make in ((by_video, section.videos, video_item),
                                        (by_segment, section.segments, segment_item)):
                for s, idx, sim in zip(found["seeds"], found["index"], found["similarity"]):
                    target.append([make(s)] + [make(j, float(c)) for j, c in zip(idx, sim) if j >= 0])
            sections.append(section)
        page_media = media.media

    weights = feature_store.attrs(VIDEO).get("weights", "unknown")
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
    HTML.parent.mkdir(parents=True, exist_ok=True)
    HTML.write_text(render(Page("Nearest neighbours (RQ2)", notes, metrics, sections, page_media)),
                    encoding="utf-8")
    METRICS.write_text(json.dumps(metrics, indent=2) + "\n")
    print(f"neighbours: {HTML} ({HTML.stat().st_size / 1e6:.1f} MB, {len(page_media)} media items), {METRICS}")


if __name__ == "__main__":
    main()
