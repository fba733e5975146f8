"""The `mvclr` command.

    mvclr similar VIDEO_ID [--k 5] [--representation cl_agg] [--split test ...]
    mvclr similar path/to/new_video.mp4 ...
    mvclr check-results [--against REV]

prints the nearest videos of the catalogue (every decoded video; `--split` restricts it) by
cosine similarity of the video vectors (segment vectors aggregated by `probe.aggregate`), from
the FAISS indexes of stage `index` (index/); a catalogue id is answered from its stored vector,
without reading the feature stores. A path to a video not in the index is decoded, run through
both frozen backbones and the trained heads (models/main.pt) first: the cold-start case. The
project directory (`--root`, default the current one) must hold params.yaml and the pipeline's
outputs (`dvc repro`). When the index, the stores or the model were built with other params
than params.yaml holds, or the model or stores changed after the index was built, a query by
id is answered from the index with a warning, a new file is refused (its vectors would not be
comparable with the indexed ones).

`mvclr check-results` compares the run's reports/retrieval.json and reports/probes.json with
the versions committed at REV (default HEAD) and passes when every metric lies within the
uncertainty it carries (mvclr.reporting.reproduction), naming every one that does not.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from mvclr import catalogue
from mvclr.config import load_params
from mvclr.data import media
from mvclr.evaluation.pooling import REPRESENTATIONS


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mvclr", description="Music-video representations.")
    sub = parser.add_subparsers(dest="command", required=True)
    similar = sub.add_parser("similar", help="nearest videos to a video id or a new video file",
                             description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    similar.add_argument("query", help="a video id of data/index.csv, or a path to a video file")
    similar.add_argument("--k", type=int, default=5, help="how many neighbours (default 5)")
    similar.add_argument("--representation", action="append", choices=REPRESENTATIONS,
                         help="vectors compared (repeatable: one table each; default cl_agg)")
    similar.add_argument("--split", action="append", choices=("train", "val", "test"),
                         help="search only videos of this split (repeatable; default all)")
    similar.add_argument("--root", type=Path, default=Path("."),
                         help="project directory holding params.yaml and the stores (default .)")
    check = sub.add_parser("check-results", help="do this run's metrics reproduce the committed ones?")
    check.add_argument("--against", default="HEAD", help="git revision holding the committed "
                       "reports (default HEAD)")
    check.add_argument("--root", type=Path, default=Path("."),
                       help="project directory (a git checkout) holding reports/ (default .)")
    return parser


class CheckError(Exception):
    pass


def check_results(args: argparse.Namespace) -> int:
    from mvclr.reporting import reproduction
    run, committed = {}, {}
    for name in ("retrieval", "probes"):
        path = args.root / "reports" / f"{name}.json"
        try:
            run[name] = json.loads(path.read_text())
        except (OSError, ValueError) as e:
            raise CheckError(f"{path}: {e}; run `dvc repro` first") from None
        shown = subprocess.run(["git", "-C", str(args.root), "show", f"{args.against}:reports/{name}.json"],
                               capture_output=True, text=True)
        if shown.returncode:
            raise CheckError(f"no committed reports/{name}.json at {args.against}: "
                             f"{shown.stderr.strip()}")
        committed[name] = json.loads(shown.stdout)
    failed = reproduction.failures(run, committed)
    for line in failed:
        print(f"not reproduced: {line}")
    print(f"check-results: {'FAIL' if failed else 'PASS'}: {len(failed)} metric(s) outside their "
          f"band around the results committed at {args.against}")
    return 1 if failed else 0


def print_neighbours(cat: catalogue.Catalogue, found: list[tuple[int, float]], what: str,
                     name: str) -> None:
    how = cat.manifest["aggregate"]
    print(f"{len(found)} nearest videos to {what} by {name} ({how} of segment vectors, cosine similarity):")
    width = max([len("video_id")] + [len(cat.videos.ids[i]) for i, _ in found])
    print(f"{'rank':>4}  {'similarity':>10}  {'video_id':<{width}}  {'split':<5}  genre  tags")
    for rank, (i, sim) in enumerate(found, 1):
        print(f"{rank:>4}  {sim:>10.4f}  {cat.videos.ids[i]:<{width}}  {cat.videos.split[i]:<5}  "
              f"{cat.videos.genre[i] or '-'}  {'|'.join(cat.videos.tags[i]) or '-'}")


def similar(args: argparse.Namespace) -> int:
    if args.k < 1:
        raise catalogue.CatalogueError(f"--k must be >= 1, got {args.k}")
    names = list(dict.fromkeys(args.representation or ["cl_agg"]))
    params_path = args.root / "params.yaml"
    if not params_path.exists():
        raise catalogue.CatalogueError(f"{params_path} not found: run in the project directory "
                                       "or pass --root")
    cat = catalogue.open_catalogue(args.root, load_params(params_path))
    problems = catalogue.check(cat)
    if not Path(args.query).exists() or args.query in cat.videos.ids:
        cat.row_of(args.query)                       # a clear error for an unknown id
        for p in problems:
            print(f"mvclr: warning: {p} (answered from the index as built; run `dvc repro`)",
                  file=sys.stderr)
        for i, name in enumerate(names):
            print("" if i == 0 else "\n", end="")
            found = cat.nearest(name, args.k, video_id=args.query, splits=args.split)
            print_neighbours(cat, found, args.query, name)
        return 0
    if problems:
        raise catalogue.CatalogueError(
            "the stores were built with other params than params.yaml holds, so a new "
            "video's vectors would not be comparable; run `dvc repro` first:\n  "
            + "\n  ".join(problems))
    from mvclr.cold_start import file_vectors      # the backbones: only for a new file
    vectors, segments = file_vectors(args.query, cat)
    for i, name in enumerate(names):
        print("" if i == 0 else "\n", end="")
        found = cat.nearest(name, args.k, vector=vectors[name], splits=args.split)
        print_neighbours(cat, found, f"{args.query} (new video, {segments} segments decoded and "
                         "embedded)", name)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return check_results(args) if args.command == "check-results" else similar(args)
    except (catalogue.CatalogueError, media.MediaError, CheckError) as e:
        print(f"mvclr {args.command}: error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
