"""The scan (mvclr.data.scan, stage `scan`): every path that names no usable file inside the
folder is a skipped row with its reason, nothing but a listed regular file is ever opened,
and the files table depends only on what the rows list (fingerprints memoised by stat)."""
from __future__ import annotations

import os
import shutil
import socket
import stat
import subprocess
import threading
import time
from pathlib import Path

import pytest
import yaml
from make_media import write_dataset, write_media
from workspace import commit, copy_repo, run, stages_run

from mvclr.data import media, metadata, playlists, scan
from mvclr.data.memo import Memo
from stages import prepare, scan as scan_stage

SEG = 2.0
HOUR_NS = 3600 * 10**9


def settle(folder: Path) -> None:
    """Every file's modification time an hour back: older than scan.RACY_NS, so memoised."""
    old = time.time_ns() - HOUR_NS
    for path in folder.rglob("*"):
        if path.is_file() and not path.is_symlink():
            os.utime(path, ns=(old, old))


def write_metadata(folder: Path, paths: dict[str, str]) -> None:
    (folder / "metadata.csv").write_text(
        "video_id,path,genre,tags\n" + "".join(f"{v},{p},rock,\n" for v, p in paths.items()))


def scanned(folder: Path, memo: Memo | None = None) -> tuple[list[dict], int]:
    """The files table of `folder` and how many files were hashed for it."""
    hashed = []
    files = scan.scan(folder, metadata.read_metadata(folder).rows, memo, hashed.append)
    return files, len(hashed)


@pytest.fixture
def bad_folder(tmp_path):
    """A folder holding a usable file and one row per case that names no usable file."""
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "a.mp4").write_bytes(b"video a" * 100)
    (src / "sub/b.mp4").write_bytes(b"video b" * 100)
    (tmp_path / "outside.mp4").write_bytes(b"outside" * 100)
    os.mkfifo(src / "fifo.mp4")
    os.mkfifo(src / "unlisted_fifo.mp4")
    os.symlink("gone.mp4", src / "dangling.mp4")
    os.symlink("sub/b.mp4", src / "inside_link.mp4")
    os.symlink(tmp_path / "outside.mp4", src / "outside_link.mp4")
    try:
        os.mknod(src / "device.mp4", stat.S_IFCHR | 0o600, os.makedev(1, 3))  # as /dev/null
    except PermissionError:
        pytest.skip("making a device file needs root")
    (src / "folder.mp4").mkdir()
    (src / "zero.mp4").touch()
    (src / "list.m3u8").write_text("#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXTINF:4.0,\na.mp4\n")
    (src / "disguised.mp4").write_text("\ufeff\n#EXTM3U\n#EXTINF:4.0,\na.mp4\n")
    (src / "manifest.mp4").write_text('<?xml version="1.0"?>\n<MPD xmlns="urn:mpeg:dash:mpd">')
    (src / "locked.mp4").write_bytes(b"locked" * 100)
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(src / "socket.mp4"))
    rows = {"a": "a.mp4", "b": "sub/b.mp4", "up": "../outside.mp4",
            "abs": str(tmp_path / "outside.mp4"), "fifo": "fifo.mp4", "dangling": "dangling.mp4",
            "inside": "inside_link.mp4", "outlink": "outside_link.mp4", "device": "device.mp4",
            "dir": "folder.mp4", "zero": "zero.mp4", "m3u8": "list.m3u8",
            "disguised": "disguised.mp4", "manifest": "manifest.mp4", "locked": "locked.mp4",
            "socket": "socket.mp4", "missing": "nowhere.mp4", "back": "sub/../a.mp4"}
    write_metadata(src, rows)
    with open(src / "metadata.csv", "a") as f:
        f.write("nul,with\0nul.mp4,rock,\n")
    yield src
    sock.close()


