"""The soundtrack of a planned demo video: drums, bass, pad, a lead and optional vocals."""
from __future__ import annotations

import numpy as np

from mvclr.data.demo.plan import AUDIO_TAGS, STYLES, Plan

TABLE = 2048        # wavetable length
MAJOR, MINOR = (0, 2, 4, 5, 7, 9, 11), (0, 2, 3, 5, 7, 8, 10)
PROGRESSIONS = ((0, 3, 4, 0), (0, 5, 3, 4), (0, 4, 5, 3), (5, 3, 0, 4), (0, 3, 5, 4))
VOWELS = ((850, 1220, 2810), (600, 2300, 2900), (350, 2700, 3300), (560, 920, 2830), (370, 950, 2670))


def _tables(weights) -> np.ndarray:
    """Peak-normalised single-cycle wavetables [n, TABLE] from harmonic amplitudes [n, h]
    (summed harmonic by harmonic, not through BLAS: the same sums on every CPU)."""
    weights = np.atleast_2d(np.asarray(weights, dtype=float))
    tab = np.zeros((len(weights), TABLE))
    for k in range(weights.shape[1]):
        tab += weights[:, k, None] * np.sin(2 * np.pi * ((k + 1) * (np.arange(TABLE) / TABLE)))
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
