"""Running a function on one file at a time in a child process under a time budget.

A decoder can hang (a stalled read, an FFmpeg bug) or crash the process it runs in; neither may
stop a stage or cost another file. `Supervised(fn, seconds)` keeps a child process that runs
`fn(*args)` per call: a call that gives no result within `seconds` has its child killed
(SIGKILL, then reaped) and raises TimedOut; a child that dies raises Crashed; an exception in
`fn` is raised in the caller. The next call starts a fresh child. Children end with their
parent, even when the parent is killed (`exit_with_parent`).
"""
from __future__ import annotations

import multiprocessing
import os
import threading
import time

from mvclr.data.media import DECODE_FAILED, TIMED_OUT

STARTUP_SECONDS = 120    # a child's imports, on a loaded machine


class Failed(Exception):
    """A call that gave no result: `reason` (an ingest report reason) and `detail`."""

    def __init__(self, reason: str, detail: str):
        self.reason, self.detail = reason, detail
        super().__init__(f"{reason}: {detail}")


class TimedOut(Failed):
    pass


class Crashed(Failed):
    pass


def exit_with_parent(parent: int, every: float = 0.5) -> None:
    """End this process as soon as `parent` is gone (a hard kill of the stage): a thread
    polls the parent id, which changes when the process is orphaned."""
    def watch():
        while os.getppid() == parent:
            time.sleep(every)
        os._exit(1)
    threading.Thread(target=watch, daemon=True).start()


def _serve(conn, fn, parent: int) -> None:
    """The child: `fn` on each argument tuple received, ("ok", value) or ("raise", error) back."""
    exit_with_parent(parent)
    conn.send(("ready", None))
    while True:
        try:
            args = conn.recv()
        except EOFError:
            return
        try:
            reply = ("ok", fn(*args))
        except Exception as e:  # noqa: BLE001 - handed to the caller
            reply = ("raise", e)
        try:
            conn.send(reply)
        except Exception as e:  # noqa: BLE001 - an exception that does not pickle
            conn.send(("raise", RuntimeError(f"{type(e).__name__}: {e}")))


class Supervised:
    """`fn` (a module-level function) in a child process, one call at a time, each within
    `seconds`."""

    def __init__(self, fn, seconds: float):
        self.fn, self.seconds = fn, seconds
        self.process = self.conn = None

    def _start(self) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_serve, args=(child, self.fn, os.getpid()), daemon=True)
        self.process.start()
        child.close()
        if not self.conn.poll(STARTUP_SECONDS):
            self.stop()
            raise RuntimeError(f"the child process for {self.fn.__name__} did not start "
                               f"within {STARTUP_SECONDS} s")
        self.conn.recv()

    def __call__(self, *args):
        if self.process is not None and not self.process.is_alive():
            self.stop()                     # died between calls (killed from outside)
        if self.process is None:
            self._start()
        self.conn.send(args)
        if not self.conn.poll(self.seconds):
            self.stop()
            raise TimedOut(TIMED_OUT, f"no result within decode.timeout_seconds = {self.seconds} s; "
                                      "its process was killed")
        try:
            status, value = self.conn.recv()
        except (EOFError, OSError):
            code = self.stop()
            how = f"signal {-code}" if code and code < 0 else f"exit code {code}"
            raise Crashed(DECODE_FAILED, f"the decoder process crashed ({how})") from None
        if status == "raise":
            raise value
        return value

    def stop(self) -> int | None:
        """Kill and reap the child (if any); its exit code."""
        if self.process is None:
            return None
        self.conn.close()
        self.process.kill()
        self.process.join()
        code = self.process.exitcode
        self.process = self.conn = None
        return code

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
