"""dlib's 128-d face ResNet (face-recognition-models, CC0): a second identity embedder, independent of SFace."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from models.generators.framing import Framing, check_images
from models.weights import model_id, package_file

PACKAGE = "face_recognition_models"  # located, not imported: its import needs the deprecated pkg_resources


@dataclass(frozen=True)
class DlibFaceConfig:
    """Landmarks on the framed face (upsampled first: DCGAN faces are 64 px), then dlib's aligned chip."""

    upsample_to: int = 256  # pixels on the long side before landmarking
    chip_size: int = 150  # dlib's recognition input
    chip_padding: float = 0.25

    def __post_init__(self) -> None:
        if self.upsample_to < 32 or self.chip_size < 32 or not 0 <= self.chip_padding <= 1:
            raise ValueError(f"invalid dlib face config {self}")


class DlibFaceEmbedder:
    """Images (N, 3, H, W) in [-1, 1] -> L2-normalised (N, 128) float32 dlib descriptors."""

    dim = 128

    def __init__(self, framing: Framing, cfg: DlibFaceConfig = DlibFaceConfig()) -> None:
        import dlib

        rec = package_file(PACKAGE, "models/dlib_face_recognition_resnet_model_v1.dat")
        self.shape = dlib.shape_predictor(str(package_file(PACKAGE, "models/shape_predictor_5_face_landmarks.dat")))
        self.rec, self.dlib = dlib.face_recognition_model_v1(str(rec)), dlib
        self.framing, self.cfg, self.embedder_id = framing, cfg, model_id("dlib-resnet", rec)

    def _one(self, rgb: np.ndarray) -> np.ndarray:
        h, w = rgb.shape[:2]
        top, left, bottom, right = self.framing.box
        rect = self.dlib.rectangle(round(left * w), round(top * h), round(right * w) - 1, round(bottom * h) - 1)
        chip = self.dlib.get_face_chip(rgb, self.shape(rgb, rect), size=self.cfg.chip_size, padding=self.cfg.chip_padding)
        return np.asarray(self.rec.compute_face_descriptor(chip), dtype=np.float32)

    @torch.inference_mode()
    def __call__(self, images: torch.Tensor, raw: bool = False) -> np.ndarray:
        """Unit vectors; raw=True gives dlib's descriptors (same person: Euclidean distance < 0.6)."""
        check_images(images)
        scale = max(1, self.cfg.upsample_to // max(images.shape[2:]))
        up = torch.nn.functional.interpolate(images.float().cpu(), scale_factor=scale, mode="bilinear") if scale > 1 else images
        rgb = ((up.clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).numpy()
        d = np.stack([self._one(np.ascontiguousarray(x)) for x in rgb])
        return d if raw else d / np.maximum(np.linalg.norm(d, axis=1, keepdims=True), 1e-12)


def photo_descriptor(embedder: DlibFaceEmbedder, rgb: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
    """dlib's raw 128-d descriptor of the face in `box` (x, y, w, h) of a full-resolution photo (uint8 RGB)."""
    x, y, w, h = box
    rect = embedder.dlib.rectangle(round(x), round(y), round(x + w) - 1, round(y + h) - 1)
    chip = embedder.dlib.get_face_chip(np.ascontiguousarray(rgb), embedder.shape(rgb, rect), size=embedder.cfg.chip_size,
                                       padding=embedder.cfg.chip_padding)
    return np.asarray(embedder.rec.compute_face_descriptor(chip), dtype=np.float32)
