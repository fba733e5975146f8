"""Every key params.yaml may hold, with the kind of its value: a key the code does not know (a
typo such as `emb512: {embed_dims: 512}`) stops a stage before any compute, naming the key and
the nearest valid name, instead of being silently ignored.

Leaves are kinds: int, number (int or float), bool, str, list. A dict is a section; in a
section keyed "*" any name is allowed, each holding what "*" describes.
"""
from __future__ import annotations

import difflib

NUMBER, INT, BOOL, STR, LIST = "number", "int", "bool", "str", "list"

# one training configuration; the main one keeps these top-level
TRAIN = {
    "tau": NUMBER, "learn_tau": BOOL, "loss": STR, "head_layers": INT, "hidden_dim": INT,
    "embed_dim": INT, "head_activation": STR, "batchnorm": BOOL, "dropout": NUMBER,
    "standardise": BOOL, "single_head": BOOL, "ae_init": BOOL, "batch_size": INT, "lr": NUMBER,
    "lr_gamma": NUMBER, "patience": INT, "max_epochs": INT,
}

SCHEMA = {
    "seed": INT,
    **TRAIN,
    "data": {"source": STR, "split": LIST, "min_videos": INT},
    "demo": {"videos": INT, "genres": LIST, "min_seconds": NUMBER, "max_seconds": NUMBER,
             "width": INT, "height": INT, "fps": NUMBER, "sample_rate": INT, "container": STR,
             "audio_channels": INT, "workers": INT},
    "compute": {"executor": STR},
    "decode": {"segments": INT, "segment_seconds": NUMBER, "window_seconds": NUMBER,
               "sample_rate": INT, "frames": INT, "height": INT, "width": INT, "unit_videos": INT,
               "workers": INT, "timeout_seconds": NUMBER},
    "features": {"block_rows": INT,
                 "audio": {"model": STR, "layers": LIST, "runtime": STR, "batch_size": INT},
                 "video": {"weights": STR, "frames": INT, "batch_size": INT}},
    "paper_base": TRAIN,
    "configs": {"*": TRAIN},
    "autoencoder": {"epochs": INT, "lr": NUMBER, "batch_size": INT},
    "stream": {"shuffle_rows": INT},
    "eval": {"rank_pool": INT, "bootstrap": INT, "seed_videos": INT, "seed_segments": INT, "neighbours": INT,
             "summary_seeds": INT},
    "probe": {"aggregate": STR, "compare_aggregates": LIST, "configs": LIST,
              "attention": {"pool": {"hidden": INT, "lr": NUMBER, "max_epochs": INT,
                                     "patience": INT, "batch_videos": INT},
                            "shared_space": {"dim": INT, "lr": NUMBER, "max_epochs": INT,
                                             "patience": INT}},
              "top_tags": INT, "hidden": LIST, "lr": NUMBER, "weight_decay": NUMBER,
              "max_epochs": INT, "patience": INT, "batch_size": INT},
    "index": {"exact_max": INT,
              "ivf": {"lists_per_sqrt": NUMBER, "train_per_list": INT, "iterations": INT,
                      "nprobe": INT}},
}


class ParamsError(ValueError):
    """A params key the code does not know, or a value of the wrong kind."""


def _fits(value, kind: str) -> bool:
    if kind == BOOL:
        return isinstance(value, bool)
    if kind == INT:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == NUMBER:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, {STR: str, LIST: list}[kind])


def problems(params, schema=SCHEMA, where: str = "") -> list[str]:
    """Every unknown key (with the nearest valid name) and every value of the wrong kind."""
    out = []
    if not isinstance(params, dict):
        return [f"{where or 'params.yaml'}: expected a mapping of keys, got {params!r}"]
    for key, value in params.items():
        name = f"{where}.{key}" if where else str(key)
        expected = schema.get(key, schema.get("*"))
        if expected is None:
            near = difflib.get_close_matches(str(key), [k for k in schema if k != "*"], n=1)
            hint = f"; did you mean {where + '.' if where else ''}{near[0]}?" if near else \
                f"; known here: {', '.join(k for k in schema if k != '*')}"
            out.append(f"unknown key {name}{hint}")
        elif isinstance(expected, dict):
            out += problems(value or {}, expected, name)
        elif not _fits(value, expected):
            out.append(f"{name} must be {'a' if expected != INT else 'an'} {expected}, got {value!r}")
    return out


def check(params: dict, source: str = "params.yaml") -> dict:
    """`params` unchanged, or a ParamsError listing what is wrong."""
    found = problems(params)
    if found:
        raise ParamsError(f"{source}: " + "; ".join(found))
    return params
