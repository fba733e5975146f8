"""How a stage ends on an error. An error the project raises on purpose — bad params, bad input,
a missing or incomplete output of an earlier stage: a ValueError, KeyError, RuntimeError or
OSError raised by the project's own code — prints one line, `<stage>: <message>`, and the stage
exits with status 1. Anything else (an exception raised inside a library, any other type) is
unexpected and shows its full traceback, as does every error with MVCLR_DEBUG=1.
"""
from __future__ import annotations

import os
import sys
import traceback
from pathlib import Path

ON_PURPOSE = (ValueError, KeyError, RuntimeError, OSError)
PROJECT = tuple(str(Path(__file__).resolve().parents[1] / part) for part in ("mvclr", "stages"))


def on_purpose(error: BaseException) -> bool:
    """Whether `error` is one the project raised on purpose (see the module's docstring)."""
    frames = traceback.extract_tb(error.__traceback__)
    raised_by = str(Path(frames[-1].filename).resolve()) if frames else ""
    return isinstance(error, ON_PURPOSE) and raised_by.startswith(PROJECT)


def one_line(error: BaseException) -> str:
    message = error.args[0] if isinstance(error, KeyError) and error.args else str(error)
    return " ".join(str(message).split())


def hook(kind, error, tb) -> None:
    """sys.excepthook of a stage process."""
    if os.environ.get("MVCLR_DEBUG") or not on_purpose(error):
        sys.__excepthook__(kind, error, tb)
        return
    main = getattr(sys.modules.get("__main__"), "__spec__", None)
    stage = main.name.rsplit(".", 1)[-1] if main is not None else Path(sys.argv[0]).stem
    print(f"{stage}: {one_line(error)}  (MVCLR_DEBUG=1 shows the traceback)", file=sys.stderr)


def install() -> None:
    sys.excepthook = hook
