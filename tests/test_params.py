"""params.yaml is checked before any compute: unknown keys and values of the wrong kind stop a
stage with a message naming the key and the nearest valid name."""
import copy
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from mvclr.config import load_params
from mvclr.params_schema import ParamsError, check

REPO = Path(__file__).resolve().parents[1]
PARAMS = yaml.safe_load((REPO / "params.yaml").read_text())


def with_change(change) -> dict:
    p = copy.deepcopy(PARAMS)
    change(p)
    return p


def test_the_committed_params_are_valid():
    assert load_params(REPO / "params.yaml") == PARAMS


@pytest.mark.parametrize("change, message", [
    (lambda p: p["configs"].update(emb512={"embed_dims": 512}),
     "unknown key configs.emb512.embed_dims; did you mean configs.emb512.embed_dim?"),
    (lambda p: p.update(taus=0.3), "unknown key taus; did you mean tau?"),
    (lambda p: p["decode"].update(frame=10), "unknown key decode.frame; did you mean decode.frames?"),
    (lambda p: p["probe"]["attention"]["pool"].update(hiden=8),
     "unknown key probe.attention.pool.hiden; did you mean probe.attention.pool.hidden?"),
    (lambda p: p["paper_base"].update(learn_taus=True), "did you mean paper_base.learn_tau?"),
    (lambda p: p.update(tau="0.3"), "tau must be a number, got '0.3'"),
    (lambda p: p["decode"].update(segments=2.5), "decode.segments must be an int, got 2.5"),
    (lambda p: p.update(learn_tau=1), "learn_tau must be a bool, got 1"),
])
def test_unknown_keys_and_wrong_kinds_are_named(change, message):
    with pytest.raises(ParamsError, match="params.yaml: .*" + message.replace("?", r"\?")
                       .replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        check(with_change(change))


def test_every_problem_is_listed_at_once():
    p = with_change(lambda p: (p.update(taus=1), p["decode"].update(frame=1)))
    with pytest.raises(ParamsError) as e:
        check(p)
    assert "taus" in str(e.value) and "decode.frame" in str(e.value)


def test_a_stage_stops_before_any_compute(tmp_path):
    """A typo in a configuration: the train stage exits naming it and writes nothing."""
    p = with_change(lambda p: p["configs"].update(emb512={"embed_dims": 512}))
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(p))
    done = subprocess.run([sys.executable, "-m", "stages.train", "--config", "emb512"],
                          cwd=tmp_path, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert "configs.emb512.embed_dims; did you mean configs.emb512.embed_dim?" in done.stderr
    assert sorted(x.name for x in tmp_path.iterdir()) == ["params.yaml"]
