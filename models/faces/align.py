"""A photo's face onto a generator's framing and back: the 2x3 similarity from five landmarks, the aligned crop, the
inverse warp of a render into the photo and the feathered face mask that blends it in."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import cv2
import numpy as np

if TYPE_CHECKING:  # the type only: the configs here are read by the CLI before torch loads
    from models.generators.framing import Framing



@dataclass(frozen=True)
class MaskConfig:
    """The blend mask, drawn in the frame from the framing's landmarks: an ellipse over brows to chin, feathered."""

    width: float = 1.05  # ellipse half-width, in eye distances (cheek to cheek)
    height: float = 1.15  # ellipse half-height, in eye-to-mouth distances (brows to chin)
    lift: float = 0.05  # centre raised from the eyes-mouth midpoint, in eye-to-mouth distances
    feather: float = 0.2  # Gaussian sigma of the edge, in eye distances (the ellipse shrinks by 1.5 sigma first)

    def __post_init__(self) -> None:
        if min(self.width, self.height) <= 0 or self.feather < 0:
            raise ValueError(f"mask needs positive width and height and feather >= 0, got {self}")


def ffhq_quad(points: np.ndarray) -> np.ndarray:
    """FFHQ's oriented square (ffhq-dataset's recreate_aligned_images) from eye centres and mouth corners: (4, 2) corners,
    top-left, bottom-left, bottom-right, top-right."""
    eye_l, eye_r, mouth_l, mouth_r = points[0], points[1], points[3], points[4]
    eye_avg, eye_to_eye = (eye_l + eye_r) / 2, eye_r - eye_l
    eye_to_mouth = (mouth_l + mouth_r) / 2 - eye_avg
    x = eye_to_eye - np.flipud(eye_to_mouth) * [-1, 1]
    x = x / np.hypot(*x) * max(np.hypot(*eye_to_eye) * 2.0, np.hypot(*eye_to_mouth) * 1.8)
    y = np.flipud(x) * [-1, 1]
    c = eye_avg + eye_to_mouth * 0.1
    return np.stack([c - x - y, c - x + y, c + x + y, c + x - y]).astype(np.float64)


def template_points(framing: Framing, size: int) -> np.ndarray:
    """(5, 2) where the framing's generator draws the five points, in pixels of a `size` frame."""
    return np.asarray(framing.landmarks, np.float64) * size


def align_matrix(points: np.ndarray, framing: Framing, size: int) -> np.ndarray:
    """The 2x3 similarity (rotation, one scale, shift) taking photo pixels to `size`-px frame pixels."""
    points = np.asarray(points, np.float64)
    if framing.alignment == "ffhq-quad":
        quad = ffhq_quad(points)
        return cv2.getAffineTransform(quad[[0, 1, 3]].astype(np.float32), np.float32([[0, 0], [0, size], [size, 0]])).astype(np.float64)
    if framing.alignment == "template":
        m, _ = cv2.estimateAffinePartial2D(points, template_points(framing, size), method=cv2.LMEDS)
        if m is None:
            raise ValueError("the five landmarks do not fit a similarity onto the generator's template")
        return m
    raise ValueError("this generator's framing says nothing of where it draws a face: photos cannot be aligned to it")


def scale_of(m: np.ndarray) -> float:
    """Frame pixels per photo pixel of a similarity."""
    return float(np.sqrt(abs(np.linalg.det(m[:, :2]))))


def aligned_crop(rgb: np.ndarray, m: np.ndarray, size: int, supersample: int = 4) -> np.ndarray:
    """The photo warped into the frame (size x size uint8 RGB): sampled at up to `supersample` x the frame's pixels
    (as many as the photo has) and area-averaged down, so a large face is not aliased; borders reflect."""
    ss = int(np.clip(np.ceil(1 / max(scale_of(m), 1e-9)), 1, supersample))
    big = cv2.warpAffine(rgb, m * ss, (size * ss, size * ss), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    return big if ss == 1 else cv2.resize(big, (size, size), interpolation=cv2.INTER_AREA)


def face_mask(framing: Framing, size: int, cfg: MaskConfig = MaskConfig()) -> np.ndarray:
    """(size, size) float32 in [0, 1]: the feathered ellipse over the face, in frame pixels."""
    pts = template_points(framing, size) if framing.landmarks else _quad_points(size)
    eyes, mouth = pts[:2].mean(0), pts[3:].mean(0)
    eye_d, eye_mouth = np.hypot(*(pts[1] - pts[0])), np.hypot(*(mouth - eyes))
    sigma = cfg.feather * eye_d
    centre = (eyes + mouth) / 2 - [0, cfg.lift * eye_mouth]
    axes = (max(1.0, cfg.width * eye_d - 1.5 * sigma), max(1.0, cfg.height * eye_mouth - 1.5 * sigma))
    ss = 4  # drawn at 4x and averaged down: a smooth edge on a 64-px frame
    canvas = np.zeros((size * ss, size * ss), np.float32)
    cv2.ellipse(canvas, (round(centre[0] * ss), round(centre[1] * ss)), (round(axes[0] * ss), round(axes[1] * ss)), 0, 0, 360, 1.0, -1)
    if sigma > 0:
        canvas = cv2.GaussianBlur(canvas, (0, 0), sigma * ss)
    return cv2.resize(canvas, (size, size), interpolation=cv2.INTER_AREA)


def _quad_points(size: int) -> np.ndarray:
    """Where ffhq_quad puts an upright face whose eye-to-mouth distance equals its eye distance: eyes 1/4 of the side
    apart, 0.025 above the centre (the quad's centre sits 0.1 eye-to-mouth below them), the mouth 1/4 below the eyes."""
    return np.float64([[0.375, 0.475], [0.625, 0.475], [0.5, 0.6], [0.4, 0.725], [0.6, 0.725]]) * size
