"""The ONNX -> torch interpreter against onnxruntime on small hand-built graphs (a residual DAG, folded constants)."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper
from torch import nn

from models.onnx_torch import Binary, ConstOp, OnnxGraph, onnx_to_torch
from models.weights import CheckpointError

RNG = np.random.default_rng(0)


def const(name: str, shape: tuple[int, ...]) -> object:
    return numpy_helper.from_array(RNG.normal(size=shape).astype(np.float32), name)


def residual_model() -> object:
    """x -> Conv -> (Mul, Add per channel: foldable) -> Relu -> two branches -> residual Add -> pooled Gemm -> Softmax.

    The first conv's output also feeds the residual Add, so the Mul after it must not be folded into it.
    """
    ints = lambda name, v: numpy_helper.from_array(np.asarray(v, np.int64), name)
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
        helper.make_node("Mul", ["c1", "s1"], ["m1"], name="shared_mul"),  # c1 has two readers: stays a layer
        helper.make_node("Conv", ["m1", "w2", "b2"], ["c2"], name="conv2", pads=[1, 1, 1, 1]),
        helper.make_node("Mul", ["c2", "s2"], ["m2"], name="fold_mul"),
        helper.make_node("Add", ["o2", "m2"], ["a2"], name="fold_add"),  # constant first: c + x
        helper.make_node("Relu", ["a2"], ["r2"]),
        helper.make_node("Conv", ["r2", "w3"], ["c3"], name="conv3", strides=[2, 2]),  # 6x6 -> 2x2, 4 channels
        helper.make_node("AveragePool", ["c1"], ["p1"], kernel_shape=[3, 3], strides=[3, 3]),  # 3 ch, 2x2
        helper.make_node("Pad", ["p1", "pads"], ["q1"], mode="constant"),  # +1 channel at the end
        helper.make_node("Add", ["c3", "q1"], ["res"], name="residual"),
        helper.make_node("Sub", ["res", "mean"], ["centred"]),  # after a residual: stays a layer
        helper.make_node("GlobalAveragePool", ["centred"], ["g"]),
        helper.make_node("Flatten", ["g"], ["f"], axis=1),
        helper.make_node("Constant", [], ["wshape"], value=ints("wshape_value", [0, -1])),
        helper.make_node("Reshape", ["w3d", "wshape"], ["wfc"]),  # folded: (5, 4, 1) -> (5, 4), 0 copies a dim
        helper.make_node("Shape", ["bref"], ["bshape"]),  # folded: [5]
        helper.make_node("Reshape", ["bcol", "bshape"], ["bfc"]),  # folded: (5, 1) -> (5,)
        helper.make_node("Gemm", ["f", "wfc", "bfc"], ["logits"], transB=1),
        helper.make_node("Softmax", ["logits"], ["probs"], axis=1),
    ]
    inits = [const("w1", (3, 3, 3, 3)), const("b1", (3,)), const("s1", (1, 3, 1, 1)),
             const("w2", (3, 3, 3, 3)), const("b2", (3,)), const("s2", (1, 3, 1, 1)), const("o2", (3, 1, 1)),
             const("w3", (4, 3, 3, 3)), ints("pads", [0, 0, 0, 0, 0, 1, 0, 0]), const("mean", (1, 4, 1, 1)),
             const("w3d", (5, 4, 1)), const("bcol", (5, 1)), const("bref", (5,))]
    graph = helper.make_graph(nodes, "residual", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 6, 6])],
                              [helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["N", 5])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=9)


def onnxruntime_run(model: object, x: np.ndarray) -> np.ndarray:
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(model.SerializeToString(), sess_options=opts, providers=["CPUExecutionProvider"])
    return sess.run(None, {"x": x})[0]


def test_residual_graph_matches_onnxruntime():
    model = residual_model()
    net = onnx_to_torch(model, "toy")
    x = RNG.normal(size=(4, 3, 6, 6)).astype(np.float32)
    np.testing.assert_allclose(net(torch.from_numpy(x)).detach().numpy(), onnxruntime_run(model, x), atol=1e-6)
    kinds = [type(m) for m in net.layers]
    assert kinds.count(nn.Conv2d) == 3 and kinds.count(ConstOp) == 2 and kinds.count(Binary) == 1  # two folds
    assert net.output_name == "probs" and isinstance(net, OnnxGraph)
    with pytest.raises(CheckpointError, match="toy graph is not a single chain at its AvgPool2d"):
        net.as_sequential("toy")  # the pool reads conv1, not conv3


def test_gradients_flow_through_both_branches():
    net = onnx_to_torch(residual_model(), "toy")
    x = torch.from_numpy(RNG.normal(size=(2, 3, 6, 6)).astype(np.float32)).requires_grad_(True)
    net(x)[:, 0].sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    assert all(p.grad is not None for p in net.parameters())


def test_node_on_runtime_only_weights_is_refused():
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 4, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 2, 2])
    graph = helper.make_graph([helper.make_node("Conv", ["x", "x"], ["y"], name="self_conv")], "g", [x], [y])
    with pytest.raises(CheckpointError, match="'self_conv' \\(Conv\\) needs a constant input 1"):
        onnx_to_torch(helper.make_model(graph), "toy")


def test_asymmetric_padding_and_old_softmax_are_refused():
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 4, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 4, 4])
    pool = helper.make_node("MaxPool", ["x"], ["y"], name="lopsided", kernel_shape=[2, 2], pads=[0, 0, 1, 1])
    with pytest.raises(CheckpointError, match="MaxPool 'lopsided' has asymmetric or automatic padding"):
        onnx_to_torch(helper.make_model(helper.make_graph([pool], "g", [x], [y])), "toy")
    soft = helper.make_graph([helper.make_node("Softmax", ["x"], ["y"])], "g", [x], [y])
    with pytest.raises(CheckpointError, match="opset 11: its Softmax"):
        onnx_to_torch(helper.make_model(soft, opset_imports=[helper.make_opsetid("", 11)]), "toy")
