"""A photo's face onto a generator's framing and back: the 2x3 similarity from five landmarks, the aligned crop, the
inverse warp of a render into the photo and the feathered mask that blends it in."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import cv2
import numpy as np

if TYPE_CHECKING:  # the type only: the configs here are read by the CLI before torch loads
    from models.generators.framing import Framing



REGIONS = ("face", "change", "frame")


@dataclass(frozen=True)
class MaskConfig:
    """The blend mask, drawn in the frame: an ellipse over brows to chin from the framing's landmarks, feathered, and (by
    `region`) wherever the edit changed the render."""

    # face: the ellipse alone (it kept 0.13-0.28 of a male edit in the output photo: the labelers read hair and jaw too);
    # change: the ellipse and every pixel the edit changed; frame: the whole square less its border
    region: str = "change"
    width: float = 1.05  # ellipse half-width, in eye distances (cheek to cheek)
    height: float = 1.15  # ellipse half-height, in eye-to-mouth distances (brows to chin)
    lift: float = 0.05  # centre raised from the eyes-mouth midpoint, in eye-to-mouth distances
    feather: float = 0.2  # Gaussian sigma of the edge, in eye distances (the ellipse shrinks by 1.5 sigma first)
    change_level: float = 6.0  # grey levels of the (blurred) edit - reconstruction difference at which a pixel is fully in
    border: float = 0.02  # share of the frame's side left out at each edge (change, frame), before a 2.5 % feather

    def __post_init__(self) -> None:
        if self.region not in REGIONS:
            raise ValueError(f"--paste.mask.region must be one of {', '.join(REGIONS)}, got {self.region!r}")
        if min(self.width, self.height, self.change_level) <= 0 or self.feather < 0 or not 0 <= self.border < 0.4:
            raise ValueError(f"mask needs positive width, height and change level, feather >= 0, border in [0, 0.4), got {self}")


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


def frame_mask(size: int, cfg: MaskConfig = MaskConfig()) -> np.ndarray:
    """(size, size) float32: the square less `border` at each edge, feathered (sigma 2.5 % of the side, so the mask is
    ~0.02 at the frame's edge: the render does not end in a step)."""
    sigma = 0.025 * size
    inset = int(round(size * cfg.border + 2 * sigma))
    canvas = np.zeros((size, size), np.float32)
    canvas[inset:size - inset, inset:size - inset] = 1.0
    return cv2.GaussianBlur(canvas, (0, 0), sigma)


def change_map(edit: np.ndarray, recon: np.ndarray, blur: float) -> np.ndarray:
    """(H, W) float32: how far the edit moved each pixel of the render (grey levels, channel mean), Gaussian-blurred by
    `blur` of the side (what the mask takes in and where the paste's detail fades)."""
    diff = np.abs(edit.astype(np.float32) - recon.astype(np.float32)).mean(2)
    return cv2.GaussianBlur(diff, (0, 0), blur * diff.shape[0])


def blend_mask(framing: Framing, size: int, cfg: MaskConfig = MaskConfig(), edit: np.ndarray | None = None,
               recon: np.ndarray | None = None) -> np.ndarray:
    """(size, size) float32 in [0, 1]: the mask `cfg.region` asks for; `change` needs the edit and reconstruction renders
    (any size: their blurred difference is scaled to `size`) and is the ellipse alone without them."""
    face = face_mask(framing, size, cfg)
    if cfg.region == "face":
        return face
    frame = frame_mask(size, cfg)
    if cfg.region == "frame":
        return frame
    if edit is None or recon is None:
        return face
    changed = np.clip(change_map(edit, recon, 0.03) / cfg.change_level, 0, 1)
    changed = cv2.resize(changed, (size, size), interpolation=cv2.INTER_LINEAR)
    return np.maximum(face, changed * frame)


def _quad_points(size: int) -> np.ndarray:
    """Where ffhq_quad puts an upright face whose eye-to-mouth distance equals its eye distance: eyes 1/4 of the side
    apart, 0.025 above the centre (the quad's centre sits 0.1 eye-to-mouth below them), the mouth 1/4 below the eyes."""
    return np.float64([[0.375, 0.475], [0.625, 0.475], [0.5, 0.6], [0.4, 0.725], [0.6, 0.725]]) * size
