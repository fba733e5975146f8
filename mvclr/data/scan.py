"""The scan: what each row of metadata.csv points at, checked with the file system alone and
fingerprinted by content, as the files table (data/files.csv, stage `scan`).

DVC never hashes the folder of videos (27 TB at 550 000 videos, and a FIFO in it would hang
`dvc status`); it hashes this table instead, which changes only when a listed file's content
or metadata.csv changes. For every row, in metadata order: line, video_id, path (as given),
file (where it resolves, relative to data.source), status (ok | skipped), reason, detail, and
for a usable file its size and fingerprint. No absolute path, time or machine-dependent value
is written, so the table is byte-identical whenever what it lists is.

A listed path must resolve (symlinks followed) to a regular, non-empty file inside data.source
that is no playlist (mvclr.data.playlists). Nothing outside the folder is read or stat-ed,
and nothing but a listed regular file is opened (stat first; the open is non-blocking and the
file checked again), so a FIFO, device or socket can neither block nor feed the scan. Every
other case is a skipped row with its reason, never an error.

The fingerprint is BLAKE2b-128 of the file's bytes (a content address: a copied or touched
file has the same one). Hashing a catalogue takes hours, so each result is memoised
(mvclr.data.memo) by the file's resolved absolute path with its stat tuple (size, mtime_ns,
ctime_ns, inode, device): a file whose tuple is unchanged costs one stat, any change re-hashes
it. A file modified within RACY_NS of its hashing is not memoised (a write in the same
timestamp tick could leave the tuple unchanged): the next scan hashes it again.
"""
from __future__ import annotations

import csv
import hashlib
import io
import os
import stat
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from mvclr.data import playlists
from mvclr.paths import FILES

COLUMNS = ("line", "video_id", "path", "file", "status", "reason", "detail", "size", "fingerprint")
OK, SKIPPED = "ok", "skipped"
# skip reasons (MISSING, UNREADABLE, EMPTY and PLAYLIST are those of mvclr.data.media too)
OUTSIDE, SPECIAL, DIRECTORY = "outside data.source", "special file", "is a directory"
MISSING, UNREADABLE, EMPTY = "missing file", "unreadable", "empty file"
PLAYLIST = "playlist container"
SPECIAL_KINDS = ((stat.S_ISFIFO, "FIFO"), (stat.S_ISCHR, "character device"),
                 (stat.S_ISBLK, "block device"), (stat.S_ISSOCK, "socket"))

CHUNK = 1 << 20          # bytes per read while hashing
DIGEST_BYTES = 16        # BLAKE2b-128
RACY_NS = 2_000_000_000  # a file modified this recently (ns) is hashed but not memoised
HASH_BATCH = 64          # files per task of the hashing threads


class Skip(Exception):
    """A row that names no usable file: `reason` (one of the above) and `detail`."""

    def __init__(self, reason: str, detail: str = ""):
        self.reason, self.detail = reason, detail
        super().__init__(f"{reason}: {detail}" if detail else reason)


class StaleScan(ValueError):
    """The files table does not list metadata.csv as it is now."""


def _stat_key(st: os.stat_result) -> str:
    return f"{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}:{st.st_ino}:{st.st_dev}"


def _kind(st: os.stat_result) -> None:
    """Raise Skip unless `st` is a regular file."""
    if stat.S_ISREG(st.st_mode):
        return
    if stat.S_ISDIR(st.st_mode):
        raise Skip(DIRECTORY)
    for test, name in SPECIAL_KINDS:
        if test(st.st_mode):
            raise Skip(SPECIAL, name)
    raise Skip(SPECIAL, f"file type {stat.S_IFMT(st.st_mode):o}")


def _os_skip(e: OSError, dangling: str = "") -> Skip:
    if isinstance(e, (FileNotFoundError, NotADirectoryError)):
        return Skip(MISSING, f"dangling symlink to {dangling}" if dangling else "")
    return Skip(UNREADABLE, e.strerror or str(e))      # strerror: the message without the path


