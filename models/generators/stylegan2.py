"""StyleGAN2 generator (Karras et al., CVPR 2020, config F) in plain PyTorch: no custom CUDA ops.

Mapping: pixel norm + equalized-lr MLP. Synthesis: a learned 4x4 constant, modulated/demodulated 3x3 convs
(2x up via transposed conv + FIR blur), per-layer noise, and skip ToRGB outputs summed across scales.
Checkpoint formats live in models/generators/stylegan2_ckpt.py; this file only knows the network.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from models.generators.framing import FFHQ, Framing
from models.generators.interface import NOISE_MODES, broadcast_ws

_SQRT2 = math.sqrt(2.0)


def official_channels(resolution: int, channel_multiplier: int = 2, channel_max: int = 512) -> tuple[tuple[int, int], ...]:
    """The published width table: min(channel_max, 16384 * multiplier / res) per resolution 4..resolution."""
    if resolution < 4 or resolution & (resolution - 1):
        raise ValueError(f"resolution must be a power of two >= 4, got {resolution}")
    res = [2**i for i in range(2, int(math.log2(resolution)) + 1)]
    return tuple((r, min(channel_max, 16384 * channel_multiplier // r)) for r in res)


@dataclass(frozen=True)
class StyleGAN2Config:
    """Shape of a StyleGAN2 generator; loaders read every field they can from the checkpoint's tensors."""

    resolution: int = 1024  # output side in pixels, a power of two >= 4
    z_dim: int = 512  # input latent size
    w_dim: int = 512  # intermediate latent (W) size, also the mapping's hidden width
    n_mlp: int = 8  # number of mapping layers
    lr_mlp: float = 0.01  # equalized-lr multiplier of the mapping layers (not stored in rosinality files)
    channels: tuple[tuple[int, int], ...] = ()  # (resolution, width) for 4..resolution; () = official table
    blur_kernel: tuple[int, ...] = (1, 3, 3, 1)  # 1-D FIR resampling filter (outer product, normalised)
    conv_clamp: float | None = None  # clamp conv outputs to +-X; NVlabs ada trains with 256
    noise_mode: str = "const"  # default noise: "const" stored buffers, "random" fresh, "none"

    def __post_init__(self) -> None:
        if not self.channels:
            object.__setattr__(self, "channels", official_channels(self.resolution))
        object.__setattr__(self, "channels", tuple((int(r), int(c)) for r, c in self.channels))
        if min(self.z_dim, self.w_dim, self.n_mlp) < 1 or self.lr_mlp <= 0:
            raise ValueError(f"z_dim, w_dim, n_mlp and lr_mlp must be positive, got {self}")
        want = [r for r, _ in official_channels(self.resolution)]
        if [r for r, _ in self.channels] != want or min(c for _, c in self.channels) < 1:
            raise ValueError(f"channels must give a positive width for each resolution {want}, got {self.channels}")
        if len(self.blur_kernel) % 2 or not self.blur_kernel or sum(self.blur_kernel) <= 0:
            raise ValueError(f"blur_kernel must have an even number of taps and a positive sum, got {self.blur_kernel}")
        if self.conv_clamp is not None and self.conv_clamp <= 0:
            raise ValueError(f"conv_clamp must be positive or None, got {self.conv_clamp}")
        if self.noise_mode not in NOISE_MODES:
            raise ValueError(f"noise_mode must be one of {NOISE_MODES}, got {self.noise_mode!r}")

    @property
    def num_ws(self) -> int:
        """One w per conv and one for the last ToRGB: 2*log2(res) - 2 (18 at 1024, 8 at 32)."""
        return 2 * int(math.log2(self.resolution)) - 2


def fir_kernel(taps: tuple[int, ...], gain: float = 1.0) -> torch.Tensor:
    """2-D separable FIR filter from 1-D taps, normalised to sum `gain` (gain 4 keeps DC after 2x upsampling)."""
    k = torch.tensor(taps, dtype=torch.float32)
    k = torch.outer(k, k)
    return k * (gain / k.sum())


