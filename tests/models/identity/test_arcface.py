"""The IR-SE ArcFace backbone on a tiny hand-written pSp-layout checkpoint, against a functional re-derivation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from models.generators.framing import FFHQ, crop_resize
from models.identity.arcface import ArcFaceConfig, IRSEBackbone, config_from_state, load_arcface
from models.weights import CheckpointError
from tests.arcface_ckpt import tiny_arcface_state, write_tiny_arcface


def bn(x: torch.Tensor, s: dict, p: str, eps: float = 1e-5) -> torch.Tensor:
    view = (1, -1) + (1,) * (x.ndim - 2)
    y = (x - s[f"{p}.running_mean"].view(view)) / torch.sqrt(s[f"{p}.running_var"].view(view) + eps)
    return y * s[f"{p}.weight"].view(view) + s[f"{p}.bias"].view(view) if f"{p}.weight" in s else y


def reference(x: torch.Tensor, s: dict) -> torch.Tensor:
    """pSp's Backbone.forward written out from the state dict alone (eval mode)."""
    x = bn(F.conv2d(x, s["input_layer.0.weight"], padding=1), s, "input_layer.1")
    x = F.prelu(x, s["input_layer.2.weight"])
    i, width = 0, x.shape[1]
    while f"body.{i}.res_layer.1.weight" in s:
        p = f"body.{i}"
        out = s[f"{p}.res_layer.1.weight"].shape[0]
        stride = 2 if i == 0 or out != width else 1
        short = (bn(F.conv2d(x, s[f"{p}.shortcut_layer.0.weight"], stride=stride), s, f"{p}.shortcut_layer.1")
                 if f"{p}.shortcut_layer.0.weight" in s else x[:, :, ::stride, ::stride])
        r = F.conv2d(bn(x, s, f"{p}.res_layer.0"), s[f"{p}.res_layer.1.weight"], padding=1)
        r = F.prelu(r, s[f"{p}.res_layer.2.weight"])
        r = bn(F.conv2d(r, s[f"{p}.res_layer.3.weight"], stride=stride, padding=1), s, f"{p}.res_layer.4")
        squeeze = F.relu(F.conv2d(r.mean((2, 3), keepdim=True), s[f"{p}.res_layer.5.fc1.weight"]))
        gate = torch.sigmoid(F.conv2d(squeeze, s[f"{p}.res_layer.5.fc2.weight"]))
        x, width, i = r * gate + short, out, i + 1
    x = bn(x, s, "output_layer.0").flatten(1) @ s["output_layer.3.weight"].T + s["output_layer.3.bias"]
    return F.normalize(bn(x, s, "output_layer.4"), dim=1)


@pytest.fixture
def ckpt(tmp_path: Path) -> Path:
    return write_tiny_arcface(tmp_path / "tiny_ir_se.pth")


def test_config_is_read_from_tensor_shapes(ckpt: Path):
    emb = load_arcface(ckpt, FFHQ)
    assert emb.net.cfg == ArcFaceConfig(widths=(8, 16, 32, 64), units=(1, 2, 1, 1), stem_width=8, input_size=112,
                                        se_reduction=4, embed_dim=32, output_affine=True)
    assert emb.dim == 32 and emb.embedder_id.startswith("arcface-ir-se12-")


def test_forward_matches_the_functional_reference(ckpt: Path):
    emb = load_arcface(ckpt, FFHQ)
    x = torch.rand(3, 3, 112, 112, generator=torch.Generator().manual_seed(0)) * 2 - 1
    with torch.no_grad():
        torch.testing.assert_close(emb.net(x), reference(x, tiny_arcface_state()), atol=1e-5, rtol=1e-4)


def test_embedder_crops_the_framing_box_and_normalises(ckpt: Path):
    emb = load_arcface(ckpt, FFHQ)
    images = torch.rand(2, 3, 256, 256, generator=torch.Generator().manual_seed(1)) * 2 - 1
    e = emb(images)
    assert e.shape == (2, 32) and e.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(e, axis=1), 1.0, atol=1e-5)
    with torch.no_grad():
        np.testing.assert_allclose(e, emb.net(crop_resize(images, FFHQ, 112)).numpy(), atol=1e-6)
    leaf = images.clone().requires_grad_(True)
    (emb.forward(leaf) * torch.from_numpy(e)).sum().backward()  # identity-loss style use is differentiable
    assert leaf.grad is not None and leaf.grad.abs().sum() > 0


