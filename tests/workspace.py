"""Helpers of the end-to-end tests: a fresh copy of the repository (what a clean clone holds)
as its own git repository, a tiny generated data set holding every bad-input case of the
contract, and running commands (dvc) in it."""
from __future__ import annotations

import csv
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from make_media import write_bad_cases

from mvclr.data.demo.encode import generate

REPO = Path(__file__).resolve().parents[1]


def run(cmd: list[str], cwd: Path, env: dict | None = None) -> str:
    """`cmd` in `cwd` with this Python's bin first on PATH (dvc); its output. Fails the test
    on a non-zero exit, showing the output's end."""
    env = {**os.environ, **(env or {}),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True,
                          check=False)
    out = done.stdout + done.stderr
    assert done.returncode == 0, f"{' '.join(cmd)} failed:\n{out[-6000:]}"
    return out


def stages_run(out: str) -> set[str]:
    return set(re.findall(r"Running stage '([^']+)'", out))


def copy_repo(repo: Path) -> Path:
    """The files a clean clone of this repository holds (no stage outputs) copied to `repo`."""
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO,
                           capture_output=True, text=True, check=True).stdout.split("\0")
    for name in filter(None, files):
        src = REPO / name
        if src.is_file() and not name.startswith(("data/", "features/", "models/")):
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, repo / name)
    return repo


def commit(repo: Path, message: str = "clone") -> None:
    """Commit everything in `repo` (made a git repository first when it is not one)."""
    if not (repo / ".git").exists():
        subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    for cmd in (["git", "add", "-A"],
                ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", message]):
        subprocess.run(cmd, cwd=repo, check=True)


def tiny_set(raw: Path, videos: int, **generate_args) -> dict[str, str]:
    """`videos` generated music videos in `raw` (the demo's generator, small and short) plus one
    file or metadata row per bad case; returns video_id -> the reason expected for each bad."""
    args = {"seed": 3, "min_seconds": 16, "max_seconds": 19, "width": 96, "height": 64, "fps": 12,
            "sample_rate": 22050, "genres": ["rock", "jazz", "electronic"], "progress": False}
    generate(raw, videos=videos, **{**args, **generate_args})
    with open(raw / "metadata.csv") as f:
        first = next(csv.DictReader(f))
    rows, expected = write_bad_cases(raw, (first["video_id"], first["path"]), segment_seconds=5)
    with open(raw / "metadata.csv", "a") as f:
        f.write("\n".join(rows) + "\n")
    return expected
