"""Inference ONNX graphs (DAGs of conv-net ops) rebuilt as differentiable torch modules.

At load time every node whose inputs are all constant (initializers, Constant, Shape, Reshape,
DequantizeLinear...) is evaluated in numpy; the remaining nodes are translated one to one into torch layers,
and a per-channel Mul/Add/Sub by a constant or a BatchNormalization right after a Conv or Gemm is folded into
its weights. No BatchNorm or Dropout layer is left, so train() and eval() compute the same thing. Reading a
file needs the `onnx` package; running the module needs only torch.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from models.weights import CheckpointError

Arg = str | np.ndarray | None  # a node input: runtime tensor name, folded constant, or absent optional input
_BINARY = {"Add": torch.add, "Sub": torch.sub, "Mul": torch.mul}


def _tensor(a: np.ndarray) -> torch.Tensor:
    """A float32 torch copy (folded constants may be read-only numpy views)."""
    return torch.tensor(np.asarray(a, np.float32))


class Affine(nn.Module):
    """x * scale + shift per channel (dim 1): a BatchNormalization with no Conv or Gemm to fold into."""

    def __init__(self, scale: np.ndarray, shift: np.ndarray) -> None:
        super().__init__()
        self.register_buffer("scale", _tensor(scale.reshape(-1)))
        self.register_buffer("shift", _tensor(shift.reshape(-1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        view = (1, -1) + (1,) * (x.ndim - 2)
        return x * self.scale.view(view) + self.shift.view(view)


class ConstOp(nn.Module):
    """An elementwise Add/Sub/Mul of a tensor and a constant, with ONNX (numpy) broadcasting."""

    def __init__(self, op: str, const: np.ndarray, const_first: bool) -> None:
        super().__init__()
        self.op, self.const_first = op, const_first
        self.register_buffer("const", _tensor(const))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = (self.const, x) if self.const_first else (x, self.const)
        return _BINARY[self.op](a, b)


class Binary(nn.Module):
    """An elementwise Add/Sub/Mul of two runtime tensors (a residual connection)."""

    def __init__(self, op: str) -> None:
        super().__init__()
        self.op = op

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return _BINARY[self.op](a, b)


class Pad(nn.Module):
    """ONNX Pad, constant mode: `pads` lists all begins then all ends, first axis first."""

    def __init__(self, pads: list[int], value: float) -> None:
        super().__init__()
        n = len(pads) // 2
        self.pads = tuple(p for axis in reversed(range(n)) for p in (pads[axis], pads[axis + n]))  # F.pad order
        self.value = value

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pad(x, self.pads, value=self.value)


class OnnxGraph(nn.Module):
    """Runs translated nodes in graph order; each reads named tensors and writes one, dropped after its last use."""

    def __init__(self, input_name: str, output_name: str, steps: list[tuple[nn.Module, list[str], str]]) -> None:
        super().__init__()
        self.input_name, self.output_name = input_name, output_name
        self.layers = nn.ModuleList([layer for layer, _, _ in steps])
        self.wiring = [(tuple(ins), out) for _, ins, out in steps]
        last = {name: i for i, (ins, _) in enumerate(self.wiring) for name in ins}
        self.drops = [[n for n in dict.fromkeys(ins) if last[n] == i and n != output_name]
                      for i, (ins, _) in enumerate(self.wiring)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        env = {self.input_name: x}
        for layer, (ins, out), drops in zip(self.layers, self.wiring, self.drops):
            env[out] = layer(*(env[n] for n in ins))
            for n in drops:
                del env[n]
        return env[self.output_name]

    def as_sequential(self, what: str) -> nn.Sequential:
        """The same layers as an nn.Sequential (sliceable), when each step reads only the previous step's output."""
        current = self.input_name
        for (ins, out), layer in zip(self.wiring, self.layers):
            if ins != (current,):
                raise CheckpointError(f"{what} graph is not a single chain at its {type(layer).__name__} reading {ins}")
            current = out
        return nn.Sequential(*self.layers)


def attrs(node: Any) -> dict[str, Any]:
    import onnx

    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


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


