"""The neighbour report as one self-contained HTML page: frame strips (JPEG), audio (Ogg Opus),
captions and the summary table, all embedded so the file opens offline.

Each medium is embedded once, as a data URI in a JSON map at the end of the page, and a short
script puts it into every <img>/<audio> that names it (data-media), so an item shown in several
tabs costs its bytes once. Tabs are plain CSS (radio buttons).
"""
from __future__ import annotations

import base64
import html
import io
import json
from dataclasses import dataclass, field

import av
import numpy as np
from PIL import Image

from stages.segment_store import window_frames, window_samples

OPUS_RATES = (8000, 12000, 16000, 24000, 48000)
OPUS_BITRATE = 16000           # mono previews: ~8 KB per 3 s window
STRIP_HEIGHT = 72
STRIP_FRAMES = 6
STRIP_COLUMNS = 3
JPEG_QUALITY = 75


def jpeg_strip(frames: np.ndarray, height: int = STRIP_HEIGHT, columns: int = STRIP_COLUMNS) -> bytes:
    """Frames [m, H, W, 3] uint8, each scaled to `height` keeping the aspect, in rows of
    `columns` (left to right, top to bottom), as one JPEG."""
    frames = np.asarray(frames, dtype=np.uint8)
    if frames.ndim != 4 or frames.shape[-1] != 3 or len(frames) == 0:
        raise ValueError(f"frames must be [m, H, W, 3] with m > 0, got shape {frames.shape}")
    h, w = frames.shape[1:3]
    width = max(1, round(w * height / h))
    cols = min(columns, len(frames))
    tiles = [Image.fromarray(f).resize((width, height), Image.Resampling.BILINEAR) for f in frames]
    strip = Image.new("RGB", (width * cols, height * -(-len(tiles) // cols)))
    for i, tile in enumerate(tiles):
        strip.paste(tile, ((i % cols) * width, (i // cols) * height))
    buf = io.BytesIO()
    strip.save(buf, "JPEG", quality=JPEG_QUALITY)
    return buf.getvalue()


def opus_ogg(audio: np.ndarray, rate: int, bitrate: int = OPUS_BITRATE) -> bytes:
    """Mono float audio as an Ogg Opus file (resampled to 48 kHz when Opus lacks `rate`)."""
    audio = np.clip(np.asarray(audio, dtype=np.float32).ravel(), -1.0, 1.0)
    frame = av.AudioFrame.from_ndarray(audio[None, :], format="flt", layout="mono")
    frame.sample_rate = rate
    out_rate = rate if rate in OPUS_RATES else 48000
    resampler = av.AudioResampler(format="flt", layout="mono", rate=out_rate)
    buf = io.BytesIO()
    with av.open(buf, "w", format="ogg") as container:
        container.flags |= av.container.Flags.bitexact.value    # fixed stream serial: reproducible
        stream = container.add_stream("libopus", rate=out_rate, layout="mono")
        stream.bit_rate = bitrate
        for piece in [*resampler.resample(frame), *resampler.resample(None)]:
            for packet in stream.encode(piece):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return buf.getvalue()


def data_uri(mime: str, payload: bytes) -> str:
    return f"data:{mime};base64,{base64.b64encode(payload).decode('ascii')}"


class MediaCollector:
    """Media of the items, read from the segment store and encoded once per item: a segment
    shows STRIP_FRAMES frames of its analysis window and plays the window's audio; a video
    shows the middle frame of each segment's window and plays the window of its middle
    segment. `media` maps the keys handed out to (image, audio) data URIs."""

    def __init__(self, store, rows_of_video: dict[str, np.ndarray], window_seconds: float):
        self.store, self.rows_of_video = store, rows_of_video
        attrs = dict(store.attrs)
        self.rate = int(attrs["sample_rate"])
        self.samples = window_samples(attrs, window_seconds)
        self.strip = np.unique(window_frames(attrs, window_seconds, STRIP_FRAMES))
        self.middle = int(window_frames(attrs, window_seconds, 1)[0])
        self.media: dict[str, tuple[str, str]] = {}
        self.keys: dict[tuple, str] = {}

    def _key(self, what: tuple, make) -> str:
        if what not in self.keys:
            key = f"m{len(self.keys)}"
            frames, audio = make()
            self.media[key] = (data_uri("image/jpeg", jpeg_strip(frames)),
                               data_uri("audio/ogg", opus_ogg(audio, self.rate)))
            self.keys[what] = key
        return self.keys[what]

    def segment(self, row: int) -> str:
        f = self.store
        return self._key(("segment", row), lambda: (f["frames"][row, self.strip],
                                                    f["audio"][row, self.samples]))

    def video(self, video_id: str) -> str:
        rows = self.rows_of_video[video_id]
        f = self.store
        return self._key(("video", video_id), lambda: (
            np.stack([f["frames"][r, self.middle] for r in rows]),
            f["audio"][rows[len(rows) // 2], self.samples]))


@dataclass
class Item:
    """One video or segment on the page."""
    media: str                       # key of its image and audio in Page.media
    title: str                       # e.g. the video id, or "video_id #3 @ 12.4 s"
    genre: str
    tags: list[str]
    similarity: float | None = None  # cosine similarity to the seed (None for the seed)


@dataclass
class Section:
    """One representation: rows of [seed, neighbour, ...] for videos and for segments."""
    name: str
    videos: list[list[Item]] = field(default_factory=list)
    segments: list[list[Item]] = field(default_factory=list)


@dataclass
class Page:
    title: str
    notes: list[str]                         # lines under the title (settings, caveats)
    summary: dict                            # representation -> level -> agreement dict
    sections: list[Section]
    media: dict[str, tuple[str, str]] = field(default_factory=dict)  # key -> (jpeg, audio) URIs


CSS = """
body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}
table.summary{border-collapse:collapse;margin:1em 0}
table.summary td,table.summary th{border:1px solid #bbb;padding:.3em .6em;text-align:right}
table.summary th:first-child,table.summary td:first-child{text-align:left}
.tabs>input{display:none}
.tabs>label{display:inline-block;padding:.4em 1em;border:1px solid #bbb;border-bottom:none;
 cursor:pointer;background:#eee;margin-right:.2em}
.panel{display:none;border-top:1px solid #bbb;padding-top:.5em}
.row{display:flex;flex-wrap:wrap;gap:.6em;margin:.6em 0;padding:.4em;border-bottom:1px solid #eee}
.item{flex:0 0 auto;width:min-content;font-size:.8em}
.item.seed{background:#f3f6ff;padding:.3em}
.item img{display:block}
.item audio{width:100%;min-width:200px;height:2em}
.sim{font-weight:bold}
.muted{color:#777}
"""

SCRIPT = """
const MEDIA = JSON.parse(document.getElementById('media').textContent);
for (const el of document.querySelectorAll('[data-media]')) {
  el.src = MEDIA[el.dataset.media][el.tagName === 'IMG' ? 0 : 1];
}
"""


def _fmt(x, digits=3) -> str:
    return "–" if x is None else f"{x:.{digits}f}"


def _summary_table(summary: dict) -> str:
    head = ("<tr><th>representation</th><th>level</th><th>same genre</th><th>chance</th>"
            "<th>tag Jaccard</th><th>chance</th><th>seeds (genre / tags)</th></tr>")
    rows = []
    for rep, levels in summary.items():
        for level, s in levels.items():
            rows.append(
                f"<tr><td>{html.escape(rep)}</td><td>{html.escape(level)}</td>"
                f"<td>{_fmt(s['genre_share'])}</td><td>{_fmt(s['genre_chance'])}</td>"
                f"<td>{_fmt(s['tag_jaccard'])}</td><td>{_fmt(s['tag_jaccard_chance'])}</td>"
                f"<td>{s['genre_seeds']} / {s['tag_seeds']}</td></tr>")
    return f"<table class='summary'>{head}{''.join(rows)}</table>"


def _item(item: Item, seed: bool) -> str:
    sim = "seed" if item.similarity is None else f"cos {item.similarity:.3f}"
    tags = ", ".join(item.tags) or "no tags"
    key = html.escape(item.media, quote=True)
    alt = html.escape(f"frames of {item.title}", quote=True)
    return (f"<div class='item{' seed' if seed else ''}'>"
            f"<img data-media='{key}' alt='{alt}'>"
            f"<audio controls preload='none' data-media='{key}'></audio>"
            f"<div><span class='sim'>{html.escape(sim)}</span> {html.escape(item.title)}</div>"
            f"<div>{html.escape(item.genre or 'no genre')} · <span class='muted'>"
            f"{html.escape(tags)}</span></div></div>")


def _rows(rows: list[list[Item]]) -> str:
    if not rows:
        return "<p class='muted'>none</p>"
    return "".join("<div class='row'>" + "".join(_item(it, i == 0) for i, it in enumerate(r))
                   + "</div>" for r in rows)


def render(page: Page) -> str:
    """The whole HTML document."""
    names = [s.name for s in page.sections]
    ids = {n: f"r{i}" for i, n in enumerate(names)}
    tab_css = "".join(f"#tab-{ids[n]}:checked~#panel-{ids[n]}{{display:block}}"
                      f"#tab-{ids[n]}:checked+label{{background:#fff;font-weight:bold}}"
                      for n in names)
    tabs = []
    for i, n in enumerate(names):
        tabs.append(f"<input type='radio' name='tab' id='tab-{ids[n]}'{' checked' if i == 0 else ''}>"
                    f"<label for='tab-{ids[n]}'>{html.escape(n)}</label>")
    panels = [f"<div class='panel' id='panel-{ids[s.name]}'>"
              f"<h2>{html.escape(s.name)}: videos and their nearest videos</h2>{_rows(s.videos)}"
              f"<h2>{html.escape(s.name)}: segments and their nearest segments</h2>{_rows(s.segments)}"
              "</div>" for s in page.sections]
    missing = {it.media for s in page.sections for r in s.videos + s.segments for it in r} - set(page.media)
    if missing:
        raise KeyError(f"items without media: {sorted(missing)[:5]}")
    media = json.dumps(page.media, separators=(",", ":")).replace("</", "<\\/")
    notes = "".join(f"<p>{html.escape(n)}</p>" for n in page.notes)
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(page.title)}</title><style>{CSS}{tab_css}</style></head><body>"
        f"<h1>{html.escape(page.title)}</h1>{notes}"
        "<noscript><p><b>Images and audio need JavaScript enabled.</b></p></noscript>"
        f"<h2>Summary</h2>{_summary_table(page.summary)}"
        f"<div class='tabs'>{''.join(tabs)}{''.join(panels)}</div>"
        f"<script type='application/json' id='media'>{media}</script>"
        f"<script>{SCRIPT}</script></body></html>\n")
