"""Face crop and resize for each generator's framing: the one place that knows where the face is."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class Framing:
    """Where the face sits in a generator's image, as fractions of height and width.

    `box` is (top, left, bottom, right) of a square-ish region holding the inner face (brows to chin),
    the region face-recognition and attribute networks expect after alignment.
    """

    box: tuple[float, float, float, float] = (0.0, 0.0, 1.0, 1.0)
    # how a photo's face is aligned to this framing (models/faces/align.py): "ffhq-quad" (FFHQ's oriented square from the
    # eyes and mouth), "template" (a similarity onto `landmarks`) or "" (photos cannot be aligned to it)
    alignment: str = ""
    # the five points (x, y as fractions of width and height) in YuNet's order where this generator draws them: eyes,
    # nose tip, mouth corners (the DCGAN's were measured on its own renders; tests/models/faces re-measures them)
    landmarks: tuple[tuple[float, float], ...] = ()

    def __post_init__(self) -> None:
        top, left, bottom, right = self.box
        if not (0.0 <= top < bottom <= 1.0 and 0.0 <= left < right <= 1.0):
            raise ValueError(f"framing box {self.box} is not inside the unit square")
        if self.alignment not in ("", "ffhq-quad", "template") or (self.alignment == "template") != (len(self.landmarks) == 5):
            raise ValueError(f"framing alignment {self.alignment!r} with {len(self.landmarks)} landmarks: 'template' takes 5, "
                             "'ffhq-quad' and '' none")


# FFHQ-aligned StyleGAN2 images: pSp/e4e's ArcFace crop (35:223, 32:220 of 256).
FFHQ = Framing(box=(35 / 256, 32 / 256, 223 / 256, 220 / 256), alignment="ffhq-quad")
# The gan-face-generate DCGAN (DigiFace-1M chips): the face fills the frame, hair at the top. Its landmarks: the mean of
# YuNet's five points over 250 of its renders (seeds 0-255, upsampled 4x; 2 px spread per point), in 64-px units / 64.
DIGIFACE_POINTS_PX = ((22.75, 29.47), (41.64, 29.75), (30.92, 41.56), (24.25, 50.96), (39.43, 51.34))
DIGIFACE = Framing(box=(0.06, 0.06, 0.98, 0.94), alignment="template",
                   landmarks=tuple((x / 64, y / 64) for x, y in DIGIFACE_POINTS_PX))
FULL = Framing()


def check_images(images: torch.Tensor) -> None:
    """Labelers take float NCHW RGB in [-1, 1]; anything else is a one-line error."""
    if not isinstance(images, torch.Tensor):
        raise ValueError(f"expected a torch image batch (N, 3, H, W), got {type(images).__name__}")
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"expected an image batch of shape (N, 3, H, W), got {tuple(images.shape)}")
    if not images.is_floating_point():
        raise ValueError(f"expected float images in [-1, 1], got dtype {images.dtype}")
    if images.shape[0] == 0 or images.shape[2] < 8 or images.shape[3] < 8:
        raise ValueError(f"image batch {tuple(images.shape)} is empty or smaller than 8x8")
    if not bool(torch.isfinite(images.detach()).all()):
        raise ValueError(f"image batch {tuple(images.shape)} contains NaN or infinite values")


def crop_resize(
    images: torch.Tensor, framing: Framing, size: int | tuple[int, int], margin: float = 0.0
) -> torch.Tensor:
    """Crop the framing box (grown by `margin` of its size per side) and resize to `size`.

    Differentiable, so losses can flow through it; the box is clamped to the image.
    """
    check_images(images)
    _, _, h, w = images.shape
    top, left, bottom, right = framing.box
    dh, dw = (bottom - top) * margin, (right - left) * margin
    y0, x0 = round(max(top - dh, 0.0) * h), round(max(left - dw, 0.0) * w)
    y1, x1 = max(round(min(bottom + dh, 1.0) * h), y0 + 1), max(round(min(right + dw, 1.0) * w), x0 + 1)
    crop = images[:, :, y0:y1, x0:x1]
    out = (size, size) if isinstance(size, int) else size
    if tuple(crop.shape[2:]) == tuple(out):
        return crop
    return F.interpolate(crop, size=out, mode="bilinear", align_corners=False, antialias=True)
