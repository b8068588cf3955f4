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
    return np.asarray(ids, np.int64), arr.astype(np.float32, copy=False), extra


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
    """Row group by row group into one array: reading the whole table and then joining its chunks took 3-7x longer
    for 1 M latents here, nearly all of it faulting in fresh memory for the two extra copies."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(p)
    schema = pf.schema_arrow
    if "w" not in schema.names:
        raise ValueError(f"{p} has no 'w' column (columns: {', '.join(schema.names)})")
    scalars = [c for c in schema.names if c not in ("w", "id") and pa.types.is_floating(schema.field(c).type)]
    cols = ["w", *(["id"] if "id" in schema.names else []), *scalars]
    fixed = pa.types.is_fixed_size_list(schema.field("w").type)
    n = pf.metadata.num_rows
    arr = np.empty((n, schema.field("w").type.list_size), np.float32) if fixed else None
    parts: dict[str, list[np.ndarray]] = {c: [] for c in cols}
    off = 0
    for g in range(pf.num_row_groups):
        table = pf.read_row_group(g, columns=cols, use_threads=False)
        for chunk in table.column("w").chunks:
            if fixed:  # fast path: one flat buffer per chunk
                arr[off:off + len(chunk)] = chunk.flatten().to_numpy().reshape(len(chunk), -1)
            else:
                parts["w"].append(np.stack([np.asarray(v, np.float32) for v in chunk.to_pylist()]) if len(chunk) else np.zeros((0, 0), np.float32))
            off += len(chunk)
        for c in cols[1:]:
            parts[c].append(table.column(c).to_numpy())
    if not fixed:
        arr = np.concatenate(parts["w"]) if off else np.zeros((0, 0), np.float32)
    ids = np.concatenate(parts["id"]) if "id" in cols and off else np.arange(off)
    return arr, ids, {c: np.concatenate(parts[c]) if off else np.zeros(0, np.float32) for c in scalars}
