"""Random differentiable transformations for the critic steps (expectation over transformations, Athalye et al. 2018):
a label averaged over them can only move by changing the face, not by aligning pixels to a few fixed views.

An `EotDraw` stands where a `Views` does (`names`, `apply`, `mean`), so the ported labelers average over it unchanged.
The distribution's settings are models/labelers/resampling.py EotConfig; the judge's robust figure draws from another.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from models.labelers.resampling import EotConfig


@dataclass(frozen=True)
class Transform:
    """One draw; geometry in 64-px pixels (scaled to the image's resolution when applied)."""

    flip: bool
    scale: float
    angle: float  # degrees
    dx: float
    dy: float
    gain: tuple[float, float, float]
    contrast: float
    blur: float  # sigma, 64-px pixels
    down: float  # size factor of the down-/up-sampling (1: none)
    noise: float  # sigma in [-1, 1] units
    noise_seed: int


@dataclass(frozen=True)
class EotDraw:
    """A step's draws: `apply` stacks them draw-major (M*N images), `mean` averages per-image values back over them."""

    transforms: tuple[Transform, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f"eot{i}" for i in range(len(self.transforms)))

    def apply(self, images: torch.Tensor) -> torch.Tensor:
        return torch.cat([transform(images, t) for t in self.transforms])

    def mean(self, values: torch.Tensor) -> torch.Tensor:
        return values.reshape(len(self.transforms), -1, *values.shape[1:]).mean(0)


def eot_schedule(cfg: EotConfig, steps: int) -> list[EotDraw] | None:
    """Step t's draws from torch.Generator().manual_seed(cfg.seed + t): the same for every batch, job and rerun."""
    if cfg.per_step == 0:
        return None
    return [EotDraw(tuple(draw(cfg, g) for _ in range(cfg.per_step))) for g in (torch.Generator().manual_seed(cfg.seed + t)
                                                                                 for t in range(steps))]


def draw(cfg: EotConfig, g: torch.Generator) -> Transform:
    r = torch.rand(7, generator=g).tolist()
    n = torch.randn(7, generator=g).clamp(-2.5, 2.5).tolist()
    return Transform(flip=r[0] < cfg.flip, scale=math.exp(cfg.log_scale * n[0]), angle=cfg.rotation * n[1],
                     dx=cfg.shift * n[2], dy=cfg.shift * n[3], gain=tuple(math.exp(cfg.gain * v) for v in n[4:7]),
                     contrast=math.exp(cfg.contrast * (2 * r[1] - 1) * 1.7), blur=cfg.blur * r[2],
                     down=0.55 + 0.4 * r[4] if r[3] < cfg.downsample else 1.0, noise=cfg.noise * r[5],
                     noise_seed=int(r[6] * 2**31))


def transform(images: torch.Tensor, t: Transform) -> torch.Tensor:
    """(N,3,H,W) in [-1,1] -> the same, transformed; differentiable with respect to the images."""
    n, _, h, w = images.shape
    px = w / 64.0
    x = images.flip(3) if t.flip else images
    x = F.grid_sample(x, F.affine_grid(_theta(t, w, h, px).expand(n, 2, 3), list(x.shape), align_corners=False),
                      mode="bilinear", padding_mode="reflection", align_corners=False)
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    x = (x - mean) * t.contrast + mean
    x = (x + 1) * torch.tensor(t.gain, dtype=x.dtype, device=x.device).view(1, 3, 1, 1) - 1
    if t.blur > 0.05:
        x = gaussian_blur(x, t.blur * px)
    if t.down < 1.0:  # area down-sampling, bilinear back up: what a thumbnail or a browser's scaling does
        small = F.interpolate(x, size=(max(round(h * t.down), 8), max(round(w * t.down), 8)), mode="area")
        x = F.interpolate(small, size=(h, w), mode="bilinear", align_corners=False)
    if t.noise > 0:
        x = x + t.noise * torch.randn((1, 3, h, w), generator=torch.Generator().manual_seed(t.noise_seed)).to(x)
    return x.clamp(-1, 1)


def _theta(t: Transform, w: int, h: int, px: float) -> torch.Tensor:
    """affine_grid's output->input map (normalised coordinates) of zoom and rotation about the centre, then the shift."""
    a = math.radians(t.angle)
    c, s = math.cos(a) / t.scale, math.sin(a) / t.scale
    tx, ty = 2 * t.dx * px / w, 2 * t.dy * px / h
    return torch.tensor([[c, s, -(c * tx + s * ty)], [-s, c, s * tx - c * ty]], dtype=torch.float32)[None]


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur, reflection-padded, radius ceil(2 sigma)."""
    r = max(1, math.ceil(2 * sigma))
    k = torch.exp(-torch.arange(-r, r + 1, dtype=x.dtype, device=x.device) ** 2 / (2 * sigma**2))
    k = (k / k.sum()).view(1, 1, 1, -1).expand(3, 1, 1, -1)
    x = F.conv2d(F.pad(x, (r, r, 0, 0), mode="reflect"), k, groups=3)
    return F.conv2d(F.pad(x, (0, 0, r, r), mode="reflect"), k.transpose(2, 3), groups=3)