def _reshape(x: np.ndarray, shape: np.ndarray, allowzero: int) -> np.ndarray:
    dims = [int(d) for d in shape]
    if not allowzero:  # ONNX: a 0 copies the input's dimension
        dims = [x.shape[i] if d == 0 else d for i, d in enumerate(dims)]
    return x.reshape(dims)


def _fold(node: Any, a: dict[str, Any], ins: list[np.ndarray | None]) -> np.ndarray:
    """Evaluate one constant node in numpy."""
    from onnx import numpy_helper

    op = node.op_type
    if op == "Constant":
        if "value" not in a:
            raise CheckpointError(f"Constant node {node.name!r} uses {sorted(a)}; only 'value' is supported")
        return numpy_helper.to_array(a["value"])
    if op == "Identity":
        return ins[0]
    if op == "Shape":
        return np.asarray(ins[0].shape[a.get("start", 0):a.get("end")], np.int64)
    if op == "Reshape":
        return _reshape(ins[0], ins[1], a.get("allowzero", 0))
    zp = ins[2] if len(ins) > 2 else None  # DequantizeLinear
    return dequantize(ins[0], ins[1], zp, a.get("axis", 1), a.get("block_size", 0))


_FOLDABLE = ("Constant", "Identity", "Shape", "Reshape", "DequantizeLinear")


def fold_constants(graph: Any) -> tuple[dict[str, np.ndarray], list[Any]]:
    """Evaluate every foldable node whose inputs are all constant; return the constants and the runtime nodes."""
    from onnx import numpy_helper

    consts = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    runtime = []
    for node in graph.node:
        ins = [consts.get(i) for i in node.input if i]
        if node.op_type in _FOLDABLE and all(x is not None for x in ins):
            consts[node.output[0]] = _fold(node, attrs(node), ins)
        else:
            runtime.append(node)
    return consts, runtime


def _const(node: Any, args: list[Arg], i: int, optional: bool = False) -> np.ndarray | None:
    """Input `i` of `node`, which the port needs to be a constant."""
    a = args[i] if i < len(args) else None
    if isinstance(a, np.ndarray) or (a is None and optional):
        return a
    raise CheckpointError(f"ONNX node {node.name!r} ({node.op_type}) needs a constant input {i}, got a runtime tensor")


def _window(node: Any, a: dict[str, Any]) -> dict[str, Any]:
    """Stride and symmetric padding of a 2-D Conv/pool; other layouts are refused by name."""
    pads = a.get("pads", [0, 0, 0, 0])
    if len(pads) != 4 or pads[:2] != pads[2:] or a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
        raise CheckpointError(f"{node.op_type} {node.name!r} has asymmetric or automatic padding {pads}")
    return {"stride": tuple(a.get("strides", [1, 1])), "padding": tuple(pads[:2])}


def _conv(node: Any, args: list[Arg], a: dict[str, Any]) -> nn.Conv2d:
    w, b = _const(node, args, 1), _const(node, args, 2, optional=True)
    if w.ndim != 4:
        raise CheckpointError(f"Conv {node.name!r} has a {w.ndim - 2}-D kernel; only 2-D is supported")
    groups = a.get("group", 1)
    conv = nn.Conv2d(w.shape[1] * groups, w.shape[0], tuple(w.shape[2:]), dilation=tuple(a.get("dilations", [1, 1])),
                     groups=groups, bias=b is not None, **_window(node, a))
    conv.weight.data = _tensor(w)
    if b is not None:
        conv.bias.data = _tensor(b)
    return conv


def _gemm(node: Any, args: list[Arg], a: dict[str, Any]) -> nn.Linear:
    w, b = _const(node, args, 1), _const(node, args, 2, optional=True)
    if a.get("transA", 0) or a.get("alpha", 1.0) != 1.0 or a.get("beta", 1.0) != 1.0:
        raise CheckpointError(f"Gemm {node.name!r} uses transA/alpha/beta, which the port does not translate")
    w = w if a.get("transB", 0) else w.T
    linear = nn.Linear(w.shape[1], w.shape[0], bias=b is not None)
    linear.weight.data = _tensor(w)
    if b is not None:
        linear.bias.data = _tensor(b.reshape(-1))
    return linear


