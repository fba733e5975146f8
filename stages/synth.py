"""Synthetic music videos whose audio and video share latent factors (the demo data set).

Every video is planned first (`plan_videos`): a genre *style*, a tempo, and a sequence of
sections (2-4 bars each) with an *intensity* in [0.1, 1] and a drums on/off flag. Both
modalities are rendered from that plan with their own random generators:

- genre -> audio: tempo range, metre, swing, drum pattern, lead timbre (additive
  harmonics), bass, pad, key; -> video: palette hue, shape (blob | box | bar), motion
  (orbit | bounce | shake | drift | sweep), object count and size.
- section intensity -> louder, denser audio (more notes, busier hi-hats, louder pad) <->
  brighter background, more, larger and faster objects. Section starts: crash cymbal <->
  scene change (background hue).
- beats -> drum hits <-> flashes and pulsing shapes (only while the drums play).
- nuisance, independent across modalities: key, melody, noise floor and blips (audio);
  object layout, drifting shapes of random colour, per-section hue, pixel noise (video).

Tags (multi-label, `TAGS`) are attributes: `female vocals` and `acoustic` change only the
audio, `black and white` and `live performance` (a bobbing crowd) only the video,
`dance` (fast tempo, four-on-the-floor, strong beat-locked motion) and `mellow` (slow,
soft, dark, slow motion) both. A few videos have no genre label or no tags.

Same parameters, same files: each video draws from generators seeded with (seed, index),
so video i does not depend on how many videos are generated or on the worker count, and
the encoders run single-threaded.
"""
from __future__ import annotations

import csv
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from fractions import Fraction
from multiprocessing import get_context
from pathlib import Path

import av
import numpy as np
from threadpoolctl import threadpool_limits
from tqdm import tqdm

TAGS = ("female vocals", "acoustic", "black and white", "live performance", "dance", "mellow")
AUDIO_TAGS = frozenset({"female vocals", "acoustic", "dance", "mellow"})   # change the audio
VIDEO_TAGS = frozenset({"black and white", "live performance", "dance", "mellow"})  # change the video
UNLABELLED = 0.05   # probability that a video's genre label is left empty

# container -> (video codec, audio codec)
CONTAINERS = {
    "mp4": ("libx264", "aac"),
    "webm": ("libvpx-vp9", "libopus"),
    "mkv": ("libx264", "libmp3lame"),
}
VIDEO_OPTIONS = {
    "libx264": {"crf": "26", "preset": "superfast"},
    "libvpx-vp9": {"deadline": "realtime", "cpu-used": "8", "crf": "32", "b": "0"},
}
AUDIO_OPTIONS = {"aac": {"aac_coder": "fast"}}

TABLE = 2048        # wavetable length
CHUNK_SECONDS = 1.0  # frames rendered (and audio muxed) per step


@dataclass(frozen=True)
class Style:
    """What a genre means on both sides."""
    tempo: tuple[float, float]      # BPM range
    steps: int                      # 16th steps per bar (12 = 3/4 time)
    swing: float                    # delay of odd 16ths, in steps
    kick: tuple[int, ...]           # steps of the bar with a kick
    snare: tuple[int, ...]
    hats: int                       # hi-hat every `hats` steps at full intensity (0 = none)
    drums: float                    # drum level
    lead: tuple[float, ...]         # harmonic amplitudes of the lead
    lead_steps: int                 # lead note length in steps
    attack: float                   # lead attack, s
    drive: float                    # lead and pad distortion (tanh drive; 0 = clean)
    bass: tuple[float, ...]         # harmonic amplitudes of the bass
    bass_level: float
    pad: float                      # sustained chord level
    minor: float                    # probability of a minor key
    shape: str                      # blob | box | bar
    motion: str                     # orbit | bounce | shake | drift | sweep
    saturation: float
    objects: tuple[int, int]        # objects on screen at intensity 0 and 1
    size: float                     # object radius, fraction of the frame height
    speed: float                    # motion cycles per second at 120 BPM, intensity 0.75
    flash: float                    # beat flash strength
    tag_prior: dict                 # tag -> probability


def _prior(vocals, acoustic, bw, live, dance, mellow) -> dict:
    return dict(zip(TAGS, (vocals, acoustic, bw, live, dance, mellow)))


