"""The log-mel patches musicnn reads, as `musicnn.extractor` computes them: librosa's power
mel spectrogram (16 kHz, 512-point FFT, hop 256, 96 bands), then log10(10000 * mel + 1) in
float16, the first `patch_frames` frames of each window. `log_mel` is the CPU reference
(librosa, numpy); `log_mel_torch` is the same computation in torch, for any device.

The one deliberate difference from the extractor: it rounds the mel to float16 and takes the
logarithm in float16, so any mel bin above ~6.55 overflows to inf and the pooled features of
loud audio come out inf/NaN or absurd (its taggram stays finite, which hides it). Here the
extractor's float16 arithmetic is kept wherever it is finite (quiet audio gives the extractor's
very inputs; a float32 logarithm everywhere would differ by float16 rounding, up to ~1.4e-3 of
the feature scale) and the bins that would overflow are computed in float32.
"""
from __future__ import annotations

import functools

import librosa
import numpy as np
import torch
from musicnn import configuration

SAMPLE_RATE, FFT_SIZE, FFT_HOP, N_MELS = (configuration.SR, configuration.FFT_SIZE,
                                          configuration.FFT_HOP, configuration.N_MELS)


def patch_frames(seconds: float) -> int:
    """Mel frames of a patch of `seconds`, as the extractor computes it (3 s: 187)."""
    return int(librosa.time_to_frames(seconds, sr=SAMPLE_RATE, n_fft=FFT_SIZE,
                                      hop_length=FFT_HOP)) + 1


def _check_frames(available: int, samples: int, frames: int, seconds: float) -> None:
    if available < frames:
        raise ValueError(f"audio windows of {samples} samples give {available} mel frames, "
                         f"a {seconds} s patch needs {frames} (at {SAMPLE_RATE} Hz)")


def log_mel(audio: np.ndarray, seconds: float = 3.0) -> np.ndarray:
    """Log-mel patches [B, frames, 96] float32 of 16 kHz windows [B, samples] of `seconds`."""
    audio = np.asarray(audio, dtype=np.float32)
    frames = patch_frames(seconds)
    mel = librosa.feature.melspectrogram(y=audio, sr=SAMPLE_RATE, hop_length=FFT_HOP,
                                         n_fft=FFT_SIZE, n_mels=N_MELS)
    mel = np.swapaxes(mel, -1, -2)[..., :frames, :]
    _check_frames(mel.shape[-2], audio.shape[-1], frames, seconds)
    # the extractor's float16 arithmetic wherever it is finite, float32 where it overflows
    with np.errstate(over="ignore"):
        log16 = _log16(mel.astype(np.float16))
        log32 = np.log10(np.float32(10000) * mel.astype(np.float32) + np.float32(1))
    return np.where(np.isfinite(log16), log16.astype(np.float32), log32).astype(np.float32)


def _log16(mel16: np.ndarray) -> np.ndarray:
    """The extractor's float16 step, log10(10000 * mel + 1) with every operation in float16
    (inf where it overflows)."""
    return np.log10(np.float16(10000) * mel16 + np.float16(1))


@functools.lru_cache(maxsize=None)
def _log16_table(device: torch.device) -> torch.Tensor:
    """`_log16` of every float16 value, indexed by its 16 bits: numpy's float16 arithmetic
    on any device (torch's own log10 differs from numpy's by an ulp now and then)."""
    every = np.arange(1 << 16, dtype=np.uint16).view(np.float16)
    with np.errstate(all="ignore"):
        return torch.from_numpy(_log16(every)).to(device)


@functools.lru_cache(maxsize=None)
def _filterbank(device: torch.device) -> torch.Tensor:
    """librosa's mel filterbank (Slaney) [96, 257] float32, as melspectrogram builds it."""
    basis = librosa.filters.mel(sr=SAMPLE_RATE, n_fft=FFT_SIZE, n_mels=N_MELS)
    return torch.from_numpy(basis).to(device)


@functools.lru_cache(maxsize=None)
def _window(device: torch.device) -> torch.Tensor:
    """librosa's periodic Hann window, float64 as librosa applies it."""
    return torch.from_numpy(librosa.filters.get_window("hann", FFT_SIZE, fftbins=True)).to(device)


def mel_power_torch(audio: torch.Tensor, frames: int) -> torch.Tensor:
    """librosa's melspectrogram [B, frames, 96] float32 in torch: the centred, zero-padded STFT
    in float64 rounded to complex64 (as librosa stores it), |.|^2 in float32, then the
    filterbank."""
    spectrum = torch.stft(audio.to(torch.float64), FFT_SIZE, FFT_HOP, window=_window(audio.device),
                          center=True, pad_mode="constant", return_complex=True)
    power = spectrum[..., :frames].to(torch.complex64).abs() ** 2        # [B, 257, frames]
    return torch.matmul(_filterbank(audio.device), power).transpose(-1, -2)


def log_mel_torch(audio: torch.Tensor, seconds: float = 3.0) -> torch.Tensor:
    """`log_mel` in torch on the windows' device: [B, samples] float32 -> [B, frames, 96]."""
    frames = patch_frames(seconds)
    _check_frames(1 + audio.shape[-1] // FFT_HOP, audio.shape[-1], frames, seconds)
    mel = mel_power_torch(audio, frames)
    log16 = _log16_table(mel.device)[mel.half().view(torch.int16).long() & 0xFFFF]
    log32 = torch.log10(mel * 10000 + 1)
    return torch.where(torch.isfinite(log16), log16.float(), log32)