def _pool(node: Any, a: dict[str, Any]) -> nn.Module:
    kernel, ceil = tuple(a["kernel_shape"]), bool(a.get("ceil_mode", 0))
    if len(kernel) != 2:
        raise CheckpointError(f"{node.op_type} {node.name!r} has a {len(kernel)}-D window; only 2-D is supported")
    if node.op_type == "MaxPool":
        return nn.MaxPool2d(kernel, dilation=tuple(a.get("dilations", [1, 1])), ceil_mode=ceil, **_window(node, a))
    if a.get("dilations", [1, 1]) != [1, 1]:
        raise CheckpointError(f"AveragePool {node.name!r} is dilated, which the port does not translate")
    return nn.AvgPool2d(kernel, ceil_mode=ceil, count_include_pad=bool(a.get("count_include_pad", 0)),
                        **_window(node, a))


def _pad(node: Any, args: list[Arg], a: dict[str, Any]) -> Pad:
    if a.get("mode", b"constant") not in (b"constant", "constant") or _const(node, args, 3, optional=True) is not None:
        raise CheckpointError(f"Pad {node.name!r} uses a non-constant mode or axes, which the port does not translate")
    value = _const(node, args, 2, optional=True)
    return Pad([int(p) for p in _const(node, args, 1)], 0.0 if value is None else float(value))


def _batchnorm(node: Any, args: list[Arg]) -> tuple[np.ndarray, np.ndarray]:
    """Inference BatchNormalization as a per-channel (scale, shift)."""
    gamma, beta, mean, var = (_const(node, args, i).astype(np.float64) for i in range(1, 5))
    scale = gamma / np.sqrt(var + attrs(node).get("epsilon", 1e-5))
    return scale, beta - mean * scale


def _channel_affine(node: Any, args: list[Arg], ndim: int, channels: int) -> tuple[np.ndarray, np.ndarray] | None:
    """(scale, shift) of length `channels` if the node is x*c, x+c, x-c, c+x, c*x (c per channel) or a BatchNorm."""
    if node.op_type == "BatchNormalization":
        return _batchnorm(node, args)
    if node.op_type not in _BINARY or len(args) != 2 or (node.op_type == "Sub" and not isinstance(args[0], str)):
        return None
    c = next(x for x in args if isinstance(x, np.ndarray))
    shape = (1,) * (ndim - c.ndim) + c.shape
    if c.ndim > ndim or shape[0] != 1 or any(s != 1 for s in shape[2:]) or shape[1] not in (1, channels):
        return None
    c = np.broadcast_to(c.reshape(-1).astype(np.float64), (channels,)).copy()
    one, zero = np.ones(channels), np.zeros(channels)
    return {"Mul": (c, zero), "Add": (one, c), "Sub": (one, -c)}[node.op_type]


def _fold_into(layer: nn.Conv2d | nn.Linear, scale: np.ndarray, shift: np.ndarray) -> None:
    """affine(layer(x)) as one layer: scale the weight's output rows, then the bias."""
    w = layer.weight.data.double()
    s, t = torch.tensor(scale), torch.tensor(shift)
    layer.weight.data = (w * s.view((-1,) + (1,) * (w.ndim - 1))).float()
    bias = layer.bias.data.double() if layer.bias is not None else torch.zeros_like(t)
    layer.bias = nn.Parameter((bias * s + t).float())


def _translate(node: Any, args: list[Arg]) -> nn.Module:
    """The torch layer for one runtime node, given its inputs (constants already folded)."""
    op, a = node.op_type, attrs(node)
    if op == "Conv":
        return _conv(node, args, a)
    if op == "Gemm":
        return _gemm(node, args, a)
    if op in ("MaxPool", "AveragePool"):
        return _pool(node, a)
    if op == "Pad":
        return _pad(node, args, a)
    if op in _BINARY:
        consts = [x for x in args if isinstance(x, np.ndarray)]
        return ConstOp(op, consts[0], isinstance(args[0], np.ndarray)) if consts else Binary(op)
    if op == "BatchNormalization":
        return Affine(*_batchnorm(node, args))
    if op == "PRelu":
        slope = _const(node, args, 1)
        prelu = nn.PReLU(slope.size)
        prelu.weight.data = _tensor(slope.reshape(-1))
        return prelu
    simple = {"Relu": nn.ReLU, "GlobalAveragePool": lambda: nn.AdaptiveAvgPool2d(1)}
    if op in simple:
        return simple[op]()
    if op == "Flatten" and a.get("axis", 1) == 1:
        return nn.Flatten(1)
    if op == "Softmax":  # opset >= 13 semantics (checked in onnx_to_torch): one axis, default the last
        return nn.Softmax(dim=a.get("axis", -1))
    raise CheckpointError(f"ONNX node {node.name!r} ({op}) is not supported by the torch port")


