"""A persistent memo of work already done, in SQLite (stdlib) under the repository's cache/
folder: never tracked by git or DVC, so losing it costs only time, never a result.

Each memo is one table of text keys and text values inside a namespace (a code version, say):
`load` reads a namespace in one SELECT, `put` queues a value and the queue is written in one
transaction every BATCH puts and on `close`, so a catalogue of 10⁵–10⁶ entries loads and saves
in seconds, and an interrupted run keeps what it had written.
"""
from __future__ import annotations

import sqlite3
from pathlib import Path

BATCH = 10_000
BUSY_SECONDS = 60        # wait this long for another process's transaction on the same file


class Memo:
    """The memo in SQLite file `path`, namespace `namespace`; a context manager."""

    def __init__(self, path: str | Path, namespace: str = ""):
        self.path, self.namespace = Path(path), namespace
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.path, timeout=BUSY_SECONDS)
        self.db.execute("CREATE TABLE IF NOT EXISTS memo (namespace TEXT, key TEXT, value TEXT, "
                        "PRIMARY KEY (namespace, key)) WITHOUT ROWID")
        self.pending: list[tuple[str, str, str]] = []

    def load(self) -> dict[str, str]:
        """Every key -> value of this namespace (what was put before included)."""
        self.flush()
        return dict(self.db.execute("SELECT key, value FROM memo WHERE namespace = ?",
                                    (self.namespace,)))

    def put(self, key: str, value: str) -> None:
        self.pending.append((self.namespace, key, value))
        if len(self.pending) >= BATCH:
            self.flush()

    def flush(self) -> None:
        if self.pending:
            with self.db:
                self.db.executemany("INSERT OR REPLACE INTO memo VALUES (?, ?, ?)", self.pending)
            self.pending = []

    def close(self) -> None:
        self.flush()
        self.db.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
