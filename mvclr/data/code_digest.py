"""Digests of code that decides cached values (decoded segments, probe outcomes): a cache keyed
by them is redone when the code's behaviour may have changed, not when a comment or docstring
did. A module is digested as its syntax tree without docstrings (the parser drops comments),
so reformatting or documenting it keeps every cache; any change to a statement renews them.
"""
from __future__ import annotations

import ast
import hashlib
from pathlib import Path

DOCUMENTED = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)


def behaviour(source: str) -> str:
    """The syntax tree of `source` without docstrings, as text."""
    tree = ast.parse(source)
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(node, DOCUMENTED) and body and isinstance(body[0], ast.Expr) and \
                isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
            node.body = body[1:] or [ast.Pass()]
    return ast.dump(tree)


def code_digest(*modules, extra: str = "") -> str:
    """BLAKE2b-128 (hex) of the behaviour of `modules` (imported modules) and `extra`."""
    h = hashlib.blake2b(digest_size=16)
    for module in modules:
        h.update(behaviour(Path(module.__file__).read_text()).encode())
    h.update(extra.encode())
    return h.hexdigest()