def _blur(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Depthwise FIR after the stride-2 transposed conv: upfirdn2d padding ((L-4)/2 + 1) per side, L even."""
    c, taps = x.shape[1], kernel.shape[0]
    w = kernel.flip(0, 1).to(x.dtype)[None, None].expand(c, 1, taps, taps)  # a convolution flips its kernel
    return F.conv2d(x, w, padding=(taps - 4) // 2 + 1, groups=c)


def _upsample2x(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """upfirdn2d(x, kernel, up=2, pad=(L/2, L/2 - 1)) for even L taps, as one stride-2 transposed conv (skip path)."""
    c, taps = x.shape[1], kernel.shape[0]
    w = kernel.to(x.dtype)[None, None].expand(c, 1, taps, taps)
    return F.conv_transpose2d(x, w, stride=2, padding=taps // 2 - 1, groups=c)


class EqualLinear(nn.Module):
    """Equalized-lr dense layer: y = x (W lr/sqrt(in))^T + b lr, optionally leaky ReLU(0.2) with gain sqrt(2)."""

    def __init__(self, d_in: int, d_out: int, lr_mul: float = 1.0, bias_init: float = 0.0, act: bool = False) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(d_out, d_in) / lr_mul)
        self.bias = nn.Parameter(torch.full((d_out,), float(bias_init)))
        self.scale, self.lr_mul, self.act = lr_mul / math.sqrt(d_in), lr_mul, act

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.linear(x, self.weight * self.scale, self.bias * self.lr_mul)
        return F.leaky_relu(x, 0.2) * _SQRT2 if self.act else x


class StyledConv(nn.Module):
    """Modulated 3x3 conv (optionally 2x up), noise, bias, leaky ReLU: one StyleGAN2 synthesis layer (Fig. 2c)."""

    def __init__(self, c_in: int, c_out: int, res: int, up: bool, cfg: StyleGAN2Config) -> None:
        super().__init__()
        self.affine = EqualLinear(cfg.w_dim, c_in, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(c_out, c_in, 3, 3))
        self.bias = nn.Parameter(torch.zeros(c_out))
        self.noise_strength = nn.Parameter(torch.zeros(()))
        self.register_buffer("noise_const", torch.randn(res, res))
        self.register_buffer("blur", fir_kernel(cfg.blur_kernel, 4.0), persistent=False)
        self.scale, self.up, self.res, self.clamp = 1 / math.sqrt(c_in * 9), up, res, cfg.conv_clamp

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise_mode: str) -> torch.Tensor:
        fmt = torch.channels_last if x.is_contiguous(memory_format=torch.channels_last) else torch.contiguous_format
        styles = self.affine(w)
        weight = self.weight * self.scale
        # Demodulation (eq. 3) without per-sample weights: sum_i s_i^2 sum_k W_oik^2 for each sample and output.
        dcoefs = (styles.square() @ weight.square().sum((2, 3)).t() + 1e-8).rsqrt()
        x = x * styles[:, :, None, None]
        if self.up:
            up_weight = weight.transpose(0, 1).contiguous(memory_format=fmt)  # a mixed layout takes oneDNN's slow path
            x = _blur(F.conv_transpose2d(x, up_weight, stride=2), self.blur)
        else:
            x = F.conv2d(x, weight, padding=1)
        # leaky_relu(v) sqrt2 == leaky_relu(v sqrt2): fold the gain into scale and shift, one pass over x.
        shift = self.bias[None, :, None, None]
        if noise_mode == "const":
            shift = shift + self.noise_strength * self.noise_const
        shift = (shift * _SQRT2).contiguous(memory_format=fmt)  # else the sum comes out NCHW
        x = torch.addcmul(shift, x, dcoefs[:, :, None, None] * _SQRT2)
        if noise_mode == "random":
            x = x + (self.noise_strength * _SQRT2) * torch.randn(x.shape[0], 1, self.res, self.res, device=x.device, dtype=x.dtype)
        x = F.leaky_relu(x, 0.2, inplace=True)
        return x.clamp(-self.clamp, self.clamp) if self.clamp is not None else x


class ToRGB(nn.Module):
    """Modulated 1x1 conv to RGB (no demodulation) plus bias; adds the 2x-upsampled skip image."""

    def __init__(self, c_in: int, cfg: StyleGAN2Config) -> None:
        super().__init__()
        self.affine = EqualLinear(cfg.w_dim, c_in, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(3, c_in, 1, 1))
        self.bias = nn.Parameter(torch.zeros(3))
        self.register_buffer("up_kernel", fir_kernel(cfg.blur_kernel, 4.0), persistent=False)
        self.scale, self.clamp = 1 / math.sqrt(c_in), cfg.conv_clamp

    def forward(self, x: torch.Tensor, w: torch.Tensor, skip: torch.Tensor | None) -> torch.Tensor:
        weight = self.weight[None, :, :, 0, 0] * (self.affine(w) * self.scale)[:, None, :]  # (N, 3, C) per sample
        n, c, h, wd = x.shape
        if x.is_contiguous(memory_format=torch.channels_last):  # NHWC: (N, HW, C) @ (N, C, 3), no copy of x
            rows = x.permute(0, 2, 3, 1).reshape(n, h * wd, c)
            y = torch.baddbmm(self.bias[None, None, :], rows, weight.transpose(1, 2)).reshape(n, h, wd, 3).permute(0, 3, 1, 2)
        else:
            y = torch.baddbmm(self.bias[None, :, None], weight, x.reshape(n, c, h * wd)).reshape(n, 3, h, wd)
        if self.clamp is not None:
            y = y.clamp(-self.clamp, self.clamp)
        return y if skip is None else y + _upsample2x(skip, self.up_kernel)


class StyleGAN2(nn.Module):
    """z (N, z_dim) -> w (N, w_dim) -> RGB images (N, 3, res, res), roughly in [-1, 1] and not clamped.

    `w_avg` is the truncation centre; `w_avg_source` says whether it came from the checkpoint or was estimated.
    """

    name = "stylegan2"
    framing: Framing = FFHQ

    def __init__(self, cfg: StyleGAN2Config = StyleGAN2Config(), generator_id: str = "stylegan2-untrained") -> None:
        super().__init__()
        self.cfg, self.generator_id, self.w_avg_source = cfg, generator_id, "zeros (not set)"
        self.z_dim, self.w_dim, self.resolution, self.num_ws = cfg.z_dim, cfg.w_dim, cfg.resolution, cfg.num_ws
        dims = [cfg.z_dim] + [cfg.w_dim] * cfg.n_mlp
        self.fcs = nn.ModuleList(EqualLinear(a, b, cfg.lr_mlp, act=True) for a, b in zip(dims[:-1], dims[1:]))
        self.register_buffer("w_avg", torch.zeros(cfg.w_dim))
        widths = dict(cfg.channels)
        self.const = nn.Parameter(torch.randn(widths[4], 4, 4))
        self.convs = nn.ModuleList([StyledConv(widths[4], widths[4], 4, False, cfg)])
        self.to_rgbs = nn.ModuleList([ToRGB(widths[4], cfg)])
        for res in [r for r, _ in cfg.channels[1:]]:
            self.convs.append(StyledConv(widths[res // 2], widths[res], res, True, cfg))
            self.convs.append(StyledConv(widths[res], widths[res], res, False, cfg))
            self.to_rgbs.append(ToRGB(widths[res], cfg))

    def mapping(self, z: torch.Tensor, psi: float = 1.0) -> torch.Tensor:
        """W latents (N, w_dim); psi < 1 pulls them toward `w_avg` (the truncation trick): w_avg + psi (w - w_avg)."""
        if z.ndim != 2 or z.shape[1] != self.z_dim:
            raise ValueError(f"expected z of shape (N, {self.z_dim}), got {tuple(z.shape)}")
        x = z * (z.square().mean(dim=1, keepdim=True) + 1e-8).rsqrt()  # pixel norm
        for fc in self.fcs:
            x = fc(x)
        return x if psi == 1.0 else self.w_avg + psi * (x - self.w_avg)

    def synthesis(self, ws: torch.Tensor, noise_mode: str | None = None) -> torch.Tensor:
        """Images from W (N, w_dim) or W+ (N, num_ws, w_dim); noise_mode None = the config's (default "const")."""
        mode = self.cfg.noise_mode if noise_mode is None else noise_mode
        if mode not in NOISE_MODES:
            raise ValueError(f"noise_mode must be one of {NOISE_MODES}, got {mode!r}")
        ws = broadcast_ws(ws, self.num_ws, self.w_dim)
        x = self.const.unsqueeze(0).expand(ws.shape[0], -1, -1, -1)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        x = self.convs[0](x, ws[:, 0], mode)
        img = self.to_rgbs[0](x, ws[:, 1], None)
        for k in range(1, len(self.to_rgbs)):
            x = self.convs[2 * k - 1](x, ws[:, 2 * k - 1], mode)
            x = self.convs[2 * k](x, ws[:, 2 * k], mode)
            img = self.to_rgbs[k](x, ws[:, 2 * k + 1], img)
        return img.contiguous()

    @property
    def channels_last(self) -> bool:
        """NHWC activations once the conv weights are (gen.to(memory_format=torch.channels_last)): 1.4-1.9x faster
        on CPU (oneDNN), slower on CUDA in fp32."""
        w = self.convs[0].weight
        return w.is_contiguous(memory_format=torch.channels_last) and not w.is_contiguous()

    def forward(self, ws: torch.Tensor, noise_mode: str | None = None) -> torch.Tensor:
        return self.synthesis(ws, noise_mode)  # torch.func.functional_call renders through here (models/inversion/tuned.py)

    @torch.no_grad()
    def estimate_w_avg(self, n: int = 4096, seed: int = 0, chunk: int = 1024) -> torch.Tensor:
        """Set and return `w_avg` as the mean of mapping(z) over n z ~ N(0, I) from a CPU torch.Generator(seed).

        Deterministic: the same weights, n and seed give the same w_avg on any device and batch split (up to
        float summation order). Used when a checkpoint carries no average (rosinality files usually don't).
        """
        if n < 1 or chunk < 1:
            raise ValueError(f"n and chunk must be positive, got n={n}, chunk={chunk}")
        gen = torch.Generator(device="cpu").manual_seed(seed)
        z = torch.randn(n, self.z_dim, generator=gen)
        dev = self.w_avg.device
        total = sum(self.mapping(z[i : i + chunk].to(dev)).double().sum(0) for i in range(0, n, chunk))
        self.w_avg.copy_((total / n).to(self.w_avg.dtype))
        self.w_avg_source = f"estimated: mean mapping of {n} z (torch.Generator seed {seed})"
        return self.w_avg
