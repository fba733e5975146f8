import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from mvclr import stage_errors
from mvclr.data.split import split_videos

REPO = Path(__file__).resolve().parents[1]


def run_split(tmp_path, **env):
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(
        {"seed": 0, "data": {"source": "x", "split": [0.5, 0.3, 0.3], "min_videos": 1}}))
    (tmp_path / "data").mkdir()
    (tmp_path / "data/index.csv").write_text(
        "video_id,path,genre,tags,duration,fingerprint,status,reason,detail,line\n"
        "a,a.mp4,rock,,10,ff,ok,,,2\n")
    return subprocess.run([sys.executable, "-m", "stages.split"], cwd=tmp_path, text=True,
                          capture_output=True, env={**os.environ, "PYTHONPATH": str(REPO), **env})


def test_an_error_raised_on_purpose_is_one_line_with_plain_numbers(tmp_path):
    done = run_split(tmp_path)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == [
        "split: data.split must be three non-negative fractions summing to 1, got [0.5, 0.3, 0.3]"
        "  (MVCLR_DEBUG=1 shows the traceback)"]


def test_the_debug_switch_shows_the_traceback(tmp_path):
    done = run_split(tmp_path, MVCLR_DEBUG="1")
    assert done.returncode == 1 and "Traceback" in done.stderr


def caught(fn):
    try:
        fn()
    except Exception as e:  # noqa: BLE001
        return e
    pytest.fail("no error")


def test_only_the_projects_own_errors_count_as_on_purpose():
    assert stage_errors.on_purpose(caught(lambda: split_videos([], [0.5, 0.5, 0.5], 0)))
    assert not stage_errors.on_purpose(caught(lambda: np.zeros(-1)))      # raised inside numpy
    assert not stage_errors.on_purpose(caught(lambda: [][1]))             # a bug: IndexError
    assert stage_errors.one_line(KeyError("unknown 'x'\n  more")) == "unknown 'x' more"
