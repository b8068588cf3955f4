"""Latents users bring (.npy, .pt, Parquet; e.g. e4e/ReStyle W+ inversions of real photos)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def load_latents(path: str) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """(ids (N,) int64, latents (N, ...) float32, other numeric Parquet columns such as known attributes);
    one-line errors for unreadable or non-numeric files."""
    extra: dict[str, np.ndarray] = {}
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"latents file not found: {p}")
    try:
        if p.suffix == ".npy":
            arr = np.load(p, allow_pickle=False)
            ids = np.arange(len(arr))
        elif p.suffix in (".pt", ".pth"):
            arr, ids = _torch_latents(p)
        elif p.suffix == ".parquet":
            arr, ids, extra = _parquet_latents(p)
        else:
            raise ValueError(f"unknown latents format {p.suffix!r} (use .npy, .pt or .parquet)")
    except (OSError, RuntimeError, KeyError, EOFError) as e:
        raise ValueError(f"cannot read latents from {p}: {str(e).splitlines()[0]}") from None
    if arr.dtype.kind not in "fiu" or arr.ndim not in (2, 3) or len(arr) == 0:
        raise ValueError(f"latents in {p} must be a non-empty (N, w_dim) or (N, num_ws, w_dim) array, got {arr.dtype} {arr.shape}")
    return np.asarray(ids, np.int64), arr.astype(np.float32), extra


def _torch_latents(p: Path) -> tuple[np.ndarray, np.ndarray]:
    import torch

    obj = torch.load(p, map_location="cpu", weights_only=True)
    if isinstance(obj, dict):  # {name: (num_ws, w_dim)} as inversion scripts save them
        obj = torch.stack([torch.as_tensor(v) for v in obj.values()])
    if not isinstance(obj, torch.Tensor):
        raise ValueError(f"{p} holds a {type(obj).__name__}, not a latent tensor or a dict of them")
    arr = obj.float().numpy()
    return arr, np.arange(len(arr))


def _parquet_latents(p: Path) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pq.read_table(p)
    if "w" not in table.column_names:
        raise ValueError(f"{p} has no 'w' column (columns: {', '.join(table.column_names)})")
    w = table.column("w").combine_chunks()
    if pa.types.is_fixed_size_list(w.type):  # fast path: one flat buffer
        arr = w.flatten().to_numpy().reshape(len(w), w.type.list_size)
    else:
        arr = np.stack([np.asarray(v, np.float32) for v in w.to_pylist()])
    ids = np.asarray(table.column("id").to_numpy() if "id" in table.column_names else np.arange(len(arr)))
    extra = {c: table.column(c).to_numpy() for c in table.column_names
             if c not in ("w", "id") and pa.types.is_floating(table.schema.field(c).type)}
    return arr, ids, extra
