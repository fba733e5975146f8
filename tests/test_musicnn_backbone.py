"""musicnn from its wheel against the package's own extractor. TensorFlow starts once per
module: one backbone (one graph, one session) serves every test."""
import numpy as np
import pytest
import soundfile as sf

mb = pytest.importorskip("mvclr.features.musicnn")

SR = 16000


def music(seconds=3.0, amplitude=0.05, seed=0) -> np.ndarray:
    """Harmonic tones with vibrato, a beat and a little noise, peak `amplitude`."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    x = sum(np.sin(2 * np.pi * f * t + 3 * np.sin(2 * np.pi * 5 * t) + rng.uniform(0, 6)) / k
            for k, f in enumerate([220, 330, 440, 660, 1250, 2500], 1))
    x = x * (1 + 0.8 * (np.sin(2 * np.pi * 2 * t) > 0.7)) + 0.3 * rng.standard_normal(len(t))
    return (amplitude * x / np.abs(x).max()).astype(np.float32)


@pytest.fixture(scope="module")
def backbone():
    model = mb.MusicnnBackbone("MTT_musicnn", ["max_pool", "mean_pool"])
    yield model
    model.close()


@pytest.fixture(scope="module")
def extract(tmp_path_factory):
    """musicnn's extractor on a 3 s window written as a float WAV: max_pool ‖ mean_pool."""
    from musicnn.extractor import extractor

    def run(audio):
        path = tmp_path_factory.mktemp("wav") / "window.wav"
        sf.write(path, audio, SR, subtype="FLOAT")
        _, _, features = extractor(str(path), model="MTT_musicnn", input_length=3,
                                   extract_features=True)
        return np.concatenate([features["max_pool"], features["mean_pool"]], axis=1)
    return run


def test_patch_is_the_extractors_187_frames():
    assert mb.patch_frames(3) == 187
    assert mb.log_mel(music()[None]).shape == (1, 187, 96)
    with pytest.raises(ValueError, match="needs 187"):
        mb.log_mel(np.zeros((1, 40000), np.float32))


def test_log_mel_is_the_extractors_input_where_finite(tmp_path):
    from musicnn.extractor import batch_data
    for amplitude in (0.05, 0.9):
        audio = music(amplitude=amplitude)
        sf.write(tmp_path / "w.wav", audio, SR, subtype="FLOAT")
        with np.errstate(over="ignore"):
            reference, _ = batch_data(str(tmp_path / "w.wav"), 187, 187)
        ours = mb.log_mel(audio[None])
        finite = np.isfinite(reference)
        assert finite.all() == (amplitude < 0.5)
        np.testing.assert_array_equal(ours[finite], reference[finite].astype(np.float32))
        assert np.isfinite(ours).all()


def test_agrees_with_the_extractor_on_quiet_audio(backbone, extract):
    for seed in (0, 1):
        audio = music(amplitude=0.05, seed=seed)
        reference = extract(audio)
        assert reference.shape == (1, 1506) and np.isfinite(reference).all()
        ours = backbone(audio[None])
        assert ours.shape == (1, 1506) and ours.dtype == np.float32
        assert np.abs(ours - reference).max() <= 1e-3 * np.abs(reference).max()


def test_loud_audio_stays_finite_where_the_extractor_overflows(backbone, extract):
    quiet = backbone(music(amplitude=0.05)[None])
    audio = music(amplitude=0.9)
    reference = extract(audio)                    # float16 log: inf/NaN or absurd values
    assert not np.isfinite(reference).all() or np.abs(reference).max() > 1e6
    ours = backbone(audio[None])
    assert np.isfinite(ours).all()
    assert np.abs(ours).max() < 10 * np.abs(quiet).max()
    # the overflow is in the log: the extractor's float16 path gives inf, ours does not
    mel = mb.log_mel(audio[None])
    assert np.isfinite(mel).all() and mel.max() > np.log10(65504)


def test_a_batch_equals_its_rows_one_by_one(backbone):
    audio = np.stack([music(seed=s, amplitude=a) for s, a in [(2, 0.01), (3, 0.3), (4, 0.9)]])
    batch = backbone(audio)
    rows = np.concatenate([backbone(a[None]) for a in audio])
    np.testing.assert_allclose(batch, rows, rtol=1e-4, atol=1e-4 * np.abs(rows).max())
    assert not np.allclose(batch[0], batch[1])


def test_layers_and_models_are_configurable(backbone):
    info = backbone.info()
    assert info["backbone"] == "musicnn" and info["layers"] == ["max_pool", "mean_pool"]
    assert "MTT_musicnn" in info["weights"] and "tensorflow" in info["versions"]
    other = mb.MusicnnBackbone("MSD_musicnn", ["penultimate", "taggram"])
    try:
        audio = music()[None]
        out = other(audio)
        assert other.dim == out.shape[1] == 200 + 50
        assert ((out[:, 200:] > 0) & (out[:, 200:] < 1)).all()          # sigmoid tag scores
    finally:
        other.close()
    with pytest.raises(ValueError, match="MTT_musicnn, MSD_musicnn"):
        mb.MusicnnBackbone("MTT_vgg")
    with pytest.raises(ValueError, match="choose from"):
        mb.MusicnnBackbone("MTT_musicnn", ["timbral"])