STYLES = {
    "rock": Style((100, 140), 16, 0.0, (0, 6, 8), (4, 12), 2, 1.0,
                  (1, .8, .7, .6, .5, .45, .4, .35, .3, .25), 2, .005, 3.0, (1, .5, .33, .25), .6, .15, .6,
                  "box", "shake", .85, (2, 7), .20, .5, .35, _prior(.3, .3, .2, .5, .15, .1)),
    "pop": Style((95, 125), 16, 0.0, (0, 8), (4, 12), 2, .8,
                 (1, .5, .25, .35, .1, .1), 2, .005, 0.0, (1, .3), .5, .35, .3,
                 "blob", "bounce", .9, (3, 9), .18, .6, .3, _prior(.65, .2, .15, .25, .45, .15)),
    "electronic": Style((120, 150), 16, 0.0, (0, 4, 8, 12), (4, 12), 1, .9,
                        (1, 0, .33, 0, .2, 0, .14, 0, .11), 1, .002, .5, (1, 0, .3), .7, .3, .6,
                        "bar", "sweep", 1.0, (2, 8), .12, 1.0, .5, _prior(.35, .03, .15, .15, .7, .1)),
    "jazz": Style((85, 130), 16, .33, (0, 10), (4, 12), 2, .45,
                  (1, .25, .08, .03), 3, .01, 0.0, (1, .15), .55, .3, .4,
                  "blob", "drift", .45, (2, 6), .25, .25, .12, _prior(.35, .7, .3, .45, .08, .45)),
    "hiphop": Style((80, 100), 16, .15, (0, 7, 10), (4, 12), 2, 1.0,
                    (1, .1, .05), 4, .005, 0.0, (1, .05), .9, .25, .6,
                    "box", "bounce", .7, (1, 5), .28, .5, .3, _prior(.3, .08, .25, .3, .4, .15)),
    "classical": Style((60, 90), 12, 0.0, (0,), (), 0, .12,
                       (1, .6, .45, .35, .3, .25, .2, .15), 4, .08, 0.0, (1, .4, .2), .3, .6, .45,
                       "blob", "orbit", .35, (2, 6), .22, .2, .08, _prior(.12, .9, .35, .35, .02, .55)),
}

MAJOR, MINOR = (0, 2, 4, 5, 7, 9, 11), (0, 2, 3, 5, 7, 8, 10)
PROGRESSIONS = ((0, 3, 4, 0), (0, 5, 3, 4), (0, 4, 5, 3), (5, 3, 0, 4), (0, 3, 5, 4))
VOWELS = ((850, 1220, 2810), (600, 2300, 2900), (350, 2700, 3300), (560, 920, 2830), (370, 950, 2670))


def style_of(genre_index: int, genres: list[str]) -> str:
    """The style behind genre `genres[genre_index]`: its own if it has one, else by position."""
    name = genres[genre_index]
    return name if name in STYLES else list(STYLES)[genre_index % len(STYLES)]


@dataclass(frozen=True)
class Plan:
    """The latent factors one video's audio and video share."""
    seed: int
    index: int
    video_id: str
    genre: str                      # label written to metadata.csv ('' = unlabelled)
    style: str                      # key of STYLES
    hue: float                      # palette hue of the genre, jittered
    tags: tuple[str, ...]
    frames: int
    fps: float
    bpm: float
    offset: float                   # time of the first downbeat, s
    section_bars: tuple[int, ...]   # first bar of each section
    intensity: tuple[float, ...]    # per section, in [0.1, 1]
    drums_on: tuple[bool, ...]      # per section

    @property
    def seconds(self) -> float:
        return self.frames / self.fps

    @property
    def beat(self) -> float:
        return 60.0 / self.bpm

    @property
    def bar(self) -> float:
        return self.beat / 4 * STYLES[self.style].steps

    def section_starts(self) -> np.ndarray:
        starts = self.offset + np.asarray(self.section_bars) * self.bar
        starts[0] = 0.0
        return starts

    def section_at(self, t) -> np.ndarray:
        """Section index at times t (s)."""
        return np.searchsorted(self.section_starts(), np.asarray(t, dtype=float), side="right") - 1

    def intensity_at(self, t) -> np.ndarray:
        return np.asarray(self.intensity)[self.section_at(t)]

    def rng(self, part: int) -> np.random.Generator:
        """Generator 0 plans, 1 renders audio, 2 renders video."""
        return np.random.default_rng([self.seed, self.index, part])


