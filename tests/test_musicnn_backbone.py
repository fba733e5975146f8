"""musicnn from its wheel against the package's own extractor. TensorFlow starts once per
module: one backbone (one graph, one session) serves every test."""
import numpy as np
import pytest
import soundfile as sf

from fixtures_music import SR, music
from mvclr.features import mel

mb = pytest.importorskip("mvclr.features.musicnn")

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
    patches = mel.log_mel(audio[None])
    assert np.isfinite(patches).all() and patches.max() > np.log10(65504)


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
    assert info["runtime"] == "tensorflow" and "sha256" in info["weights"]
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