def _try_fuse(node: Any, args: list[Arg], steps: list, made: dict[str, int | None], uses: Counter) -> bool:
    """Fold a per-channel affine node into the Conv/Gemm that feeds only it; True when done."""
    moving = [x for x in args if isinstance(x, str)]
    if len(moving) != 1 or moving[0] not in node.input or uses[moving[0]] != 1 or made[moving[0]] is None:
        return False
    layer, ins, _ = steps[made[moving[0]]]
    if not isinstance(layer, (nn.Conv2d, nn.Linear)):
        return False
    affine = _channel_affine(node, args, layer.weight.ndim, layer.weight.shape[0])
    if affine is None:
        return False
    _fold_into(layer, *affine)
    steps[made[moving[0]]] = (layer, ins, node.output[0])
    made[node.output[0]] = made.pop(moving[0])
    return True


def onnx_to_torch(model: Any, what: str) -> OnnxGraph:
    """Translate an ONNX ModelProto with one input and one output; `what` names the network in errors."""
    graph = model.graph
    opset = max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=0)
    if opset < 13 and any(n.op_type == "Softmax" for n in graph.node):
        raise CheckpointError(f"{what} graph is opset {opset}: its Softmax (2-D flattening before opset 13) is not supported")
    consts, runtime = fold_constants(graph)
    uses = Counter(i for n in runtime for i in n.input if i) + Counter(o.name for o in graph.output)
    inputs = [i.name for i in graph.input if i.name not in consts and i.name in uses]  # some files list unused ones
    if len(inputs) != 1 or len(graph.output) != 1:
        raise CheckpointError(f"{what} graph must have one input and one output, has {len(inputs)} and {len(graph.output)}")
    steps: list[tuple[nn.Module, list[str], str]] = []
    made: dict[str, int | None] = {inputs[0]: None}  # runtime tensor -> index of the step computing it
    alias: dict[str, str] = {}  # outputs of Dropout/Identity -> their input
    for node in runtime:
        args: list[Arg] = [None if not i else consts[i] if i in consts else alias.get(i, i) for i in node.input]
        moving = [x for x in args if isinstance(x, str)]
        unknown = [x for x in moving if x not in made]
        if not moving or unknown:
            raise CheckpointError(f"{what} graph node {node.name!r} ({node.op_type}) reads "
                                  f"{unknown or 'only constants'}, which the port cannot run")
        if node.op_type in ("Dropout", "Identity"):  # the identity at inference
            alias[node.output[0]] = moving[0]
        elif not _try_fuse(node, args, steps, made, uses):
            steps.append((_translate(node, args), moving, node.output[0]))
            made[node.output[0]] = len(steps) - 1
    out = alias.get(graph.output[0].name, graph.output[0].name)
    if out not in made or made[out] is None:
        raise CheckpointError(f"{what} graph output {graph.output[0].name!r} is not computed by any supported node")
    return OnnxGraph(inputs[0], out, steps)


def load_onnx(path: str | Path, what: str) -> Any:
    """The ModelProto in an ONNX file, or a one-line CheckpointError."""
    import onnx

    try:
        model = onnx.load(str(path))
    except Exception as e:
        raise CheckpointError(f"cannot read {what} ONNX file {path}: {str(e).splitlines()[0]}") from None
    if not model.graph.input or not model.graph.output or not model.graph.node:
        raise CheckpointError(f"{path} holds no ONNX graph")
    return model
