"""Test audio for musicnn, 3 s windows at 16 kHz: generated music, and real music windows.

Real music that is available offline: the `immich-memories-music` wheel (MIT) ships full-band
mixes (acoustic and electronic tracks, 48 kHz Opus) made with a music-generation model; no
package on PyPI ships a human recording at full band under a free licence that we could find
(pygame-ce's `house_lo` loop is 11 kHz). The loudest and the quietest non-silent 3 s window
of two tracks are used (the mixes are mastered loud: every window has mel bins that overflow
float16), and the quietest at -26 dB, a quiet recording whose log-mel stays in float16.
"""
from __future__ import annotations

import importlib.resources

import librosa
import numpy as np
import soundfile as sf

SR = 16000
TRACKS = ("energetic/energetic_electronic_2.opus", "tender/tender_acoustic_1.opus")


def music(seconds=3.0, amplitude=0.05, seed=0) -> np.ndarray:
    """Harmonic tones with vibrato, a beat and a little noise, peak `amplitude`."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    x = sum(np.sin(2 * np.pi * f * t + 3 * np.sin(2 * np.pi * 5 * t) + rng.uniform(0, 6)) / k
            for k, f in enumerate([220, 330, 440, 660, 1250, 2500], 1))
    x = x * (1 + 0.8 * (np.sin(2 * np.pi * 2 * t) > 0.7)) + 0.3 * rng.standard_normal(len(t))
    return (amplitude * x / np.abs(x).max()).astype(np.float32)


def real_music(seconds=3.0) -> np.ndarray:
    """[6, samples] float32: the loudest and the quietest non-silent window of each track, and
    the latter at -26 dB; mono at 16 kHz (librosa's resampler)."""
    root = importlib.resources.files("immich_memories_music") / "tracks"
    n, windows = int(seconds * SR), []
    for name in TRACKS:
        audio, rate = sf.read(str(root / name), dtype="float32", always_2d=True)
        audio = librosa.resample(audio.mean(axis=1), orig_sr=rate, target_sr=SR)
        starts = np.arange(0, len(audio) - n, SR // 2)
        rms = np.array([np.sqrt(np.mean(audio[s:s + n] ** 2)) for s in starts])
        heard = np.flatnonzero(rms > 1e-3)
        loud, quiet = starts[rms.argmax()], starts[heard[rms[heard].argmin()]]
        windows += [audio[loud:loud + n], audio[quiet:quiet + n], 0.05 * audio[quiet:quiet + n]]
    return np.stack(windows).astype(np.float32)


def signals() -> np.ndarray:
    """Generated music (quiet, medium, loud) and the real music windows."""
    generated = [music(amplitude=a, seed=s) for s, a in [(0, 0.05), (1, 0.3), (2, 0.9)]]
    return np.concatenate([np.stack(generated), real_music()])