EXPECTED = {
    "a": ("ok", "", ""), "b": ("ok", "", ""), "inside": ("ok", "", ""), "back": ("ok", "", ""),
    "up": ("skipped", scan.OUTSIDE, "resolves outside the folder"),
    "abs": ("skipped", scan.OUTSIDE, "an absolute path; paths are relative to data.source"),
    "outlink": ("skipped", scan.OUTSIDE, "a symlink to {tmp}/outside.mp4"),
    "fifo": ("skipped", scan.SPECIAL, "FIFO"),
    "device": ("skipped", scan.SPECIAL, "character device"),
    "socket": ("skipped", scan.SPECIAL, "socket"),
    "dir": ("skipped", scan.DIRECTORY, ""),
    "dangling": ("skipped", scan.MISSING, "dangling symlink to gone.mp4"),
    "missing": ("skipped", scan.MISSING, ""),
    "zero": ("skipped", scan.EMPTY, ""),
    "m3u8": ("skipped", scan.PLAYLIST, "HLS playlist by its name"),
    "disguised": ("skipped", scan.PLAYLIST, "M3U/HLS playlist (#EXTM3U) by its content"),
    "manifest": ("skipped", scan.PLAYLIST, "DASH manifest (<MPD>) by its content"),
    "locked": ("skipped", scan.UNREADABLE, "Permission denied"),
    "nul": ("skipped", metadata.MALFORMED, "line 20: a NUL byte in path"),
}


def test_every_path_naming_no_usable_file_is_skipped_with_its_reason(bad_folder, monkeypatch):
    """Tests run as root, whom chmod 000 does not stop: the unreadable file is simulated."""
    opened, looked_at = [], []
    real_open, real_lstat, real_stat = os.open, os.lstat, os.stat

    def fake_open(path, flags, *args, **kwargs):
        opened.append(str(path))
        if str(path).endswith("locked.mp4"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, flags, *args, **kwargs)

    def watch(real):
        def call(path, *args, **kwargs):
            looked_at.append(os.fspath(path))
            return real(path, *args, **kwargs)
        return call

    monkeypatch.setattr(os, "open", fake_open)
    monkeypatch.setattr(os, "lstat", watch(real_lstat))
    monkeypatch.setattr(os, "stat", watch(real_stat))
    result = {}
    worker = threading.Thread(target=lambda: result.update(files=scanned(bad_folder)[0]),
                              daemon=True)
    worker.start()
    worker.join(60)
    assert not worker.is_alive(), "the scan blocked"
    monkeypatch.undo()
    files = {f["video_id"]: f for f in result["files"]}
    tmp = bad_folder.parent
    got = {v: (f["status"], f["reason"], f["detail"]) for v, f in files.items()}
    assert got == {v: (s, r, d.format(tmp=tmp)) for v, (s, r, d) in EXPECTED.items()}
    # a usable file: its size and content's BLAKE2b-128, where it resolves relative to the folder
    assert (files["a"]["size"], len(files["a"]["fingerprint"])) == (700, 32)
    assert files["inside"]["fingerprint"] == files["b"]["fingerprint"] != files["a"]["fingerprint"]
    assert [files[v]["file"] for v in ("inside", "back")] == ["sub/b.mp4", "a.mp4"]
    assert all(f["file"] == f["fingerprint"] == "" and f["size"] is None
               for f in files.values() if f["status"] != scan.OK)
    # nothing but listed regular files inside was opened; the unlisted FIFO was not looked at
    real = os.path.realpath(bad_folder)
    assert sorted(opened) == sorted(f"{real}/{p}" for p in (
        "a.mp4", "sub/b.mp4", "disguised.mp4", "manifest.mp4", "locked.mp4"))
    assert not [p for p in looked_at if "unlisted_fifo" in p]


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a file whatever its mode")
def test_a_file_without_read_permission_is_unreadable(tmp_path):
    (tmp_path / "a.mp4").write_bytes(b"a" * 10)
    (tmp_path / "a.mp4").chmod(0)
    write_metadata(tmp_path, {"a": "a.mp4"})
    [row], _ = scanned(tmp_path)
    assert (row["reason"], row["detail"]) == (scan.UNREADABLE, "Permission denied")


def test_reasons_shared_with_probing_agree():
    assert (scan.MISSING, scan.UNREADABLE, scan.EMPTY, scan.PLAYLIST) == (
        media.MISSING, media.UNREADABLE, media.EMPTY, media.PLAYLIST)