class Locator:
    """Resolves rows' paths inside the folder `root`, caching the resolved parent directories
    (a catalogue has few directories and many files)."""

    def __init__(self, root: str | Path):
        self.root = os.path.realpath(root)
        self.prefix = self.root.rstrip("/") + "/"
        self.dirs: dict[str, str] = {}

    def inside(self, real: str) -> bool:
        return real == self.root or real.startswith(self.prefix)

    def relative(self, real: str) -> str:
        """`real` (a path inside the root, not the root) relative to the root."""
        return real[len(self.prefix):]

    def locate(self, path: str) -> tuple[str, os.stat_result]:
        """The resolved absolute path of `path` (relative to the root) and its stat, for a
        regular file inside the root; Skip otherwise. Opens nothing, and stats nothing outside
        the root (resolving a symlink lstats the components of its target)."""
        if path.startswith("/"):
            raise Skip(OUTSIDE, "an absolute path; paths are relative to data.source")
        head, _, name = path.rpartition("/")
        if name in ("", ".", ".."):
            real = os.path.realpath(os.path.join(self.root, path))
        else:
            parent = self.dirs.get(head)
            if parent is None:
                parent = self.dirs[head] = os.path.realpath(os.path.join(self.root, head))
            real = f"{parent.rstrip('/')}/{name}"
        if not self.inside(real):
            raise Skip(OUTSIDE, "resolves outside the folder")
        try:
            st = os.lstat(real)
        except OSError as e:
            raise _os_skip(e) from None
        if stat.S_ISLNK(st.st_mode):
            try:
                link = os.readlink(real)
            except OSError as e:
                raise _os_skip(e) from None
            real = os.path.realpath(real)
            if not self.inside(real):
                raise Skip(OUTSIDE, f"a symlink to {link}")
            try:
                st = os.stat(real)
            except OSError as e:
                raise _os_skip(e, dangling=link) from None
        _kind(st)
        if st.st_size == 0:
            raise Skip(EMPTY)
        return real, st


def fingerprint(path: str) -> tuple[str, str | None, os.stat_result]:
    """BLAKE2b-128 (hex) of the regular file `path`, read in CHUNK reads; the playlist kind its
    first bytes show (or None); its stat when opened. Opened non-blocking and checked to be a
    regular file before any read (it may have been swapped for a FIFO since it was listed);
    Skip when it is not, cannot be read or changed while it was read."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as e:
        raise _os_skip(e) from None
    with open(fd, "rb", buffering=0, closefd=True) as f:
        before = os.fstat(fd)
        _kind(before)
        digest, buffer = hashlib.blake2b(digest_size=DIGEST_BYTES), bytearray(CHUNK)
        view = memoryview(buffer)
        try:
            n = f.readinto(buffer)
            kind = playlists.by_content(bytes(view[:min(n, playlists.HEAD_BYTES)]))
            while n:
                digest.update(view[:n])
                n = f.readinto(buffer)
        except OSError as e:
            raise _os_skip(e) from None
        if _stat_key(os.fstat(fd)) != _stat_key(before):
            raise Skip(UNREADABLE, "changed while it was read (scan again)")
    return digest.hexdigest(), kind, before


def sniff(path: str) -> str | None:
    """The playlist kind the first bytes of the regular file `path` show (or None)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)
    with open(fd, "rb", buffering=0, closefd=True) as f:
        _kind(os.fstat(fd))
        return playlists.by_content(f.read(playlists.HEAD_BYTES))


def scan(folder: str | Path, rows: list[dict], memo=None, progress=None,
         workers: int | None = None) -> list[dict]:
    """The files table of metadata `rows` (mvclr.data.metadata) of the data set in `folder`.
    `memo`: a mvclr.data.memo.Memo of earlier fingerprints (None: hash every file);
    `progress(bytes)` is called after each file hashed; `workers`: hashing threads (hashlib and
    reads release the GIL), by default the CPU count up to 8."""
    where = Locator(folder)
    known = memo.load() if memo is not None else {}
    out, todo = [], {}                 # todo: resolved path -> rows waiting for its fingerprint
    for row in rows:
        entry = {"line": row["line"], "video_id": row["video_id"], "path": row["path"],
                 "file": "", "status": SKIPPED, "reason": row.get("reason", ""),
                 "detail": row.get("detail", ""), "size": None, "fingerprint": ""}
        out.append(entry)
        if entry["reason"]:
            continue                   # malformed in metadata.csv: names no file
        try:
            real, st = where.locate(row["path"])
            kind = playlists.by_name(row["path"])      # the name FFmpeg is given
            if kind:
                raise Skip(PLAYLIST, f"{kind} by its name")
        except Skip as e:
            entry.update(reason=e.reason, detail=e.detail)
            continue
        entry.update(file=where.relative(real), size=st.st_size)
        hit = _recall(known.get(real), _stat_key(st), real, memo)
        if hit is None:
            todo.setdefault(real, []).append(entry)
        else:
            _settle(entry, *hit)
    if todo:
        _hash_all(todo, memo, progress, workers)
    return out


