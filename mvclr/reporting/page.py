"""The neighbour report as one self-contained HTML page: frame strips and audio previews
(mvclr.reporting.previews), captions and the summary table, all embedded so the file opens
offline.

Each medium is embedded once, as a data URI in a JSON map at the end of the page, and a short
script puts it into every <img>/<audio> that names it (data-media), so an item shown in several
tabs costs its bytes once. Tabs are plain CSS (radio buttons).
"""
from __future__ import annotations

import html
import json
from dataclasses import dataclass, field


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
