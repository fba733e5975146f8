"""Reading params.yaml (checked against mvclr.params_schema before any compute) and resolving
training configurations."""
from __future__ import annotations

from pathlib import Path

import yaml

from mvclr.params_schema import TRAIN, ParamsError, check

# The knobs of one training configuration; the main one keeps them top-level in params.yaml.
TRAIN_KEYS = tuple(TRAIN)


def load_params(path: str | Path = "params.yaml") -> dict:
    """params.yaml as a dict; a ParamsError names every unknown key and misfit value."""
    with open(path) as f:
        return check(yaml.safe_load(f) or {}, str(path))


def config_names(params: dict) -> list[str]:
    """`main` (the top-level knobs) followed by the named configurations."""
    return ["main", *params.get("configs", {})]


def train_config(params: dict, name: str) -> dict:
    """The full knob set of configuration `name`: `main` reads the top-level keys,
    any other name is `paper_base` updated with `configs[name]`."""
    if name == "main":
        base = params
    elif name in params.get("configs", {}):
        base = {**params["paper_base"], **(params["configs"][name] or {})}
    else:
        known = ", ".join(config_names(params))
        raise KeyError(f"unknown training configuration {name!r}; known: {known}")
    missing = [k for k in TRAIN_KEYS if k not in base]
    if missing:
        raise KeyError(f"configuration {name!r} lacks {', '.join(missing)}")
    if base["learn_tau"] and base["loss"] == "paper":
        # d loss / d tau = (E[s_jk] - s_jj) / tau^2 < 0 whenever partners beat negatives: tau
        # falls to its clamp and the loss without bound, whatever the ranking
        raise ParamsError(f"configuration {name!r}: learn_tau with loss paper has no optimum in "
                          "tau (the printed loss, positive excluded, falls without bound as tau "
                          "shrinks once partners beat negatives); use loss: clip to learn tau")
    return {k: base[k] for k in TRAIN_KEYS}