def _recall(value: str | None, key: str, real: str, memo) -> tuple[str, str | None] | None:
    """(fingerprint, playlist kind) memoised for `real` under its current stat `key`, or None
    when it must be hashed. Under older content rules only the first bytes are read again."""
    if value is None:
        return None
    saved, digest, rules, kind = value.split("|", 3)
    if saved != key:
        return None
    if rules != playlists.RULES:
        try:
            kind = sniff(real) or ""
        except (OSError, Skip):
            return None                # hashing will report what is wrong with it
        memo.put(real, "|".join((key, digest, playlists.RULES, kind)))
    return digest, kind or None


def _settle(entry: dict, digest: str, kind: str | None) -> None:
    if kind:
        entry.update(reason=PLAYLIST, detail=f"{kind} by its content", file="", size=None)
    else:
        entry.update(status=OK, fingerprint=digest)


def _hash_all(todo: dict[str, list[dict]], memo, progress, workers) -> None:
    def one(real):
        try:
            return real, fingerprint(real), None
        except Skip as e:
            return real, None, e

    def batch(paths):
        return [one(p) for p in paths]

    paths = list(todo)
    batches = [paths[i:i + HASH_BATCH] for i in range(0, len(paths), HASH_BATCH)]
    with ThreadPoolExecutor(workers or min(8, os.cpu_count() or 1)) as pool:
        for results in pool.map(batch, batches):
            settled = time.time_ns() - RACY_NS
            for real, result, skip in results:
                if skip is not None:
                    for entry in todo[real]:
                        entry.update(reason=skip.reason, detail=skip.detail, file="", size=None)
                    continue
                digest, kind, st = result
                for entry in todo[real]:
                    entry["size"] = st.st_size          # as hashed
                    _settle(entry, digest, kind)
                # mtime only: any write after the hash moves it past this point
                if memo is not None and st.st_mtime_ns < settled:
                    memo.put(real, "|".join((_stat_key(st), digest, playlists.RULES, kind or "")))
                if progress is not None:
                    progress(st.st_size)


def table(rows: list[dict]) -> bytes:
    """The files table as CSV bytes."""
    text = io.StringIO(newline="")
    w = csv.writer(text)
    w.writerow(COLUMNS)
    for r in rows:
        w.writerow(["" if r[c] is None else r[c] for c in COLUMNS])
    return text.getvalue().encode("utf-8")


def write_files(rows: list[dict], path: str | Path) -> None:
    """Write the files table to `path` (under a temporary name, renamed when complete)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_bytes(table(rows))
    os.replace(partial, path)


def read_files(path: str | Path) -> list[dict]:
    """Rows of the files table: line as int, size as int (None if empty)."""
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        r["line"] = int(r["line"])
        r["size"] = int(r["size"]) if r["size"] else None
    return rows


def check_scan(rows: list[dict], files: list[dict]) -> None:
    """StaleScan unless the files table `files` lists exactly the metadata `rows`, row for row."""
    for row, file in zip(rows, files):
        if any(row[k] != file[k] for k in ("line", "video_id", "path")):
            raise StaleScan(f"{FILES} does not list line {row['line']} of metadata.csv as it is "
                            "now; run `dvc repro scan`")
    if len(rows) != len(files):
        raise StaleScan(f"{FILES} lists {len(files)} rows, metadata.csv has {len(rows)}; "
                        "run `dvc repro scan`")
