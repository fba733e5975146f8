"""R(2+1)D-18 backbone, offline: random init, or a stand-in weight file placed in a private
torch hub cache (no model hub is reachable from the tests)."""
import urllib.error

import numpy as np
import pytest
import torch
from torchvision.models.video import r2plus1d_18

from mvclr.features import r2plus1d as rb

T = 2          # frames per clip, few to keep the CPU time short


def small_clips(n=2, seed=0) -> torch.Tensor:
    """Prepared-like input [B, 3, T, 32, 32]: the same network at a fraction of the cost."""
    return torch.randn(n, 3, T, 32, 32, generator=torch.Generator().manual_seed(seed))


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def offline_hub(tmp_path, monkeypatch):
    """An empty torch hub cache and no network: every download fails."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))

    def no_network(url, *args, **kwargs):
        raise urllib.error.URLError("offline (test)")
    monkeypatch.setattr(torch.hub, "download_url_to_file", no_network)
    return tmp_path / "torch" / "hub" / "checkpoints"


def test_none_is_seeded_random_init_and_gives_the_vector_before_fc():
    backbone = rb.R2Plus1DBackbone("none", seed=3, device="cpu")
    out = backbone.forward(small_clips())
    assert out.shape == (2, 512) and out.dtype == np.float32 and np.isfinite(out).all()
    again = rb.R2Plus1DBackbone("none", seed=3, device="cpu").forward(small_clips())
    np.testing.assert_array_equal(again, out)
    assert not np.allclose(rb.R2Plus1DBackbone("none", seed=4, device="cpu").forward(small_clips()),
                           out)
    # reference: torchvision's model with the same init, the avgpool output fed to fc
    torch.manual_seed(3)
    model = r2plus1d_18().eval()
    seen = {}
    model.fc.register_forward_hook(lambda module, args, result: seen.update(x=args[0]))
    with torch.no_grad():
        model(small_clips())
    np.testing.assert_allclose(out, seen["x"].numpy(), rtol=1e-5, atol=1e-5)
    info = backbone.info()
    assert info["weights"] == "random init (seed 3)" and info["device"] == "cpu"
    assert info["backbone"] == "r2plus1d_18" and "torchvision" in info["versions"]


def test_preprocessing_is_the_kinetics_weight_sets():
    backbone = rb.R2Plus1DBackbone("none", device="cpu")
    frames = np.zeros((1, T, 128, 171, 3), np.uint8)
    frames[..., 0] = 255                                    # pure red
    x = backbone.prepare(frames)
    assert x.shape == (1, 3, T, 112, 112)                   # [B, C, T, H, W], centre crop 112
    mean, std = (0.43216, 0.394666, 0.37645), (0.22803, 0.22145, 0.216989)
    expected = [(1 - mean[0]) / std[0], -mean[1] / std[1], -mean[2] / std[2]]
    np.testing.assert_allclose(x.mean(dim=(0, 2, 3, 4)).numpy(), expected, rtol=1e-5)
    out = backbone(frames)                                  # prepare + forward
    assert out.shape == (1, 512) and np.isfinite(out).all()


def test_kinetics400_fails_clearly_when_the_weights_cannot_be_had(offline_hub):
    with pytest.raises(rb.WeightsUnavailable) as error:
        rb.R2Plus1DBackbone("kinetics400", device="cpu")
    message = str(error.value)
    assert str(offline_hub / "r2plus1d_18-91a641e6.pth") in message
    assert "https://download.pytorch.org/models/r2plus1d_18-91a641e6.pth" in message
    assert rb.weight_file() == offline_hub / "r2plus1d_18-91a641e6.pth"
    offline_hub.mkdir(parents=True, exist_ok=True)
    rb.weight_file().write_bytes(b"not a checkpoint")        # a broken download
    with pytest.raises(rb.WeightsUnavailable, match="r2plus1d_18-91a641e6.pth"):
        rb.R2Plus1DBackbone("kinetics400", device="cpu")


def test_auto_falls_back_to_random_init_loudly(offline_hub, capsys):
    with pytest.warns(UserWarning, match="random weights"):
        backbone = rb.R2Plus1DBackbone("auto", seed=0, device="cpu")
    assert "RANDOM INIT" in capsys.readouterr().err
    info = backbone.info()
    assert info["weights"] == "random init (seed 0)"
    assert "kinetics400 unavailable" in info["weights_note"]
    np.testing.assert_array_equal(
        backbone.forward(small_clips()),
        rb.R2Plus1DBackbone("none", seed=0, device="cpu").forward(small_clips()))


def test_cached_weights_are_used_by_kinetics400_and_auto(offline_hub):
    torch.manual_seed(11)
    stand_in = r2plus1d_18()                                  # stands in for the real file
    offline_hub.mkdir(parents=True)
    torch.save(stand_in.state_dict(), rb.weight_file())
    stand_in.fc = torch.nn.Identity()
    with torch.no_grad():
        expected = stand_in.eval()(small_clips())
    for policy in ("kinetics400", "auto"):
        backbone = rb.R2Plus1DBackbone(policy, seed=0, device="cpu")
        assert backbone.info()["weights"] == "kinetics400" and not backbone.info()["weights_note"]
        np.testing.assert_allclose(backbone.forward(small_clips()), expected.numpy(),
                                   rtol=1e-5, atol=1e-5)


def test_unknown_policy():
    with pytest.raises(ValueError, match="kinetics400, auto, none"):
        rb.R2Plus1DBackbone("imagenet")


def test_bfloat16_autocast_keeps_every_row_within_cosine_0999():
    """The GPU path's mixed precision, checked where autocast exists without a GPU."""
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (4, 4, 128, 171, 3), dtype=np.uint8)
    full = rb.R2Plus1DBackbone("none", seed=0, device="cpu", bf16=False)
    half = rb.R2Plus1DBackbone("none", seed=0, device="cpu", bf16=True)
    assert "bfloat16 autocast" in half.info()["device"] and full.info()["device"] == "cpu"
    a, b = full(frames), half(frames)
    cosine = (a * b).sum(axis=1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    assert not np.array_equal(a, b)                          # bfloat16 did run
    assert cosine.min() >= 0.999, cosine


def test_batch_size_from_free_memory():
    from mvclr.features.device import batch_for_memory
    gib = 1 << 30
    assert batch_for_memory(80 * gib, 100 * (1 << 20), cap=256) == 256       # capped
    assert batch_for_memory(8 * gib, 100 * (1 << 20), cap=256) == 32         # 40 fit in half
    assert batch_for_memory(gib, 4 * gib, cap=256) == 1                      # at least one
