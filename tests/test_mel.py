"""musicnn's log-mel patches: the CPU reference (librosa, the extractor's arithmetic) against
the extractor itself, and the torch version (any device) against the reference."""
import numpy as np
import pytest
import soundfile as sf
import torch

from fixtures_music import SR, music, signals
from mvclr.features import mel


def test_patch_is_the_extractors_187_frames():
    assert mel.patch_frames(3) == 187
    assert mel.log_mel(music()[None]).shape == (1, 187, 96)
    for log_mel in (mel.log_mel, lambda x: mel.log_mel_torch(torch.from_numpy(x))):
        with pytest.raises(ValueError, match="needs 187"):
            log_mel(np.zeros((1, 40000), np.float32))


def test_log_mel_is_the_extractors_input_where_finite(tmp_path):
    from musicnn.extractor import batch_data
    for amplitude in (0.05, 0.9):
        audio = music(amplitude=amplitude)
        sf.write(tmp_path / "w.wav", audio, SR, subtype="FLOAT")
        with np.errstate(over="ignore"):
            reference, _ = batch_data(str(tmp_path / "w.wav"), 187, 187)
        ours = mel.log_mel(audio[None])
        finite = np.isfinite(reference)
        assert finite.all() == (amplitude < 0.5)
        np.testing.assert_array_equal(ours[finite], reference[finite].astype(np.float32))
        assert np.isfinite(ours).all()


def test_torch_log_mel_equals_the_reference():
    """Before the float16 step (the power mel) within 1e-6 relative; after it bit-equal
    wherever the two mels round to the same float16 value. A mel within 1e-6 still lands on
    the other side of a float16 rounding boundary now and then (a few bins a window): there
    the two float16 mels are neighbours, and the step is still numpy's float16 arithmetic on
    its input, bit for bit. Bins the float16 step overflows are taken in float32 by both,
    within 1e-6 relative."""
    audio = signals()
    with np.errstate(over="ignore"):
        reference = mel.log_mel(audio)
        power = np.swapaxes(mel.librosa.feature.melspectrogram(
            y=audio, sr=SR, hop_length=mel.FFT_HOP, n_fft=mel.FFT_SIZE, n_mels=mel.N_MELS),
            -1, -2)[:, :187]
        float16_path = np.isfinite(mel._log16(power.astype(np.float16)))
    ours_power = mel.mel_power_torch(torch.from_numpy(audio), 187).numpy()
    ours = mel.log_mel_torch(torch.from_numpy(audio)).numpy()
    assert ours.dtype == np.float32 and ours.shape == reference.shape == (len(audio), 187, 96)
    assert np.abs(ours_power - power).max() <= 1e-6 * np.abs(power).max()
    same16 = ours_power.astype(np.float16) == power.astype(np.float16)
    exact = float16_path & same16
    np.testing.assert_array_equal(ours[exact], reference[exact])
    flipped = float16_path & ~same16
    assert flipped.sum(axis=(1, 2)).max() <= 5
    ours16, power16 = ours_power[flipped].astype(np.float16), power[flipped].astype(np.float16)
    assert (np.abs(ours16 - power16) <= np.spacing(np.maximum(ours16, power16))).all()
    np.testing.assert_array_equal(ours[flipped], mel._log16(ours16).astype(np.float32))
    overflow = ~float16_path
    assert overflow[:3].sum() > 0 and overflow[0].sum() == 0      # loud and quiet windows
    assert np.abs(ours[overflow] - reference[overflow]).max() <= 1e-6 * np.abs(reference).max()
    print(f"power mel relative max difference "
          f"{np.abs(ours_power - power).max() / np.abs(power).max():.2e}; float16 bins equal "
          f"{exact.sum()} of {float16_path.sum()}, neighbouring float16 value {flipped.sum()}")
