"""requirements.lock (pip-compile of setup.cfg) meets setup.cfg, the environment runs exactly
the locked versions, and reports/environment.json records them."""
import configparser
import json
import re
from importlib.metadata import version
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from mvclr.environment import environment

REPO = Path(__file__).resolve().parents[1]
PIN = re.compile(r"^([A-Za-z0-9_.\-]+)==([^\s\\;]+)", re.M)


def pins(name: str) -> dict[str, str]:
    """{canonical package name: version} of a lock file's `name==version` lines."""
    return {canonicalize_name(n): v for n, v in PIN.findall((REPO / name).read_text())}


LOCKED = pins("requirements.lock")
NODEPS = pins("requirements-nodeps.lock")


def declared() -> list[Requirement]:
    cfg = configparser.ConfigParser()
    cfg.read(REPO / "setup.cfg")
    lines = cfg["options"]["install_requires"] + cfg["options.extras_require"]["test"]
    return [Requirement(line) for line in lines.split("\n") if line.strip()]


@pytest.mark.parametrize("req", declared(), ids=str)
def test_lock_meets_setup_cfg(req):
    name = canonicalize_name(req.name)
    assert name in LOCKED, f"{req} is not in requirements.lock: run make lock"
    assert req.specifier.contains(LOCKED[name], prereleases=True), \
        f"requirements.lock has {name}=={LOCKED[name]}, setup.cfg asks {req}: run make lock"


def test_lock_keeps_the_holds():
    for name, held in pins("lock-constraints.txt").items():
        assert LOCKED[name] == held


def test_every_locked_hash_is_there():
    text = (REPO / "requirements.lock").read_text()
    blocks = re.split(r"\n(?=[A-Za-z0-9_.\-]+==)", text.split("\n\n", 1)[1])
    assert all("--hash=sha256:" in block for block in blocks if PIN.match(block))


@pytest.mark.parametrize("name", sorted({**LOCKED, **NODEPS}))
def test_installed_version_is_the_locked_one(name):
    want = {**LOCKED, **NODEPS}[name]
    assert version(name) == want, (f"{name} {version(name)} is installed, the lock says {want}: "
                                   "run make setup (or make lock, if the change is wanted)")


def test_environment_report_is_current():
    recorded = json.loads((REPO / "reports/environment.json").read_text())
    assert recorded == json.loads(json.dumps(environment())), "re-run: dvc repro environment"
    locked = {**LOCKED, **NODEPS}
    for name, got in recorded["packages"].items():
        assert got == locked[canonicalize_name(name)]
