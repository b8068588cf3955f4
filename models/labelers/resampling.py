"""The two random resampling distributions an edit is held to, kept apart: the judge's (Pillow on 8-bit images,
non-differentiable: what a kept face goes through) and the critic steps' (torch, differentiable: models/labelers/eot.py).

Torch-free, so the commands parse (and refuse) these settings before any model loads. The two differ in family,
parameterisation and seed stream, so no critic step ever optimises on a draw the judge's robust figure is read on.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageEnhance, ImageFilter


@dataclass(frozen=True)
class ResampleConfig:
    """The judge's robust figure: `draws` random resamplings per face, the same for before and after, drawn from `seed`
    and the face's index alone (uniform ranges; bicubic affine with edge padding, Pillow's blur and real JPEG)."""

    draws: int = 4  # resamplings read per face (labels averaged over them)
    seed: int = 37  # the judge's own stream: the critic steps' EOT draws from torch generators, never from this
    scale: float = 0.1  # zoom about the centre, uniform in 1 +- scale
    rotation: float = 5.0  # degrees, uniform in +-rotation
    shift: float = 4.0  # pixels of a 64-px image, uniform in +-shift per axis (scaled to the resolution)
    brightness: float = 0.1  # Pillow brightness factor, uniform in 1 +- brightness
    contrast: float = 0.1  # Pillow contrast factor, uniform in 1 +- contrast
    blur: float = 0.6  # Gaussian blur radius in 64-px pixels, uniform in [0, blur]
    jpeg: tuple[int, int] = (60, 95)  # JPEG quality, uniform integer in [low, high]

    def __post_init__(self) -> None:
        if self.draws < 1:
            raise ValueError(f"--robust.draws must be >= 1, got {self.draws}")
        if not 0 <= self.scale < 1 or min(self.rotation, self.shift, self.brightness, self.contrast, self.blur) < 0:
            raise ValueError(f"the robust resampling's ranges must be >= 0 (scale < 1), got {self}")
        if not 1 <= self.jpeg[0] <= self.jpeg[1] <= 100:
            raise ValueError(f"--robust.jpeg is a quality range within [1, 100], got {self.jpeg}")


def resample(images: np.ndarray, cfg: ResampleConfig) -> np.ndarray:
    """(N,H,W,3) uint8 -> (draws*N,H,W,3) uint8, draw-major; face i's draws depend on (seed, i) only."""
    if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
        raise ValueError(f"expected uint8 images of shape (N, H, W, 3), got {images.dtype} {images.shape}")
    params = [_draws(cfg, i) for i in range(len(images))]
    return np.stack([_one(images[i], params[i][k], cfg) for k in range(cfg.draws) for i in range(len(images))])


def _draws(cfg: ResampleConfig, index: int) -> list[dict[str, float]]:
    rng = np.random.default_rng([cfg.seed, index])
    u = lambda r: float(rng.uniform(-r, r))  # noqa: E731
    return [{"scale": 1 + u(cfg.scale), "angle": u(cfg.rotation), "dx": u(cfg.shift), "dy": u(cfg.shift),
             "brightness": 1 + u(cfg.brightness), "contrast": 1 + u(cfg.contrast), "blur": float(rng.uniform(0, cfg.blur)),
             "quality": int(rng.integers(cfg.jpeg[0], cfg.jpeg[1] + 1))} for _ in range(cfg.draws)]


def _one(image: np.ndarray, p: dict[str, float], cfg: ResampleConfig) -> np.ndarray:
    """One resampling: affine (edge-padded so no black corner appears), brightness, contrast, blur, JPEG."""
    h, w = image.shape[:2]
    px = w / 64.0
    pad = h // 4
    big = Image.fromarray(np.pad(image, ((pad, pad), (pad, pad), (0, 0)), mode="edge"))
    out = big.transform(big.size, Image.Transform.AFFINE, _inverse(p, big.size, px), resample=Image.Resampling.BICUBIC)
    out = out.crop((pad, pad, pad + w, pad + h))
    out = ImageEnhance.Contrast(ImageEnhance.Brightness(out).enhance(p["brightness"])).enhance(p["contrast"])
    if p["blur"] > 0:
        out = out.filter(ImageFilter.GaussianBlur(p["blur"] * px))
    buf = io.BytesIO()
    out.save(buf, format="JPEG", quality=p["quality"])
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))


def _inverse(p: dict[str, float], size: tuple[int, int], px: float) -> tuple[float, ...]:
    """Pillow's AFFINE data: the output->input map of zoom `scale` and rotation about the centre, then the shift."""
    cx, cy = size[0] / 2, size[1] / 2
    a = math.radians(p["angle"])
    c, s = math.cos(a) / p["scale"], math.sin(a) / p["scale"]
    tx, ty = p["dx"] * px, p["dy"] * px
    # input = R^-1 S^-1 (output - centre - t) + centre
    return (c, s, cx - c * (cx + tx) - s * (cy + ty), -s, c, cy + s * (cx + tx) - c * (cy + ty))


@dataclass(frozen=True)
class EotConfig:
    """The critic steps' transformation distribution (expectation over transformations, Athalye et al. 2018): `per_step`
    draws, new at every step, shared by every face of a step (so an edit depends on its row alone), from torch generators
    seeded by `seed` + step. Normal (clipped) where the judge draws uniform; bilinear with reflection where it is
    bicubic with edge padding; down-/up-sampling and pixel noise where it blurs with Pillow and re-encodes as JPEG."""

    per_step: int = 8  # draws each critic step averages over (0: no EOT, the views of --refine.views instead)
    seed: int = 1000  # step t draws from torch.Generator().manual_seed(seed + t)
    flip: float = 0.5  # chance a draw is mirrored
    log_scale: float = 0.07  # zoom exp(N(0, log_scale)), clipped at 2.5 sigma
    rotation: float = 4.0  # degrees, N(0, rotation) clipped at 2.5 sigma
    shift: float = 2.5  # 64-px pixels per axis, N(0, shift) clipped at 2.5 sigma (sub-pixel: grid_sample)
    gain: float = 0.06  # per-channel gain exp(N(0, gain)): colour and brightness
    contrast: float = 0.08  # contrast about the image mean, exp(N(0, contrast))
    blur: float = 0.9  # Gaussian blur sigma in 64-px pixels, uniform in [0, blur]
    downsample: float = 0.5  # chance a draw is sampled down to a random 0.55..0.95 of its size and back up
    noise: float = 0.02  # pixel noise sigma in [-1, 1] units, uniform in [0, noise] (quantisation, re-encoding)
    paired: bool = True  # each draw reads the change against the original under the same draw, as the robust figure does

    def __post_init__(self) -> None:
        if self.per_step < 0 or not 0 <= self.flip <= 1 or not 0 <= self.downsample <= 1:
            raise ValueError(f"--refine.eot.per-step must be >= 0, flip and downsample chances in [0, 1], got {self}")
        if min(self.log_scale, self.rotation, self.shift, self.gain, self.contrast, self.blur, self.noise) < 0:
            raise ValueError(f"the EOT distribution's spreads must be >= 0, got {self}")