def plan_video(index: int, *, seed: int, genres: list[str], min_seconds: float,
               max_seconds: float, fps: float) -> Plan:
    rng = np.random.default_rng([seed, index, 0])
    g = index % len(genres)     # round robin: balanced genres
    style = STYLES[style_of(g, genres)]
    frames = int(round(rng.uniform(min_seconds, max_seconds) * fps))
    tags = [tag for tag in TAGS if rng.random() < style.tag_prior[tag]]
    if "dance" in tags and "mellow" in tags:
        tags.remove("mellow")
    lo, hi = style.tempo
    u = rng.random()
    bpm = lo + (hi - lo) * u
    if "dance" in tags:
        bpm = (hi + (hi - lo) * u / 3) * 1.08
    elif "mellow" in tags:
        bpm = (lo + (hi - lo) * u / 3) * 0.92
    beat = 60.0 / bpm
    bar = beat / 4 * style.steps
    offset = rng.uniform(0.05, 0.5) * beat
    bars, levels, drums = [0], [], []
    while offset + bars[-1] * bar < frames / fps:
        bars.append(bars[-1] + int(rng.integers(2, 5)))
    for k in range(len(bars) - 1):
        level = rng.uniform(0.1, 1.0)
        while levels and abs(level - levels[-1]) < 0.25:  # neighbouring sections differ
            level = rng.uniform(0.1, 1.0)
        levels.append(level)
        drums.append(bool(rng.random() > (0.35 if k == 0 else 0.15)))
    unlabelled = rng.random() < UNLABELLED
    return Plan(seed=seed, index=index, video_id=f"demo{index:03d}",
                genre="" if unlabelled else genres[g], style=style_of(g, genres),
                hue=(g / len(genres) + rng.normal(0, 0.02)) % 1.0, tags=tuple(tags),
                frames=frames, fps=fps, bpm=bpm, offset=offset, section_bars=tuple(bars[:-1]),
                intensity=tuple(levels), drums_on=tuple(drums))


def plan_videos(videos: int, *, seed: int, genres: list[str], min_seconds: float,
                max_seconds: float, fps: float) -> list[Plan]:
    if not genres:
        raise ValueError("demo: at least one genre is needed")
    if not 0 < min_seconds <= max_seconds:
        raise ValueError(f"demo: need 0 < min_seconds ({min_seconds}) <= max_seconds ({max_seconds})")
    return [plan_video(i, seed=seed, genres=list(genres), min_seconds=min_seconds,
                       max_seconds=max_seconds, fps=fps) for i in range(videos)]


# ---------------------------------------------------------------- audio

def _tables(weights) -> np.ndarray:
    """Peak-normalised single-cycle wavetables [n, TABLE] from harmonic amplitudes [n, h]."""
    weights = np.atleast_2d(np.asarray(weights, dtype=float))
    h = np.arange(1, weights.shape[1] + 1)
    tab = weights @ np.sin(2 * np.pi * np.outer(h, np.arange(TABLE) / TABLE))
    return tab / np.abs(tab).max(axis=1, keepdims=True)


def _midi_hz(midi) -> np.ndarray:
    return 440.0 * 2.0 ** ((np.asarray(midi, dtype=float) - 69) / 12)


def _voice(n: int, sr: int, onset, length, midi, gain, tables, table=None, *,
           attack: float, decay: float, release: float = 0.03, vibrato: float = 0.0) -> np.ndarray:
    """A monophonic voice: notes (onset s, length s, midi pitch, gain) played from wavetables
    (`table[i]` picks note i's; default the first). A note stops at the next onset."""
    out = np.zeros(n)
    start = np.round(np.asarray(onset, dtype=float) * sr).astype(np.int64)
    if len(start) == 0:
        return out
    stop = np.minimum(start + np.round(np.asarray(length) * sr).astype(np.int64), n)
    stop = np.minimum(stop, np.r_[start[1:], n])
    count = np.maximum(stop - start, 0)
    note = np.repeat(np.arange(len(start)), count)            # note of each sounding sample
    local = np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
    since = local / sr
    env = (np.asarray(gain, dtype=float)[note] * np.minimum(1.0, since / attack) * np.exp(-since / decay)
           * np.clip((count[note] / sr - since) / release, 0.0, 1.0))
    cycles = _midi_hz(midi)[note] * since
    if vibrato:   # analytic phase of f * (1 + vibrato * sin(w t))
        w, t0 = 2 * np.pi * 5.5, start[note] / sr
        cycles += _midi_hz(midi)[note] * vibrato / w * (np.cos(w * t0) - np.cos(w * (t0 + since)))
    pos = ((cycles % 1.0) * TABLE).astype(np.int64)
    which = np.zeros(len(start), np.int64) if table is None else np.asarray(table)
    out[start[note] + local] = env * tables.ravel()[which[note] * TABLE + pos]
    return out


