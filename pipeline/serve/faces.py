"""A face to edit: from a seed (the generator's prior), a held-out dataset row, or an uploaded .npy latent."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

import numpy as np
import torch

from pipeline.latent_io import read_npy
from stages.latents import seed_z

if TYPE_CHECKING:
    from models.generators.interface import Generator

PRIOR_SEEDS = 1000  # latents of the generator's prior that set its scale
BOUND_FACTOR = 10  # how far beyond the largest of them an upload may go: inversions wander past the prior, not 10x


def parse_source(source: str) -> tuple[str, str]:
    """"seed:42" | "row:1230" | "upload:<token>" -> (kind, value); one-line errors for anything else."""
    kind, sep, value = source.partition(":")
    if not sep or kind not in ("seed", "row", "upload") or not value:
        raise ValueError(f"unknown face {source!r}: expected seed:<n>, row:<seed> or upload:<token>")
    if kind in ("seed", "row") and not (value.isdigit() and int(value) < 2**31):
        raise ValueError(f"{kind} must be a non-negative integer below 2^31, got {value!r}")
    return kind, value


def latent_bound(gen: Generator, n: int = PRIOR_SEEDS) -> float:
    """BOUND_FACTOR times the largest |coordinate| of the latents the generator's prior gives: w = mapping(z) at psi 1
    for z ~ N(0, I) from seeds 0..n-1 (the DCGAN's w is z itself: about 4.4 over 1000 x 100 draws, so 44)."""
    z = torch.from_numpy(seed_z(np.arange(n), gen.z_dim))
    with torch.inference_mode():
        return BOUND_FACTOR * float(gen.mapping(z).abs().max())


def parse_upload(data: bytes, shape: tuple[int, ...], limit: int, bound: float) -> np.ndarray:
    """An uploaded .npy as one latent of `shape` (float32). W (w_dim,) is broadcast to W+ (num_ws, w_dim); a leading
    batch axis of 1 is dropped. Read without pickle: a pickle is refused, never run. A value beyond +-`bound`
    (latent_bound) is refused: the generator never produced anything like it."""
    if not data:
        raise ValueError("the uploaded file is empty")
    if len(data) > limit:
        raise ValueError(f"the uploaded file is {len(data)} bytes; the limit is {limit} (--max-upload-bytes)")
    arr = read_npy(io.BytesIO(data), "the uploaded file")
    if arr.dtype.kind not in "fiu":
        raise ValueError(f"the uploaded .npy must hold numbers, got {arr.dtype}")
    w = _fit_shape(arr, shape)
    if not np.isfinite(w).all():
        raise ValueError("the uploaded latent contains NaN or Inf")
    big = float(np.abs(w).max(initial=0.0))
    if big > bound:
        raise ValueError(f"the uploaded latent holds a value of {big:.3g}; this generator's latents are refused beyond "
                         f"+-{bound:.3g} ({BOUND_FACTOR}x the largest value over {PRIOR_SEEDS} seeds of its prior)")
    return w.astype(np.float32)


def _fit_shape(arr: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    a = arr[0] if arr.ndim == len(shape) + 1 and arr.shape[0] == 1 else arr
    if a.shape == shape:
        return a
    if len(shape) == 2 and a.shape == shape[1:]:  # one W for every layer of W+
        return np.broadcast_to(a, shape).copy()
    want = f"{shape}" + (f" or a W latent ({shape[1]},)" if len(shape) == 2 else "")
    raise ValueError(f"the uploaded latent has shape {arr.shape}; this mapper edits latents of shape {want}")
