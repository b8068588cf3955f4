"""A face rendered in the generator's frame, back into the full-resolution photo: the inverse of the alignment's
similarity, a feathered mask (the face and wherever the edit changed the render), and either the render (replace,
colour matched to the photo through the reconstruction; detail: plus the photo's detail finer than the frame) or only
the edit's change (delta). Pixels outside the mask's support are the photo's own."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import cv2
import numpy as np

from models.faces.align import MaskConfig, aligned_crop, blend_mask, change_map

if TYPE_CHECKING:  # the type only: the configs here are read by the CLI before torch loads
    from models.generators.framing import Framing

MODES = ("replace", "detail", "delta")


@dataclass(frozen=True)
class PasteConfig:
    """How an edited face goes back into its photo."""

    # replace: the render, colour matched (the edit at full strength, the generator's face, as sharp as its frame);
    # detail: replace, plus the photo's detail finer than the frame holds (the labelers' frame reads the render, a
    # viewer sees the photo's skin and hair); delta: photo + the edit's change
    mode: str = "detail"
    mask: MaskConfig = field(default_factory=MaskConfig)
    colour: bool = True  # replace, detail: per-channel gain and offset taking the reconstruction to the photo, applied to the edit
    # detail: the photo's detail fades out where the edit changed the render by this many grey levels (a moved hair line
    # left a pale double edge where the photo's old edge was added to the render's new one)
    detail_fade: float = 24.0

    def __post_init__(self) -> None:
        if self.detail_fade <= 0:
            raise ValueError(f"--paste.detail-fade must be > 0, got {self.detail_fade}")
        if self.mode not in MODES:
            raise ValueError(f"--paste.mode must be one of {', '.join(MODES)}, got {self.mode!r}")


def region(m: np.ndarray, size: int, shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1): the photo pixels the frame covers (its corners through the inverse similarity), clipped."""
    inv = cv2.invertAffineTransform(m)
    corners = np.float64([[0, 0, 1], [size, 0, 1], [0, size, 1], [size, size, 1]]) @ inv.T
    x0, y0 = np.floor(corners.min(0)).astype(int) - 2
    x1, y1 = np.ceil(corners.max(0)).astype(int) + 2
    return max(x0, 0), max(y0, 0), min(x1, shape[1]), min(y1, shape[0])


def to_photo(frame: np.ndarray, m: np.ndarray, box: tuple[int, int, int, int], interpolation: int = cv2.INTER_CUBIC) -> np.ndarray:
    """A frame-sized float image warped onto the photo region `box` (float32, the region's height x width)."""
    x0, y0, x1, y1 = box
    shifted = np.vstack([m, [0, 0, 1]]) @ np.float64([[1, 0, x0], [0, 1, y0], [0, 0, 1]])  # region pixels -> frame pixels
    return cv2.warpAffine(np.float32(frame), shifted[:2], (x1 - x0, y1 - y0), flags=interpolation | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_REPLICATE)


def photo_mask(framing: Framing, size: int, m: np.ndarray, box: tuple[int, int, int, int], cfg: MaskConfig,
               edit: np.ndarray | None = None, recon: np.ndarray | None = None) -> np.ndarray:
    """The blend mask on the photo region, (h, w) float32 in [0, 1] (drawn at 4x the frame, so the edge is smooth)."""
    big = blend_mask(framing, size * 4, cfg, edit, recon)
    x0, y0, x1, y1 = box
    scaled = np.diag([4.0, 4.0, 1.0]) @ np.vstack([m, [0, 0, 1]]) @ np.float64([[1, 0, x0], [0, 1, y0], [0, 0, 1]])
    return cv2.warpAffine(big, scaled[:2], (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def frame_round_trip(photo: np.ndarray, m: np.ndarray, size: int, box: tuple[int, int, int, int]) -> np.ndarray:
    """The photo region as the frame holds it: aligned into `size` px and warped back (what is left of it is detail
    finer than the frame)."""
    crop = aligned_crop(np.clip(np.round(photo), 0, 255).astype(np.uint8), m, size)
    return to_photo(crop, m, box)


def detail_weight(edit: np.ndarray, recon: np.ndarray, m: np.ndarray, box: tuple[int, int, int, int], fade: float) -> np.ndarray:
    """(h, w, 1) in [0, 1] on the photo region: 1 where the edit left the render alone, 0 where it changed it by `fade`."""
    return np.clip(1 - to_photo(change_map(edit, recon, 0.02), m, box, cv2.INTER_LINEAR) / fade, 0, 1)[..., None]


def colour_fit(src: np.ndarray, dst: np.ndarray, weight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel gain and offset taking `src` to `dst` in mean and spread, weighted by the mask."""
    w = weight[..., None] / max(float(weight.sum()), 1e-6)
    ms, md = (src * w).sum((0, 1)), (dst * w).sum((0, 1))
    ss = np.sqrt(((src - ms) ** 2 * w).sum((0, 1))) + 1e-3
    sd = np.sqrt(((dst - md) ** 2 * w).sum((0, 1)))
    gain = np.clip(sd / ss, 0.5, 2.0)
    return gain, md - gain * ms


def paste_face(photo: np.ndarray, edit: np.ndarray, recon: np.ndarray, m: np.ndarray, framing: Framing, cfg: PasteConfig,
               mask_edit: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, tuple[int, int, int, int]]:
    """`photo` (H, W, 3) float32 0..255 with one face's edit (frame uint8) blended in place; returns it, the region's mask
    and the region. `mask_edit` (default `edit`) draws the mask's changed region: pasting the reconstruction with the
    edit's mask gives the baseline the edit is read against."""
    size = edit.shape[0]
    box = region(m, size, photo.shape)
    x0, y0, x1, y1 = box
    if x1 <= x0 or y1 <= y0:
        return photo, np.zeros((0, 0), np.float32), box
    mask = photo_mask(framing, size, m, box, cfg.mask, edit if mask_edit is None else mask_edit, recon)
    part = photo[y0:y1, x0:x1]
    edit_r, recon_r = to_photo(edit, m, box), to_photo(recon, m, box)
    if cfg.mode == "delta":
        new = part + (edit_r - recon_r)
    else:
        # detail: the render stands for the photo as the frame holds it, so its colour is fitted to that
        held = frame_round_trip(photo, m, size, box) if cfg.mode == "detail" else part
        gain, offset = colour_fit(recon_r, held, mask) if cfg.colour else (np.ones(3), np.zeros(3))
        keep = detail_weight(edit, recon, m, box, cfg.detail_fade) if cfg.mode == "detail" else 1.0
        new = edit_r * gain + offset + (part - held) * keep
    photo[y0:y1, x0:x1] = part * (1 - mask[..., None]) + np.clip(new, 0, 255) * mask[..., None]
    return photo, mask, box


def seam_change(before: np.ndarray, after: np.ndarray, mask: np.ndarray, box: tuple[int, int, int, int]) -> float:
    """Mean absolute change (grey levels) on the ring where the mask fades out (0.05 < mask < 0.5): how visible the seam is."""
    x0, y0, x1, y1 = box
    ring = (mask > 0.05) & (mask < 0.5)
    if not ring.any():
        return 0.0
    diff = np.abs(after[y0:y1, x0:x1].astype(np.float32) - before[y0:y1, x0:x1].astype(np.float32)).mean(2)
    return float(diff[ring].mean())
