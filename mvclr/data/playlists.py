"""Playlist-like files: lists of other files or streams (HLS, DASH, concat scripts, SDP, …)
that make FFmpeg, or any player, open files other than the one listed. A music video is never
one, and following one would let a row read files outside data.source (or a FIFO, or the
network), so the scan skips them (mvclr.data.scan) — by name, before opening, and by content,
from the first bytes it reads anyway while fingerprinting. mvclr.data.media refuses the
demuxers that follow such lists as well (defence in depth).
"""
from __future__ import annotations

import hashlib

HEAD_BYTES = 4096        # how much of a file the content rules look at

# names players and FFmpeg's demuxers (hls, dash, concat, sdp, imf) treat as lists of other media
EXTENSIONS = {
    ".m3u": "M3U playlist", ".m3u8": "HLS playlist", ".pls": "PLS playlist",
    ".xspf": "XSPF playlist", ".asx": "ASX playlist", ".wpl": "WPL playlist",
    ".smil": "SMIL presentation", ".mpd": "DASH manifest", ".ffconcat": "FFmpeg concat script",
    ".ffcat": "FFmpeg concat script", ".sdp": "SDP session description",
}

# the head of the file (a UTF-8 BOM and leading white space dropped, lower-cased) starts with
STARTS = {
    b"#extm3u": "M3U/HLS playlist (#EXTM3U)",
    b"#ext-x-": "HLS playlist (#EXT-X-)",
    b"[playlist]": "PLS playlist ([playlist])",
    b"ffconcat version": "FFmpeg concat script (ffconcat version)",
}
# an SDP head: its version line, then an origin or media line
SDP = (b"v=0", (b"\no=", b"\nm="), "SDP session description (v=0)")
# an XML head (starting with '<') holding one of these elements
XML = {
    b"<mpd": "DASH manifest (<MPD>)",
    b"<smil": "SMIL presentation (<smil>)",
    b"<playlist": "XSPF playlist (<playlist>)",
    b"<asx": "ASX playlist (<asx>)",
    b"<?wpl": "WPL playlist (<?wpl>)",
    b"<compositionplaylist": "IMF composition playlist (<CompositionPlaylist>)",
}

# changes whenever a content rule changes: a memoised verdict under other rules is redone
RULES = hashlib.blake2b(repr((HEAD_BYTES, STARTS, SDP, XML)).encode(), digest_size=8).hexdigest()


def by_name(path: str) -> str | None:
    """What the file's extension says it is, when that is a playlist; else None."""
    dot = path.rfind(".")
    return EXTENSIONS.get(path[dot:].lower()) if dot > path.rfind("/") else None


def by_content(head: bytes) -> str | None:
    """What the first HEAD_BYTES bytes of a file say it is, when that is a playlist; else None."""
    text = head[:HEAD_BYTES].removeprefix(b"\xef\xbb\xbf").lstrip().lower()
    for start, kind in STARTS.items():
        if text.startswith(start):
            return kind
    if text.startswith(SDP[0]) and any(line in text for line in SDP[1]):
        return SDP[2]
    if text.startswith(b"<"):
        return next((kind for tag, kind in XML.items() if tag in text), None)
    return None
