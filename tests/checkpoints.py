"""Tiny, seeded generator checkpoints in the real file formats, for tests that need a StyleGAN2 quickly."""

from __future__ import annotations

from pathlib import Path

import torch

from models.generators.stylegan2 import StyleGAN2, StyleGAN2Config
from models.generators.stylegan2_ckpt import save_nvlabs_pkl, save_rosinality


def tiny_channels(resolution: int, top: int = 64) -> tuple[tuple[int, int], ...]:
    """Small widths halving with resolution (top at 4 and 8 px, never below 8)."""
    res = [2**i for i in range(2, resolution.bit_length())]
    return tuple((r, max(8, min(top, top * 8 // r))) for r in res)


def tiny_stylegan2(resolution: int = 32, w_dim: int = 64, channels: tuple[tuple[int, int], ...] | None = None,
                   n_mlp: int = 4, seed: int = 0, conv_clamp: float | None = None) -> StyleGAN2:
    """A StyleGAN2 whose every tensor (biases, noise strengths, noise buffers included) is random and non-zero,
    so each path of the network changes the output; the same seed gives the same weights."""
    cfg = StyleGAN2Config(resolution=resolution, z_dim=w_dim, w_dim=w_dim, n_mlp=n_mlp,
                          channels=channels or tiny_channels(resolution), conv_clamp=conv_clamp)
    gen = StyleGAN2(cfg, generator_id=f"stylegan2-tiny{resolution}-seed{seed}")
    rng = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in gen.state_dict().items():  # persistent tensors only: the FIR filters stay as they are
            noise = torch.randn(t.shape, generator=rng)
            if name.endswith("affine.bias"):
                t.copy_(1.0 + 0.2 * noise)  # styles near 1, as trained networks have
            elif name.endswith(("bias", "noise_strength")):
                t.copy_(0.2 * noise)
            elif name != "w_avg":
                t.copy_(noise)
        gen.estimate_w_avg(n=512)
    return gen.eval().requires_grad_(False)


def write_tiny_rosinality(path: str | Path, **kwargs) -> Path:
    """tiny_stylegan2(**kwargs) saved as a rosinality `.pt` (with latent_avg)."""
    return save_rosinality(tiny_stylegan2(**kwargs), path)


def write_tiny_nvlabs(path: str | Path, **kwargs) -> Path:
    """tiny_stylegan2(**kwargs) saved as an NVlabs network pickle."""
    return save_nvlabs_pkl(tiny_stylegan2(**kwargs), path)