def _hits(n: int, sr: int, times, amps, template: np.ndarray) -> np.ndarray:
    """Copies of `template` at `times` (s) scaled by `amps`, summed (vectorised overlap-add)."""
    times, amps = np.asarray(times), np.asarray(amps)
    keep = (amps > 0) & (times >= 0) & (times < n / sr)
    if not keep.any():
        return np.zeros(n)
    idx = np.round(times[keep] * sr).astype(np.int64)[:, None] + np.arange(len(template))
    w = amps[keep, None] * template[None, :]
    inside = idx < n
    return np.bincount(idx[inside], weights=w[inside], minlength=n)


def _drum_kit(rng: np.random.Generator, sr: int, acoustic: bool, ride: bool) -> dict[str, np.ndarray]:
    """One-shot samples: kick (falling sine), snare and hi-hat (noise), crash."""
    def decay(seconds, tau):
        return np.exp(-np.arange(int(seconds * sr)) / sr / tau)

    def noise(seconds):
        return rng.standard_normal(int(seconds * sr))

    t = np.arange(int(0.35 * sr)) / sr
    sweep = 45 + 110 * np.exp(-t / 0.03)   # kick: falling sine
    kick = np.sin(2 * np.pi * np.cumsum(sweep) / sr) * decay(0.35, 0.12 if not acoustic else 0.07)
    if acoustic:                             # brushes and a soft felt kick
        kick = kick * 0.6 + 0.05 * noise(0.35) * decay(0.35, 0.02)
        snare = 0.35 * noise(0.3) * decay(0.3, 0.09)
        hat = 0.15 * np.diff(noise(0.12), prepend=0) * decay(0.12, 0.04)
    else:
        tone = np.sin(2 * np.pi * 185 * t[: int(0.25 * sr)])
        snare = 0.5 * noise(0.25) * decay(0.25, 0.06) + 0.4 * tone * decay(0.25, 0.04)
        hat = 0.25 * np.diff(noise(0.08), prepend=0) * decay(0.08, 0.015)
    if ride:                                 # swing styles keep time on a ringing ride cymbal
        t = np.arange(int(0.5 * sr)) / sr
        bell = sum(np.sin(2 * np.pi * f * t) for f in rng.uniform(2500, min(7000, sr / 2.5), 4)) / 4
        hat = (0.08 * np.diff(noise(0.5), prepend=0) + 0.1 * bell) * decay(0.5, 0.2)
    crash = 0.2 * np.diff(noise(1.2), prepend=0) * decay(1.2, 0.4)
    return {"kick": kick, "snare": snare, "hat": hat, "crash": crash}


def _formant_weights(f0: np.ndarray, vowel: np.ndarray, harmonics: int = 16) -> np.ndarray:
    """Harmonic amplitudes [notes, h] of a sung vowel: 1/h source shaped by three formants."""
    fh = f0[:, None] * np.arange(1, harmonics + 1)
    formants = np.asarray(VOWELS, dtype=float)[vowel]           # [notes, 3]
    gain = np.array([1.0, 0.6, 0.3])
    bw = np.array([90.0, 130.0, 180.0])
    shape = (gain * np.exp(-0.5 * ((fh[:, :, None] - formants[:, None, :]) / bw) ** 2)).sum(-1)
    return (0.05 + shape) / np.arange(1, harmonics + 1)


