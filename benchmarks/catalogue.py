"""The pipeline's bookkeeping at catalogue scale, one subcommand per part.

    python benchmarks/catalogue.py front-door [--videos 550000] [--added 1000] [--workdir DIR]
                                              [--keep] [--out FILE]
    python benchmarks/catalogue.py planning [--videos 550000] [--share 0.01] [--out FILE]

front-door: what DVC's front door costs (stages scan and prepare, README "prepare") on a
catalogue of N videos. A fresh git + DVC repository holds this project's real `scan` and
`prepare` stages (their dvc.yaml entries, copies of stages/ and mvclr/, params.yaml with
data.min_videos: 0) and, outside it as a real catalogue would be, a folder of N placeholder
files in directories of 1 000 (64 unique bytes each, modified an hour ago: no videos, so every
probe fails, and is memoised like any outcome but a timeout) with its metadata.csv. The first
`dvc repro` builds (reported, no target); then timed: a no-op `dvc repro`, `dvc status` with
everything up to date, and `dvc repro` after --added new videos (new files, new metadata rows).
Target on this project's 2-core machine: each <= 60 s. Prints one JSON object per step and
writes them, with a summary, to --out (default benchmarks/results/catalogue_front_door.json).

planning: the share of videos decoded and of segments embedded after 1 % new, 1 % removed,
shuffled, copied and 1 % appended, against the ideal (benchmarks/catalogue_planning.py).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
STAGES = ("scan", "prepare")
TARGET_SECONDS = 60.0
PER_FOLDER = 1000
GENRES = ("rock", "pop", "jazz", "electronic", "hiphop", "classical")


def placeholder(i: int) -> tuple[str, bytes]:
    """Path (relative to the folder) and 64 unique bytes of placeholder video `i`."""
    data = f"mvclr placeholder video {i:07d}".ljust(64).encode()
    return f"{i // PER_FOLDER:04d}/v{i:07d}.mp4", data


def add_videos(folder: Path, start: int, count: int, settled: bool = False) -> None:
    """Placeholders start .. start + count - 1 written and appended to metadata.csv; `settled`:
    modified an hour ago, as the files of an existing catalogue (else just now)."""
    rows, old = [], time.time_ns() - 3600 * 10**9
    for i in range(start, start + count):
        path, data = placeholder(i)
        (folder / path).parent.mkdir(exist_ok=True)
        (folder / path).write_bytes(data)
        if settled:
            os.utime(folder / path, ns=(old, old))
        rows.append(f"v{i:07d},{path},{GENRES[i % len(GENRES)]},tag{i % 7}|live\n")
    meta = folder / "metadata.csv"
    with open(meta, "a") as f:
        if f.tell() == 0:
            f.write("video_id,path,genre,tags\n")
        f.write("".join(rows))


def make_repo(repo: Path, source: Path) -> None:
    """A git + DVC repository with the project's scan and prepare stages on `source`."""
    for package in ("stages", "mvclr"):
        shutil.copytree(REPO / package, repo / package,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    (repo / "dvc.yaml").write_text(yaml.safe_dump({"stages": {s: stages[s] for s in STAGES}},
                                                  sort_keys=False))
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["data"].update(source=str(source), min_videos=0)
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    for name in (".gitignore", ".dvcignore"):
        (repo / name).write_text("/cache\n")
    run(["git", "init", "-q"], repo)
    run(["dvc", "init", "-q"], repo)
    shutil.copy(REPO / ".dvc/config", repo / ".dvc/config")      # analytics off, autostage
    git_commit(repo, "front door")


def run(cmd: list[str], cwd: Path) -> tuple[float, str]:
    """Seconds `cmd` took in `cwd` (this Python's bin first on PATH) and its output; exits
    naming the command when it fails."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode:
        sys.exit(f"catalogue.py: {' '.join(cmd)} failed:\n{(done.stdout + done.stderr)[-4000:]}")
    return seconds, done.stdout + done.stderr


def git_commit(repo: Path, message: str) -> None:
    run(["git", "add", "-A"], repo)
    run(["git", "-c", "user.name=bench", "-c", "user.email=bench@example.org", "commit", "-qm",
         message], repo)


def step(name: str, cmd: list[str], repo: Path) -> dict:
    """One timed DVC command: its seconds, the stages it ran and what scan and prepare say they
    hashed and probed."""
    seconds, out = run(cmd, repo)
    found = {key: re.search(pattern, out) for key, pattern in (
        ("hashed", r"scan: .*?(\d+) file\(s\) hashed"),
        ("probed", r"prepare: .*?(\d+) file\(s\) probed"))}
    result = {"step": name, "command": " ".join(cmd), "seconds": round(seconds, 2),
              "load_average": round(os.getloadavg()[0], 2),
              "stages_run": sorted(set(re.findall(r"Running stage '([^']+)'", out))),
              **{k: int(m.group(1)) if m else None for k, m in found.items()}}
    if name == "status":
        result["output"] = out.strip()
    print(json.dumps(result), flush=True)
    return result


def front_door(videos: int, added: int, workdir: Path) -> dict:
    """The front-door measurements in `workdir` (made empty first); their summary."""
    shutil.rmtree(workdir, ignore_errors=True)
    repo, source = workdir / "repo", workdir / "videos"
    repo.mkdir(parents=True)
    source.mkdir()
    start = time.perf_counter()
    add_videos(source, 0, videos, settled=True)
    catalogue = {"videos": videos, "files_seconds": round(time.perf_counter() - start, 1),
                 "metadata_mb": round((source / "metadata.csv").stat().st_size / 1e6, 1)}
    print(json.dumps({"catalogue": catalogue}), flush=True)
    make_repo(repo, source)
    steps = [step("build", ["dvc", "repro"], repo)]
    git_commit(repo, "built")
    steps.append(step("noop_repro", ["dvc", "repro"], repo))
    steps.append(step("status", ["dvc", "status"], repo))
    add_videos(source, videos, added)
    steps.append(step("repro_added", ["dvc", "repro"], repo))
    timed = [s for s in steps if s["step"] != "build"]
    return {"videos": videos, "added": added, "cpus": os.cpu_count(), "catalogue": catalogue,
            "target_seconds": TARGET_SECONDS, "steps": steps,
            "pass": all(s["seconds"] <= TARGET_SECONDS for s in timed)}


def front_door_command(args) -> None:
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="front_door_"))
    try:
        summary = front_door(args.videos, args.added, workdir)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps({k: summary[k] for k in ("videos", "added", "target_seconds", "pass")}))


def planning_command(args) -> None:
    from catalogue_planning import planning
    summary = planning(args.videos, args.share, args.unit_videos, args.block_rows)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps({"videos": summary["videos"], "segments": summary["segments"],
                      "pass": summary["pass"]}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    door = commands.add_parser("front-door", help="stages scan and prepare on N videos")
    door.add_argument("--videos", type=int, default=550_000)
    door.add_argument("--added", type=int, default=1000)
    door.add_argument("--workdir", type=Path, help="where to build (default: a temporary folder)")
    door.add_argument("--keep", action="store_true", help="keep --workdir afterwards")
    door.add_argument("--out", type=Path,
                      default=REPO / "benchmarks/results/catalogue_front_door.json")
    door.set_defaults(run=front_door_command)
    plan = commands.add_parser("planning", help="decode and embed planning on N videos "
                               "(benchmarks/catalogue_planning.py)")
    plan.add_argument("--videos", type=int, default=550_000)
    plan.add_argument("--share", type=float, default=0.01, help="share of videos added or removed")
    plan.add_argument("--unit-videos", type=int, default=16, help="decode.unit_videos")
    plan.add_argument("--block-rows", type=int, default=4096, help="features.block_rows")
    plan.add_argument("--out", type=Path, default=REPO / "benchmarks/results/catalogue_planning.json")
    plan.set_defaults(run=planning_command)
    args = parser.parse_args()
    args.run(args)


if __name__ == "__main__":
    main()
