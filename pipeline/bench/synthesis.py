"""StyleGAN2 synthesis throughput under common PyTorch inference settings, all measured in one process.

Variants: `baseline` (eval + no_grad), `inference_mode`, `channels_last` (inference_mode + channels-last
weights), `compile` (inference_mode + torch.compile; its first call, the compile, is reported apart). Ratios
are images/s against the baseline of the same run; outputs are checked against the baseline's images.
"""

from __future__ import annotations

import copy
import statistics
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import torch

from models.generators.stylegan2 import StyleGAN2, StyleGAN2Config, official_channels

VARIANTS = ("baseline", "inference_mode", "channels_last", "compile")


def bench_generator(resolution: int, width_scale: float, seed: int = 0) -> StyleGAN2:
    """A random-weight StyleGAN2 with the official widths times `width_scale` (at least 16 channels)."""
    torch.manual_seed(seed)  # random init draws from the global generator
    channels = tuple((r, max(16, round(c * width_scale))) for r, c in official_channels(resolution))
    return StyleGAN2(StyleGAN2Config(resolution=resolution, channels=channels)).eval().requires_grad_(False)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(fn: Callable[[torch.Tensor], torch.Tensor], ws: torch.Tensor, ctx: Callable[[], AbstractContextManager],
           repeats: int) -> tuple[float, list[float], torch.Tensor]:
    """(first call seconds, later call seconds, output); the first call warms caches or compiles."""
    times, out = [], None
    for _ in range(repeats + 1):
        _sync(ws.device)
        start = time.perf_counter()
        with ctx():
            out = fn(ws)
        _sync(ws.device)
        times.append(time.perf_counter() - start)
    return times[0], times[1:], out.float().cpu()


def _variant(name: str, gen: StyleGAN2) -> tuple[Callable[[torch.Tensor], torch.Tensor], Callable[[], AbstractContextManager]]:
    if name == "baseline":
        return gen.synthesis, torch.no_grad
    if name == "inference_mode":
        return gen.synthesis, torch.inference_mode
    if name == "channels_last":
        return copy.deepcopy(gen).to(memory_format=torch.channels_last).synthesis, torch.inference_mode
    if name == "compile":
        return torch.compile(gen.synthesis, dynamic=False), torch.inference_mode
    raise ValueError(f"unknown variant {name!r} (choose from {VARIANTS})")


def _bench_resolution(gen: StyleGAN2, ws: torch.Tensor, repeats: int, variants: tuple[str, ...]) -> dict[str, Any]:
    rows: dict[str, dict[str, Any]] = {}
    reference = None
    for name in variants:
        try:
            fn, ctx = _variant(name, gen)
            first, times, img = _timed(fn, ws, ctx, repeats)
        except Exception as e:  # torch.compile needs a working compiler toolchain; record why it failed
            rows[name] = {"error": f"{type(e).__name__}: {(str(e).splitlines() or [''])[0][:300]}"}
            continue
        reference = img if reference is None else reference
        median = statistics.median(times)
        rows[name] = {"images_per_s": ws.shape[0] / median, "median_s": median, "best_s": min(times),
                      "first_call_s": first, "max_abs_diff_vs_first": (img - reference).abs().max().item()}
    base = rows.get(variants[0], {}).get("images_per_s")
    for row in rows.values():
        if base and "images_per_s" in row:
            row["ratio_vs_baseline"] = row["images_per_s"] / base
    return rows


def bench_synthesis(resolutions: tuple[int, ...] = (64, 256), batch: int = 8, repeats: int = 3, device: str = "cpu",
                    width_scale: float | None = None, variants: tuple[str, ...] = VARIANTS) -> dict[str, Any]:
    """Images/s of StyleGAN2 synthesis (W input, const noise) per resolution and variant.

    width_scale None = 0.25 on CPU (the whole run stays near a minute on 2 cores, compiles included) and 1.0
    (official config-F widths) elsewhere. The first variant is the baseline the ratios refer to.
    """
    if batch < 1 or repeats < 1 or not variants:
        raise ValueError(f"batch and repeats must be positive and variants non-empty, got {batch}, {repeats}, {variants}")
    dev = torch.device(device)
    scale = width_scale if width_scale is not None else (0.25 if dev.type == "cpu" else 1.0)
    report: dict[str, Any] = {"device": str(dev), "torch": torch.__version__, "threads": torch.get_num_threads(),
                              "batch": batch, "repeats": repeats, "width_scale": scale, "resolutions": {}}
    if dev.type == "cuda":
        report["gpu"] = torch.cuda.get_device_name(dev)
    start = time.perf_counter()
    for res in resolutions:
        gen = bench_generator(res, scale).to(dev)
        ws = torch.randn(batch, gen.w_dim, generator=torch.Generator().manual_seed(res)).to(dev)
        report["resolutions"][str(res)] = {"channels": [list(c) for c in gen.cfg.channels],
                                           "variants": _bench_resolution(gen, ws, repeats, variants)}
        torch._dynamo.reset()  # drop compiled graphs before the next size
    report["total_s"] = time.perf_counter() - start
    return report