def render_audio(plan: Plan, sample_rate: int, channels: int = 2) -> np.ndarray:
    """The soundtrack, float32 [channels, samples] in [-1, 1]."""
    rng = plan.rng(1)
    sr = sample_rate
    st = STYLES[plan.style]
    tags = set(plan.tags) & AUDIO_TAGS
    acoustic, mellow = "acoustic" in tags, "mellow" in tags
    n = int(round(plan.seconds * sr))
    step = plan.beat / 4
    k = np.arange(int(np.ceil((plan.seconds - plan.offset) / step)) + 1)
    times = plan.offset + (k + st.swing * (k % 2)) * step           # 16th grid
    bar, pos = k // st.steps, k % st.steps
    sec = np.searchsorted(plan.section_bars, bar, side="right") - 1
    level = np.asarray(plan.intensity)[sec]
    # nuisance: each section's mix level varies on its own, beside the shared intensity
    mix_level = rng.uniform(0.7, 1.3, len(plan.intensity))[sec]
    drums = np.asarray(plan.drums_on)[sec] * st.drums * (0.5 if mellow else 1.0) * mix_level
    vel = rng.uniform(0.8, 1.0, len(k)) * mix_level

    # key, chords (one per bar, a progression per section), audio-only nuisance
    root = int(rng.integers(45, 57))
    scale = np.asarray(MINOR if rng.random() < st.minor else MAJOR)
    prog = np.asarray(PROGRESSIONS)[rng.integers(len(PROGRESSIONS), size=len(plan.intensity))]
    chord = prog[sec, bar % 4]                                       # scale degree per step

    def pitch(degree):
        degree = np.asarray(degree)
        return root + scale[degree % 7] + 12 * (degree // 7)

    kit = _drum_kit(rng, sr, acoustic, ride=st.swing > 0.25)
    kick_steps = set(st.kick) | ({0, 4, 8, 12} if "dance" in tags and st.steps == 16 else set())
    on = lambda steps: np.isin(pos, list(steps))                      # noqa: E731
    hat_every = np.where(level > 0.7, 1, np.where(level > 0.35, 2, 4)) * max(st.hats, 1)
    first = np.r_[True, sec[1:] != sec[:-1]] & (pos == 0)
    mix = {
        "kick": _hits(n, sr, times, on(kick_steps) * drums * vel * (0.6 + 0.4 * level), kit["kick"]),
        "snare": _hits(n, sr, times, on(st.snare) * drums * vel * (0.4 + 0.6 * level), kit["snare"]),
        "hat": _hits(n, sr, times, (st.hats > 0) * (pos % hat_every == 0) * drums * vel * level, kit["hat"]),
        "crash": _hits(n, sr, times, first * drums * (0.5 + 0.5 * level), kit["crash"]),
    }

    # bass: chord roots on the beat (walking in swing styles)
    beats = pos % 4 == 0
    walk = (chord + (rng.integers(0, 3, len(k)) * 2 if st.swing else 0))[beats]
    bass_tab = _tables([(1, .5, .2, .1)] if acoustic else [st.bass])
    mix["bass"] = _voice(n, sr, times[beats], np.full(beats.sum(), plan.beat * 0.9), pitch(walk) - 12,
                         st.bass_level * (0.5 + 0.5 * level[beats]) * mix_level[beats], bass_tab,
                         attack=0.005, decay=0.25 if acoustic else 0.6)

    # pad: three chord tones held over each bar, louder with intensity
    if not acoustic or st.pad > 0.5:
        down = pos == 0
        pad_table = _tables([st.lead if st.drive else (1, .3, .1)])
        pad_gain = st.pad * 0.4 * (0.2 + 0.8 * level[down]) * mix_level[down]
        for d in (0, 2, 4):
            mix[f"pad{d}"] = _voice(n, sr, times[down], np.full(down.sum(), plan.bar), pitch(chord[down] + d) + 12,
                                    pad_gain, pad_table, attack=0.15, decay=4.0, release=0.2)
            if st.drive:                     # distorted power chords
                mix[f"pad{d}"] = np.tanh(st.drive * mix[f"pad{d}"]) / st.drive

    # lead: random walk over chord tones, denser and louder with intensity
    slots = pos % st.lead_steps == 0
    play = rng.random(len(k)) < 0.25 + 0.65 * level
    sel = slots & play
    degree = chord + rng.choice([0, 2, 4, 7, 9], size=len(k)) + 7
    weights = np.asarray(st.lead, dtype=float)
    harmonic = np.arange(1, len(weights) + 1)
    if acoustic:   # plucked: darker, short decay (below)
        weights = weights / harmonic ** 0.7
    if mellow:
        weights = weights / harmonic ** 1.5
    lead_gain = 0.35 * (0.3 + 0.7 * level[sel]) * mix_level[sel] * (0.5 if "female vocals" in tags else 1.0)
    mix["lead"] = _voice(n, sr, times[sel], np.full(sel.sum(), st.lead_steps * step * 0.95), pitch(degree[sel]),
                         lead_gain, _tables([weights]), attack=st.attack, decay=0.25 if acoustic else 0.5,
                         vibrato=0.004 if st.attack > 0.05 else 0.0)
    if st.drive:
        mix["lead"] = np.tanh(st.drive * mix["lead"]) / st.drive

    # female vocals: sung vowels (formant-shaped harmonics) on the beat, in most sections
    if "female vocals" in tags:
        sings = (rng.random(len(plan.intensity)) < 0.75)[sec] & beats & (rng.random(len(k)) < 0.8)
        f0_degree = chord[sings] + rng.choice([7, 9, 11], size=sings.sum())
        midi = pitch(f0_degree) + 12
        vowel = rng.integers(len(VOWELS), size=sings.sum())
        mix["vocals"] = _voice(n, sr, times[sings], plan.beat * rng.uniform(0.9, 1.8, sings.sum()), midi,
                               0.3 * (0.4 + 0.6 * level[sings]) * mix_level[sings],
                               _tables(_formant_weights(_midi_hz(midi), vowel)), np.arange(sings.sum()),
                               attack=0.06, decay=2.0, release=0.08, vibrato=0.012)

    # nuisance: blips at random times and a noise floor
    blips = np.sort(rng.uniform(0, plan.seconds, rng.poisson(plan.seconds / 6)))
    mix["blips"] = _voice(n, sr, blips, rng.uniform(0.08, 0.3, len(blips)), rng.uniform(70, 100, len(blips)),
                          np.full(len(blips), 0.08), _tables([(1,)]), attack=0.005, decay=0.1)
    white = rng.standard_normal(n + 64)
    smooth = (np.cumsum(white)[64:] - np.cumsum(white)[:-64]) / 8     # low-passed
    mix["noise"] = rng.uniform(0.002, 0.02) * (smooth + 0.3 * white[64:])

    pan = {"hat": 0.35, "crash": -0.3, "pad0": -0.5, "pad4": 0.5, "lead": -0.2, "blips": rng.uniform(-1, 1)}
    centre = sum(x for name, x in mix.items() if name not in pan)
    out = np.stack([centre, centre])
    for name, p in pan.items():
        if name in mix:
            angle = (p + 1) * np.pi / 4                                   # equal-power pan
            out[0] += np.sqrt(2) * np.cos(angle) * mix[name]
            out[1] += np.sqrt(2) * np.sin(angle) * mix[name]
    out = np.tanh(0.6 * out.astype(np.float32))
    return out.mean(0, keepdims=True) if channels == 1 else out


# ---------------------------------------------------------------- video

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
    composites all of them: paint[f] = (profile_y * colour) @ profile_x.
    """
    weights = np.concatenate([colour, np.ones((len(colour), 1))], axis=1).T.astype(np.float32)
    gx = _profile((xs[None, :, None] - lay.cx[s, None, :]) / lay.rx[s, None, :], lay.blobs)  # [f, w, shapes]
    gy = _profile((ys[None, :, None] - lay.cy[s, None, :]) / lay.ry[s, None, :], lay.blobs)  # [f, h, shapes]
    gy *= lay.alpha[s, None, :]
    paint = (gy[:, None] * weights[None, :, None, :]) @ gx[:, None].swapaxes(-1, -2)   # [f, c + 1, h, w]
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
    colour, top, bottom = ((x @ YUV.T).astype(np.float32) for x in (lay.colour, lay.top, lay.bottom))
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


# ---------------------------------------------------------------- files

def audio_rate(codec: str, sample_rate: int) -> int:
    """`sample_rate` if the encoder takes it, else its nearest supported rate (Opus: 48 kHz)."""
    rates = av.Codec(codec, "w").audio_rates
    return sample_rate if not rates or sample_rate in rates else min(rates, key=lambda r: abs(r - sample_rate))


def write_video(path: str | Path, plan: Plan, *, width: int, height: int, sample_rate: int,
                container: str = "mp4", audio_channels: int = 2) -> Path:
    """Encode one planned video (both streams, interleaved second by second)."""
    path = Path(path)
    vcodec, acodec = CONTAINERS[container]
    sr = audio_rate(acodec, sample_rate)
    audio = render_audio(plan, sr, audio_channels)
    layout = "mono" if audio_channels == 1 else "stereo"
    rate = Fraction(plan.fps).limit_denominator(1001)
    with av.open(str(path), "w") as out:
        vs = out.add_stream(vcodec, rate=rate)
        vs.width, vs.height, vs.pix_fmt = width, height, "yuv420p"
        vs.gop_size = int(round(2 * plan.fps))          # a keyframe every 2 s
        vs.options = dict(VIDEO_OPTIONS.get(vcodec, {}))
        vs.codec_context.thread_count = 1               # bit-exact whatever the machine
        as_ = out.add_stream(acodec, rate=sr)
        as_.layout = layout
        as_.options = dict(AUDIO_OPTIONS.get(acodec, {}))
        done = frame_index = 0        # audio samples, video frames written
        for frames in render_frames(plan, width, height):
            for img in frames:
                frame = av.VideoFrame.from_ndarray(img, format="yuv420p")
                frame.pts, frame.time_base = frame_index, 1 / rate
                out.mux(vs.encode(frame))
                frame_index += 1
            upto = audio.shape[1]
            if frame_index < plan.frames:
                upto = min(upto, round(frame_index / plan.fps * sr))
            if upto > done:
                chunk = np.ascontiguousarray(audio[:, done:upto])
                frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout=layout)
                frame.sample_rate, frame.pts, frame.time_base = sr, done, Fraction(1, sr)
                out.mux(as_.encode(frame))
                done = upto
        out.mux(vs.encode(None))
        out.mux(as_.encode(None))
    return path


def _write(job: tuple) -> None:
    path, plan, kwargs = job
    write_video(path, plan, **kwargs)


def _one_thread() -> None:
    """Worker initialiser: one BLAS thread per encoding process (no oversubscription)."""
    threadpool_limits(1)


def generate(out_dir: str | Path, *, videos: int, seed: int, min_seconds: float, max_seconds: float,
             width: int, height: int, fps: float, sample_rate: int, genres: list[str],
             container: str = "mp4", audio_channels: int = 2, workers: int = 1,
             progress: bool = True) -> Path:
    """Write `videos` synthetic music videos under out_dir/videos/ and out_dir/metadata.csv
    (video_id,path,genre,tags; path relative to out_dir; tags joined by '|'). Returns the
    metadata path. Deterministic from `seed`; `workers` processes encode in parallel."""
    if container not in CONTAINERS:
        raise ValueError(f"demo: container must be one of {', '.join(CONTAINERS)}, not {container!r}")
    if audio_channels not in (1, 2):
        raise ValueError(f"demo: audio_channels must be 1 or 2, not {audio_channels}")
    if width % 2 or height % 2:
        raise ValueError(f"demo: width and height must be even (yuv420p), not {width}x{height}")
    out_dir = Path(out_dir)
    (out_dir / "videos").mkdir(parents=True, exist_ok=True)
    plans = plan_videos(videos, seed=seed, genres=genres, min_seconds=min_seconds,
                        max_seconds=max_seconds, fps=fps)
    kwargs = dict(width=width, height=height, sample_rate=sample_rate, container=container,
                  audio_channels=audio_channels)
    rel = {p.video_id: f"videos/{p.video_id}.{container}" for p in plans}
    jobs = [(out_dir / rel[p.video_id], p, kwargs) for p in plans]
    bar = tqdm(total=len(jobs), desc="demo videos", unit="video", disable=not progress)
    if workers > 1 and len(jobs) > 1:
        with ProcessPoolExecutor(min(workers, len(jobs)), get_context("spawn"), _one_thread) as pool:
            for _ in pool.map(_write, jobs):
                bar.update()
    else:
        for job in jobs:
            _write(job)
            bar.update()
    bar.close()
    meta = out_dir / "metadata.csv"
    with open(meta, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["video_id", "path", "genre", "tags"])
        for p in plans:
            w.writerow([p.video_id, rel[p.video_id], p.genre, "|".join(p.tags)])
    return meta
