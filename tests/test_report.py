"""The `neighbours` stage on a tiny workspace, and its page rendered in headless Chromium
(Debian's `chromium` package; `make test` installs it)."""
import html
import io
import json
import re
import shutil
import subprocess

import av
import numpy as np
import pytest
from fixtures_neighbours import synthetic_workspace
from PIL import Image

from mvclr.reporting import page as report_page
from mvclr.reporting import previews
from stages import neighbours as report

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
REPRESENTATIONS = ["cl_agg", "cl_video", "musicnn", "r2plus1d"]

# Appended to the page under test: records, for every <img> and <audio>, whether it loaded
# (image decoded with a size; audio metadata read with a duration) or failed, into the
# body's data-media-check attribute once all have settled.
CHECK = """<script>
const results = [];
const elements = [...document.querySelectorAll('img, audio')];
let pending = elements.length;
function settle(el, ok, detail) {
  results.push({tag: el.tagName, ok: ok, detail: detail, key: el.dataset.media || null});
  if (--pending === 0) document.body.dataset.mediaCheck = JSON.stringify(results);
}
for (const el of elements) {
  if (el.tagName === 'IMG') {
    if (el.complete) settle(el, el.naturalWidth > 0, 'complete ' + el.naturalWidth);
    else {
      el.addEventListener('load', () => settle(el, el.naturalWidth > 0, 'load ' + el.naturalWidth));
      el.addEventListener('error', () => settle(el, false, 'error'));
    }
  } else {
    el.addEventListener('loadedmetadata', () => settle(el, el.duration > 0, 'duration ' + el.duration));
    el.addEventListener('error', () => settle(el, false, 'error ' + (el.error && el.error.code)));
    el.preload = 'auto';
    el.load();
  }
}
if (pending === 0) document.body.dataset.mediaCheck = '[]';
</script>"""


def render_in_chromium(page, tmp_path) -> list[dict]:
    """Load `page` (a file) with the checker appended; the media check's records."""
    checked = tmp_path / "checked.html"
    checked.write_text(page.read_text(encoding="utf-8").replace("</body>", CHECK + "</body>"),
                       encoding="utf-8")
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run", "--mute-audio",
           f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=20000", "--dump-dom",
           checked.as_uri()]
    dom = subprocess.run(cmd, capture_output=True, text=True, timeout=120).stdout
    found = re.search(r'data-media-check="([^"]*)"', dom)
    assert found, f"the media check never settled; chromium printed:\n{dom[-2000:]}"
    return json.loads(html.unescape(found.group(1)))


@pytest.fixture(scope="module")
def stage_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("ws")
    params = synthetic_workspace(root)
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        report.main()
    return root, params


def test_metrics_cover_every_representation_and_level(stage_run):
    root, _ = stage_run
    metrics = json.loads((root / "reports/neighbours.json").read_text())
    assert list(metrics) == REPRESENTATIONS
    for rep in metrics.values():
        assert set(rep) == {"videos", "segments"}
        # 4 test videos (all seeds at video level), 8 test segments
        assert rep["videos"]["genre_seeds"] == 4 and rep["segments"]["genre_seeds"] == 8
        for level in rep.values():
            for key in ("genre_share", "genre_chance", "tag_jaccard", "tag_jaccard_chance"):
                assert 0.0 <= level[key] <= 1.0
    # test genres: jazz, pop, rock, jazz (v06..v09) -> a video shares its genre with
    # 1/3 of the others for the two jazz videos, 0 for the others
    assert metrics["musicnn"]["videos"]["genre_chance"] == pytest.approx((1 / 3 + 0 + 0 + 1 / 3) / 4)


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is needed (make browser)")
def test_page_renders_offline_with_every_image_and_audio_loaded(stage_run, tmp_path):
    root, params = stage_run
    page = root / "reports/neighbours.html"
    text = page.read_text(encoding="utf-8")
    assert not re.search(r"(src|href)=['\"]?(https?:)?//", text)      # nothing fetched from outside
    results = render_in_chromium(page, tmp_path)
    ev = params["eval"]
    per_tab = (ev["seed_videos"] + ev["seed_segments"]) * (1 + ev["neighbours"])
    assert len([r for r in results if r["tag"] == "IMG"]) == 4 * per_tab
    assert len([r for r in results if r["tag"] == "AUDIO"]) == 4 * per_tab
    failed = [r for r in results if not r["ok"]]
    assert not failed, failed
    durations = [float(r["detail"].split()[1]) for r in results if r["tag"] == "AUDIO"]
    assert np.allclose(durations, params["decode"]["window_seconds"], atol=0.05)


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is needed (make browser)")
def test_the_check_catches_broken_media(tmp_path):
    """The media check itself: a corrupt image and a corrupt audio are reported as failures."""
    page = report_page.Page("t", [], {}, [report_page.Section("r", videos=[[
        report_page.Item("bad", "x", "rock", [])]])],
        media={"bad": ("data:image/jpeg;base64,AAAA", "data:audio/ogg;base64,AAAA")})
    path = tmp_path / "bad.html"
    path.write_text(report_page.render(page), encoding="utf-8")
    results = render_in_chromium(path, tmp_path)
    assert [r["ok"] for r in results] == [False, False]


def test_same_params_give_the_same_page(stage_run, tmp_path, monkeypatch):
    root, _ = stage_run
    first = (root / "reports/neighbours.html").read_bytes()
    monkeypatch.chdir(root)
    report.main()
    assert (root / "reports/neighbours.html").read_bytes() == first


def test_media_encoders():
    frames = np.zeros((3, 24, 32, 3), np.uint8)
    frames[1, ..., 0] = 255
    strip = Image.open(io.BytesIO(previews.jpeg_strip(frames, height=36)))
    assert strip.size == (3 * 48, 36) and strip.format == "JPEG"
    assert np.asarray(strip)[:, 48:96, 0].mean() > 200 and np.asarray(strip)[:, :48, 0].mean() < 50
    grid = np.asarray(Image.open(io.BytesIO(previews.jpeg_strip(frames, height=36, columns=2))))
    assert grid.shape == (72, 96, 3)                  # frames 0, 1 / 2 and a black tile
    assert grid[:36, 48:, 0].mean() > 200 and grid[36:, :, 0].mean() < 50
    for rate in (16000, 22050):                      # 22050 Hz is not an Opus rate: resampled
        tone = 0.3 * np.sin(2 * np.pi * 440 * np.arange(rate * 2) / rate)
        with av.open(io.BytesIO(previews.opus_ogg(tone, rate))) as c:
            assert c.streams.audio[0].codec_context.name == "opus"
            decoded = np.concatenate([f.to_ndarray().ravel() for f in c.decode(audio=0)])
            rate_out = c.streams.audio[0].rate
        assert abs(len(decoded) / rate_out - 2.0) < 0.05
        spectrum = np.abs(np.fft.rfft(decoded))
        assert abs(np.argmax(spectrum) * rate_out / len(decoded) - 440) < 5


def test_page_escapes_labels():
    item = report_page.Item("m0", "<script>alert(1)</script>", "r&b", ["a<b"], 0.5)
    page = report_page.Page("t", ["1 < 2"], {}, [report_page.Section("cl<agg", videos=[[item]])],
                            media={"m0": ("data:image/jpeg;base64,", "data:audio/ogg;base64,")})
    text = report_page.render(page)
    assert "<script>alert" not in text and "&lt;script&gt;" in text and "r&amp;b" in text
    with pytest.raises(KeyError, match="without media"):
        report_page.render(report_page.Page("t", [], {}, page.sections, media={}))