def test_default_config_is_ir_se_50():
    net = IRSEBackbone()
    assert sum(p.numel() for p in net.parameters()) == pytest.approx(43.8e6, rel=0.01)
    assert config_from_state(net.state_dict()) == ArcFaceConfig()
    assert "body.0.shortcut_layer.0.weight" not in net.state_dict()  # 64 -> 64: parameter-free max-pool shortcut
    assert net.state_dict()["body.3.shortcut_layer.0.weight"].shape == (128, 64, 1, 1)


def test_missing_num_batches_tracked_still_loads(tmp_path: Path):
    state = {k: v for k, v in tiny_arcface_state().items() if not k.endswith("num_batches_tracked")}
    torch.save(state, tmp_path / "old.pth")
    assert load_arcface(tmp_path / "old.pth", FFHQ).net.cfg.units == (1, 2, 1, 1)


def test_bad_checkpoints_are_one_line_checkpoint_errors(tmp_path: Path, ckpt: Path):
    cases = {"missing": (tmp_path / "none.pth", "ArcFace checkpoint not found")}
    (tmp_path / "cut.pth").write_bytes(ckpt.read_bytes()[:3000])
    cases["truncated"] = (tmp_path / "cut.pth", "cannot read ArcFace checkpoint")
    torch.save({"netG_state_dict": {"main.0.weight": torch.zeros(1)}}, tmp_path / "gan.pth")
    cases["wrong kind"] = (tmp_path / "gan.pth", "not a state dict of tensors")
    torch.save({"main.0.weight": torch.zeros(1)}, tmp_path / "other.pth")
    cases["other net"] = (tmp_path / "other.pth", "not an IR-SE ArcFace state dict: missing 'input_layer.0.weight'")
    bad = tiny_arcface_state()
    bad["body.1.res_layer.5.fc2.weight"] = torch.zeros(8, 2, 1, 1)
    torch.save(bad, tmp_path / "shape.pth")
    cases["bad shape"] = (tmp_path / "shape.pth", "size mismatch for body.1.res_layer.5.fc2.weight")
    extra = {**tiny_arcface_state(), "head.kernel": torch.zeros(2)}
    torch.save(extra, tmp_path / "extra.pth")
    cases["extra key"] = (tmp_path / "extra.pth", r"unexpected \['head.kernel'\]")
    for name, (path, message) in cases.items():
        with pytest.raises(CheckpointError, match=message) as e:
            load_arcface(path, FFHQ)
        assert "\n" not in str(e.value), name


@pytest.mark.parametrize("key, value, problem", [
    ("body.1.res_layer.3.weight", float("nan"), "holds NaN or Inf"),
    ("output_layer.4.running_var", float("inf"), "holds NaN or Inf"),  # a buffer: every embedding would be NaN
])
def test_non_finite_weights_are_refused_by_name(tmp_path: Path, key: str, value: float, problem: str):
    state = tiny_arcface_state()
    state[key].view(-1)[0] = value
    torch.save(state, tmp_path / "nan.pth")
    with pytest.raises(CheckpointError) as e:
        load_arcface(tmp_path / "nan.pth", FFHQ)
    assert str(e.value) == f"{tmp_path / 'nan.pth'}: tensor {key!r} {problem}"


@pytest.mark.parametrize("bad, message", [
    (torch.zeros(2, 3, 112), "expected an image batch of shape"),
    (torch.zeros(2, 3, 112, 112, dtype=torch.int32), "expected float images"),
    (torch.full((1, 3, 112, 112), float("nan")), "NaN or infinite"),
])
def test_bad_images_are_one_line_errors(ckpt: Path, bad, message: str):
    with pytest.raises(ValueError, match=message) as e:
        load_arcface(ckpt, FFHQ)(bad)
    assert "\n" not in str(e.value)


def test_config_is_validated():
    with pytest.raises(ValueError, match="one unit count per stage"):
        ArcFaceConfig(widths=(64, 128), units=(3,))
    with pytest.raises(ValueError, match="divisible by se_reduction"):
        ArcFaceConfig(widths=(64, 100, 256, 512))
    with pytest.raises(ValueError, match="divisible by 2"):
        ArcFaceConfig(input_size=100)