def test_probing_refuses_demuxers_that_open_other_files(tmp_path):
    """Defence in depth: a playlist that reached FFmpeg is refused before it reads a segment."""
    write_media(tmp_path / "seg.mp4", 2.0)
    for name, text in (("list.m3u8", "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2.0,\nseg.mp4\n"
                                     "#EXT-X-ENDLIST\n"),
                       ("list.ffconcat", "ffconcat version 1.0\nfile seg.mp4\n")):
        (tmp_path / name).write_text(text)
        with pytest.raises(media.MediaError) as e:
            media.probe(tmp_path / name)
        assert e.value.reason == media.PLAYLIST
    assert media.probe(tmp_path / "seg.mp4").duration == pytest.approx(2.0, abs=0.05)


def test_playlist_rules():
    assert playlists.by_name("a/b.M3U8") == "HLS playlist" and playlists.by_name("a.m3u8/b") is None
    assert playlists.by_content(b"  [Playlist]\nFile1=a.mp3") == "PLS playlist ([playlist])"
    assert playlists.by_content(b"v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\n").startswith("SDP")
    assert playlists.by_content(b"\x00\x00\x00\x20ftypisom#EXTM3U") is None      # an MP4
    assert playlists.by_content(b"<?xml?><svg/>") is None


def test_an_unchanged_file_costs_one_stat(tmp_path):
    """Touched or copied files are hashed once more and give the same table; untouched ones
    are not hashed; a change of content under the same size and mtime is seen (ctime)."""
    src = tmp_path / "src"
    src.mkdir()
    names = {f"v{i}": f"v{i}.mp4" for i in range(12)}
    for i, name in enumerate(names.values()):
        (src / name).write_bytes(f"video {i} ".encode() * 50)
    write_metadata(src, names)
    settle(src)
    with Memo(tmp_path / "memo.sqlite") as memo:
        first, hashed = scanned(src, memo)
    assert hashed == 12
    table = scan.table(first)
    with Memo(tmp_path / "memo.sqlite") as memo:
        again, hashed = scanned(src, memo)
    assert hashed == 0 and scan.table(again) == table

    now = time.time_ns()
    for name in ("v0.mp4", "v5.mp4"):
        os.utime(src / name, ns=(now, now))                    # touch
    with Memo(tmp_path / "memo.sqlite") as memo:
        touched, hashed = scanned(src, memo)
    assert hashed == 2 and scan.table(touched) == table

    copy = tmp_path / "copy"
    shutil.copytree(src, copy)                                  # new inodes, mtimes kept
    with Memo(tmp_path / "memo.sqlite") as memo:
        copied, hashed = scanned(copy, memo)
        assert hashed == 12 and scan.table(copied) == table
        assert scanned(copy, memo)[1] == 2                      # the touched: too recent to memo
        assert scanned(src, memo)[1] == 2

    st = os.stat(src / "v1.mp4")
    (src / "v1.mp4").write_bytes(b"V" + (src / "v1.mp4").read_bytes()[1:])
    os.utime(src / "v1.mp4", ns=(st.st_atime_ns, st.st_mtime_ns))   # same size and mtime
    with Memo(tmp_path / "memo.sqlite") as memo:
        changed, hashed = scanned(src, memo)
    assert hashed >= 1 and changed[1]["fingerprint"] != first[1]["fingerprint"]


def test_new_playlist_rules_reread_only_the_first_bytes(tmp_path, monkeypatch):
    write_metadata(tmp_path, {"a": "a.mp4"})
    (tmp_path / "a.mp4").write_bytes(b"#NEWLIST\n" + b"x" * 100)
    settle(tmp_path)
    with Memo(tmp_path / "memo.sqlite") as memo:
        assert scanned(tmp_path, memo)[0][0]["status"] == scan.OK
    monkeypatch.setitem(playlists.STARTS, b"#newlist", "a new kind of list")
    monkeypatch.setattr(playlists, "RULES", "new rules")
    with Memo(tmp_path / "memo.sqlite") as memo:
        [row], hashed = scanned(tmp_path, memo)
    assert hashed == 0 and (row["reason"], row["detail"]) == (scan.PLAYLIST,
                                                              "a new kind of list by its content")


