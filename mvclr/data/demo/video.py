"""The frames of a planned demo video, composited straight in Y'CbCr."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mvclr.data.demo.plan import STYLES, VIDEO_TAGS, Plan

CHUNK_SECONDS = 1.0  # frames rendered (and audio muxed) per step
# Shape profiles and painted colours are rounded to multiples of 2**-QUANT_BITS before the
# shape sum: every product and partial sum of that float64 matrix product is then an exact
# integer multiple of 2**(-2 * QUANT_BITS) below 2**53 (|colour| <= 219), so the result is the
# same whatever summation order or fused multiply-adds the BLAS kernel chosen for this CPU uses.
QUANT_BITS = 16

# RGB in [0, 1] -> BT.601 limited-range Y'CbCr, what decoders assume for untagged video
YUV = np.array([[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]]) \
    * np.array([[219.0], [224.0], [224.0]])


def _hsv(h, s, v) -> np.ndarray:
    """RGB [..., 3] in [0, 1] from hue, saturation, value (broadcast)."""
    h, s, v = np.broadcast_arrays(np.asarray(h, float) % 1.0, s, v)
    i = np.floor(h * 6).astype(int) % 6
    f = h * 6 - np.floor(h * 6)
    p, q, t = v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f))
    return np.stack([np.choose(i, [v, q, p, p, t, v]), np.choose(i, [t, v, v, q, p, p]),
                     np.choose(i, [p, p, t, v, v, q])], axis=-1)


@dataclass
class _Layers:
    """Everything drawn, per frame: shapes (centre, radii in px, opacity) and the background."""
    cx: np.ndarray          # [frames, shapes]
    cy: np.ndarray
    rx: np.ndarray
    ry: np.ndarray
    alpha: np.ndarray
    blobs: int              # shapes [:blobs] are round blobs, the rest soft boxes
    colour: np.ndarray      # [shapes, 3]
    top: np.ndarray         # [frames, 3] background gradient, already scaled by brightness
    bottom: np.ndarray
    flash: np.ndarray       # [frames] white added on beats
    noise: np.ndarray       # [frames] index into the noise bank (one texture per section)
    noise_level: float
    bank: np.ndarray        # [k, H, W] float32


def _layers(plan: Plan, width: int, height: int) -> _Layers:
    """Where every shape is in every frame, and the background: all per-frame motion is
    computed here at once, so rendering is only compositing."""
    rng = plan.rng(2)
    st = STYLES[plan.style]
    tags = set(plan.tags) & VIDEO_TAGS
    dance, mellow = "dance" in tags, "mellow" in tags
    t = np.arange(plan.frames) / plan.fps
    sec = plan.section_at(t)
    level = np.asarray(plan.intensity)[sec]
    pulse = np.exp(-((t - plan.offset) % plan.beat) / 0.09) * np.asarray(plan.drums_on)[sec]
    bounce = np.abs(np.sin(np.pi * (t - plan.offset) / plan.beat))
    speed = st.speed * plan.bpm / 120 * (0.25 + level) * (1.6 if dance else 0.5 if mellow else 1.0)
    phi = np.cumsum(speed)[:, None] / plan.fps             # motion phase, cycles

    # the genre's shapes: more, larger and faster with intensity, pulsing on beats
    n = st.objects[1]
    u, v = rng.uniform(0.15, 0.85, n), rng.uniform(0.2, 0.8, n)
    ax, ay = rng.uniform(0.08, 0.3, (2, n)) * (1.5 if dance else 1.0)
    omega = rng.uniform(0.6, 1.4, n) * rng.choice([-1, 1], n)
    ang = 2 * np.pi * phi * omega + rng.uniform(0, 2 * np.pi, n)
    lv = level[:, None]
    if st.motion == "orbit":
        x, y = u + ax * np.sin(ang), v + ay * np.cos(ang)
    elif st.motion == "bounce":
        x, y = u + ax * np.sin(0.3 * ang), v + 0.1 - ay * bounce[:, None] * (0.4 + 0.6 * lv)
    elif st.motion == "shake":
        jitter = 0.03 * (0.3 + lv) * rng.standard_normal((2, len(t), n))
        x, y = u + 0.3 * ax * np.sin(ang) + jitter[0], v + 0.3 * ay * np.cos(ang) + jitter[1]
    elif st.motion == "drift":
        x, y = (u + 0.15 * phi * omega) % 1.2 - 0.1, v + 0.3 * ay * np.sin(ang)
    else:  # sweep
        x, y = (u + 0.25 * phi * omega) % 1.2 - 0.1, np.full((len(t), n), 0.5)
    if dance and st.motion != "bounce":
        y = y - 0.08 * bounce[:, None]
    r = st.size * height * rng.uniform(0.6, 1.4, n) * (0.7 + 0.5 * lv) * (1 + 0.3 * pulse[:, None])
    aspect = rng.uniform(0.6, 1.6, n) if st.shape == "box" else np.ones(n)
    rx, ry = (0.4 * r, np.full_like(r, 1e6)) if st.shape == "bar" else (r * aspect, r)
    count = np.rint(st.objects[0] + level * (st.objects[1] - st.objects[0]))
    shapes = {
        "cx": x * width, "cy": y * height, "rx": rx, "ry": ry,
        "alpha": 0.9 * (np.arange(n) < count[:, None]),
        "box": np.full(n, st.shape != "blob"),
        "colour": _hsv(plan.hue + rng.normal(0, 0.05, n), st.saturation * (0.6 if mellow else 1.0),
                       rng.uniform(0.75, 1.0, n)),
    }

    # nuisance: shapes of random colour drifting across, on and off at random
    m = 3
    period, phase, duty = rng.uniform(3, 9, m), rng.random(m), rng.uniform(0.3, 0.7, m)
    size = rng.uniform(0.05, 0.15, m) * height
    layers = [shapes, {
        "cx": ((rng.random(m) + rng.uniform(-0.15, 0.15, m) * t[:, None]) % 1.3 - 0.15) * width,
        "cy": ((rng.random(m) + rng.uniform(-0.15, 0.15, m) * t[:, None]) % 1.3 - 0.15) * height,
        "rx": np.broadcast_to(size * rng.uniform(0.6, 1.6, m), (len(t), m)),
        "ry": np.broadcast_to(size, (len(t), m)),
        "alpha": 0.6 * ((t[:, None] / period + phase) % 1 < duty),
        "box": rng.random(m) < 0.5,
        "colour": _hsv(rng.random(m), rng.uniform(0.1, 0.6, m), rng.uniform(0.4, 1.0, m)),
    }]

    # live performance: a crowd of dark heads and shoulders bobbing at the bottom
    if "live performance" in tags:
        k = 12
        hx = (np.arange(k) + 0.5 + rng.uniform(-0.2, 0.2, k)) / k * width
        bob = np.abs(np.sin(np.pi * (t[:, None] - plan.offset) / plan.beat + rng.uniform(0, 0.6, k)))
        hy = (0.86 - 0.05 * (0.3 + 0.7 * lv) * bob) * height
        layers.append({
            "cx": np.concatenate([np.broadcast_to(hx, hy.shape)] * 2, axis=1),
            "cy": np.concatenate([hy, hy + 0.15 * height], axis=1),
            "rx": np.concatenate([np.full(hy.shape, 0.08 * height), np.full(hy.shape, 0.4 * width / k)], axis=1),
            "ry": np.concatenate([np.full(hy.shape, 0.09 * height), np.full(hy.shape, 0.09 * height)], axis=1),
            "alpha": np.ones((len(t), 2 * k)),
            "box": np.zeros(2 * k, bool),
            "colour": np.full((2 * k, 3), 0.03),
        })

    # background: a gradient per section (scene), brighter with intensity
    nsec = len(plan.intensity)
    shift = rng.normal(0, 0.06, nsec)[sec]
    sat = st.saturation * (0.6 if mellow else 1.0)
    exposure = np.clip(level + rng.normal(0, 0.15, nsec)[sec], 0, 1)   # nuisance, per section
    bright = ((0.1 + 0.5 * exposure) * (0.7 if mellow else 1.0))[:, None]
    top, bottom = _hsv(plan.hue + shift, 0.6 * sat, 1.0) * bright, _hsv(plan.hue + shift + 0.1, sat, 1.0) * bright
    flip = (rng.random(nsec) < 0.5)[sec][:, None]
    top, bottom = np.where(flip, bottom, top), np.where(flip, top, bottom)
    bank = rng.standard_normal((6, height, width)).astype(np.float32)
    box = np.concatenate([layer["box"] for layer in layers])
    order = np.argsort(box, kind="stable")                      # blobs first
    per_shape = {key: np.concatenate([np.asarray(layer[key], np.float32) for layer in layers], axis=1)[:, order]
                 for key in ("cx", "cy", "rx", "ry", "alpha")}
    return _Layers(
        **per_shape, blobs=int((~box).sum()),
        colour=np.concatenate([layer["colour"] for layer in layers])[order],
        top=top, bottom=bottom, flash=st.flash * (0.4 if mellow else 1.0) * level * pulse,
        noise=rng.integers(len(bank), size=nsec)[sec], noise_level=rng.uniform(0.005, 0.018), bank=bank)


def _profile(d: np.ndarray, blobs: int) -> np.ndarray:
    """Shape profiles at normalised distances d [..., shapes]: Gaussian bumps for the first
    `blobs` shapes, soft boxes for the rest."""
    out = np.empty_like(d)
    np.exp(-2.5 * np.square(d[..., :blobs]), out=out[..., :blobs])
    np.clip((1 - np.abs(d[..., blobs:])) * 6, 0, 1, out=out[..., blobs:])
    return out


def _composite(lay: _Layers, s: slice, xs: np.ndarray, ys: np.ndarray, colour: np.ndarray,
               top: np.ndarray, bottom: np.ndarray) -> np.ndarray:
    """Frames s of the planes whose shape colours [shapes, c] and background gradient ends
    [frames, c] are given, sampled at pixel centres xs, ys: float32 [f, c, len(ys), len(xs)].

    Every shape is separable (profile_x * profile_y), so one batched matrix product
    composites all of them: paint[f] = (profile_y * colour) @ profile_x, exact (QUANT_BITS).
    """
    weights = np.concatenate([colour, np.ones((len(colour), 1))], axis=1).T.astype(np.float32)
    gx = _profile((xs[None, :, None] - lay.cx[s, None, :]) / lay.rx[s, None, :], lay.blobs)  # [f, w, shapes]
    gy = _profile((ys[None, :, None] - lay.cy[s, None, :]) / lay.ry[s, None, :], lay.blobs)  # [f, h, shapes]
    gy *= lay.alpha[s, None, :]
    scale = np.float32(2 ** QUANT_BITS)
    a = np.rint(gy[:, None] * weights[None, :, None, :] * scale).astype(np.float64)
    b = np.rint(gx * scale).astype(np.float64)
    paint = ((a @ b[:, None].swapaxes(-1, -2)) * 2.0 ** (-2 * QUANT_BITS)).astype(np.float32)  # [f, c + 1, h, w]
    ramp = np.linspace(0, 1, len(ys), dtype=np.float32)[None, None, :, None]
    bg = top[s, :, None, None] * (1 - ramp) + bottom[s, :, None, None] * ramp
    c = colour.shape[1]
    return bg * (1 - np.minimum(paint[:, c:], 1)) + paint[:, :c]


def render_frames(plan: Plan, width: int, height: int, chunk: int | None = None):
    """Yield the frames as yuv420p planes, uint8 [f, height * 3 // 2, width] (Y, then U and V
    at half resolution: what `av.VideoFrame.from_ndarray(a, format="yuv420p")` takes),
    `chunk` frames at a time. Composited straight in Y'CbCr (the transform is linear): luma
    at full resolution, chroma at half."""
    lay = _layers(plan, width, height)
    chunk = chunk or max(1, int(round(CHUNK_SECONDS * plan.fps)))
    # elementwise, not through BLAS: the same sums in the same order on every CPU
    colour, top, bottom = ((x[..., None, :] * YUV).sum(-1).astype(np.float32)
                           for x in (lay.colour, lay.top, lay.bottom))
    full_x, full_y = np.arange(width, dtype=np.float32) + 0.5, np.arange(height, dtype=np.float32) + 0.5
    half_x, half_y = np.arange(0, width, 2, dtype=np.float32) + 1, np.arange(0, height, 2, dtype=np.float32) + 1
    hw = height * width
    for a in range(0, plan.frames, chunk):
        s = slice(a, min(a + chunk, plan.frames))
        out = np.full((s.stop - a, hw * 3 // 2), 128, np.uint8)
        y = _composite(lay, s, full_x, full_y, colour[:, :1], top[:, :1], bottom[:, :1])[:, 0]
        y += (16 + 219 * lay.flash[s, None, None]).astype(np.float32)  # beat flashes: white
        y += np.float32(219 * lay.noise_level) * lay.bank[lay.noise[s]]  # pixel noise, in luma
        out[:, :hw] = np.rint(np.clip(y, 16, 235, out=y)).reshape(len(y), -1)
        if "black and white" not in plan.tags:
            uv = _composite(lay, s, half_x, half_y, colour[:, 1:], top[:, 1:], bottom[:, 1:])
            out[:, hw:] = np.clip(uv + 128, 16, 240).round().reshape(len(uv), -1)
        yield out.reshape(-1, height * 3 // 2, width)
