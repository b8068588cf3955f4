"""A face to edit: from a seed (the generator's prior), a held-out dataset row, or an uploaded .npy latent."""

from __future__ import annotations

import io

import numpy as np


def parse_source(source: str) -> tuple[str, str]:
    """"seed:42" | "row:1230" | "upload:<token>" -> (kind, value); one-line errors for anything else."""
    kind, sep, value = source.partition(":")
    if not sep or kind not in ("seed", "row", "upload") or not value:
        raise ValueError(f"unknown face {source!r}: expected seed:<n>, row:<seed> or upload:<token>")
    if kind in ("seed", "row") and not (value.isdigit() and int(value) < 2**31):
        raise ValueError(f"{kind} must be a non-negative integer below 2^31, got {value!r}")
    return kind, value


def parse_upload(data: bytes, shape: tuple[int, ...], limit: int) -> np.ndarray:
    """An uploaded .npy as one latent of `shape` (float32). W (w_dim,) is broadcast to W+ (num_ws, w_dim); a leading
    batch axis of 1 is dropped. Read with allow_pickle=False: a pickle is refused, never run."""
    if not data:
        raise ValueError("the uploaded file is empty")
    if len(data) > limit:
        raise ValueError(f"the uploaded file is {len(data)} bytes; the limit is {limit} (--max-upload-bytes)")
    try:
        arr = np.load(io.BytesIO(data), allow_pickle=False)
    except ValueError as e:
        if "allow_pickle" in str(e):
            raise ValueError("the uploaded file holds Python objects (a pickle); upload a plain numeric .npy") from None
        raise ValueError(f"the uploaded file is not a readable .npy: {str(e).splitlines()[0]}") from None
    except Exception as e:  # numpy raises OSError, EOFError, zipfile errors... for files that are not .npy
        raise ValueError(f"the uploaded file is not a readable .npy: {(str(e).splitlines() or [''])[0] or type(e).__name__}") from None
    if not isinstance(arr, np.ndarray):
        raise ValueError("the uploaded file is an .npz archive; upload one latent as a .npy")
    if arr.dtype.kind not in "fiu":
        raise ValueError(f"the uploaded .npy must hold numbers, got {arr.dtype}")
    w = _fit_shape(arr, shape)
    if not np.isfinite(w).all():
        raise ValueError("the uploaded latent contains NaN or Inf")
    return w.astype(np.float32)


def _fit_shape(arr: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    a = arr[0] if arr.ndim == len(shape) + 1 and arr.shape[0] == 1 else arr
    if a.shape == shape:
        return a
    if len(shape) == 2 and a.shape == shape[1:]:  # one W for every layer of W+
        return np.broadcast_to(a, shape).copy()
    want = f"{shape}" + (f" or a W latent ({shape[1]},)" if len(shape) == 2 else "")
    raise ValueError(f"the uploaded latent has shape {arr.shape}; this mapper edits latents of shape {want}")
