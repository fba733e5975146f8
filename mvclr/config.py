"""Reading params.yaml and resolving training configurations."""
from __future__ import annotations

from pathlib import Path

import yaml

# The knobs of one training configuration; the main one keeps them top-level in params.yaml.
TRAIN_KEYS = (
    "tau", "learn_tau", "loss", "head_layers", "hidden_dim", "embed_dim",
    "head_activation", "batchnorm", "dropout", "standardise", "single_head", "ae_init",
    "batch_size", "lr", "lr_gamma", "patience", "max_epochs",
)


def load_params(path: str | Path = "params.yaml") -> dict:
    with open(path) as f:
        return yaml.safe_load(f)


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
    return {k: base[k] for k in TRAIN_KEYS}