def run_stages(root: Path, source: str, capsys) -> str:
    """Stages scan and prepare in `root` on data set `source`; what they printed."""
    params = {"seed": 0, "data": {"source": source, "split": [0.8, 0.1, 0.1], "min_videos": 1},
              "decode": {"segment_seconds": SEG, "timeout_seconds": 60}}
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        scan_stage.main()
        prepare.main()
    return capsys.readouterr().out


def test_a_touched_or_copied_folder_changes_neither_table(tmp_path, capsys):
    write_dataset(tmp_path / "data/src", [("a.mp4", 3.0, {}), ("b.mkv", 2.5, {})],
                  segment_seconds=SEG)
    settle(tmp_path / "data/src")
    out = run_stages(tmp_path, "data/src", capsys)
    assert "file(s) probed" in out
    tables = [(tmp_path / p).read_bytes() for p in ("data/files.csv", "data/index.csv")]
    out = run_stages(tmp_path, "data/src", capsys)
    assert "0 file(s) hashed" in out and "0 file(s) probed" in out

    subprocess.run(["touch", str(tmp_path / "data/src/a.mp4")], check=True)
    out = run_stages(tmp_path, "data/src", capsys)
    assert "1 file(s) hashed" in out and "0 file(s) probed" in out
    shutil.copytree(tmp_path / "data/src", tmp_path / "data/copy", symlinks=True)
    out = run_stages(tmp_path, "data/copy", capsys)
    assert "0 file(s) probed" in out
    assert [(tmp_path / p).read_bytes() for p in ("data/files.csv", "data/index.csv")] == tables


def dvc(args: list[str], repo: Path, timeout: float) -> str:
    """`dvc ARGS` in `repo`, failing the test when it does not end within `timeout` s."""
    try:
        return run(["timeout", "-s", "KILL", str(timeout), "dvc", *args], repo)
    except AssertionError as e:
        raise AssertionError(f"dvc {' '.join(args)} failed or hung (> {timeout} s): {e}") from None


def test_dvc_repro_prepare_with_a_fifo_a_dangling_symlink_and_an_outside_path(tmp_path):
    """End to end through DVC, in a fresh copy of the repository: the folder holds a FIFO (listed
    and unlisted), a dangling symlink and a row leaving the folder; `dvc repro prepare` skips
    them, `dvc status` answers, and a second `dvc repro prepare` runs only the scan."""
    repo, raw = copy_repo(tmp_path / "repo"), tmp_path / "raw"
    write_dataset(raw, [("a.mp4", 3.0, {}), ("b.mkv", 2.5, {})], segment_seconds=SEG)
    os.mkfifo(raw / "fifo.mp4")
    os.mkfifo(raw / "unlisted.fifo")
    os.symlink("gone.mp4", raw / "dangling.mp4")
    (tmp_path / "outside.mp4").write_bytes(b"outside")
    with open(raw / "metadata.csv", "a") as f:
        f.write("fifo,fifo.mp4,rock,\ndangling,dangling.mp4,rock,\nup,../outside.mp4,rock,\n")
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["data"].update(source=str(raw), min_videos=1)
    params["decode"]["segment_seconds"] = SEG
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    commit(repo)
    out = dvc(["repro", "prepare"], repo, timeout=300)
    assert stages_run(out) == {"scan", "prepare"}
    with open(repo / "data/index.csv") as f:
        text = f.read()
    for line in ("fifo,fifo.mp4,rock,,,,skipped,special file,FIFO",
                 "dangling,dangling.mp4,rock,,,,skipped,missing file,dangling symlink to gone.mp4",
                 "up,../outside.mp4,rock,,,,skipped,outside data.source,"
                 "resolves outside the folder"):
        assert line in text, text
    status = dvc(["status", "--with-deps", "prepare"], repo, timeout=120)
    assert status.split() == ["scan:", "always", "changed"], status
    dvc(["status"], repo, timeout=120)                      # the whole pipeline's, too
    assert stages_run(dvc(["repro", "prepare"], repo, timeout=300)) == {"scan"}
