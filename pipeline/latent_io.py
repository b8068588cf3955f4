"""Latents users bring (.npy, .pt, Parquet; e.g. e4e/ReStyle W+ inversions of real photos)."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

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
            with open(p, "rb") as f:
                arr = read_npy(f, str(p))
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


def read_npy(f: BinaryIO, name: str) -> np.ndarray:
    """The array of a .npy file, never unpickled; a file of another kind (text, a pickle, an .npz) is named as what
    it is, in one line."""
    head = f.read(6)
    f.seek(0)
    if head != b"\x93NUMPY":
        raise ValueError(f"{name} is not a .npy file: it is {_file_kind(f)}")
    try:
        return np.load(f, allow_pickle=False)
    except ValueError as e:
        if "allow_pickle" in str(e):
            raise ValueError(f"{name} holds Python objects (a pickle inside the .npy); save a plain numeric array") from None
        raise ValueError(f"{name} is not a readable .npy: {(str(e).splitlines() or [''])[0]}") from None
    except Exception as e:  # numpy raises OSError, EOFError... for a header it cannot parse
        raise ValueError(f"{name} is not a readable .npy: {(str(e).splitlines() or [''])[0] or type(e).__name__}") from None


def _file_kind(f: BinaryIO) -> str:
    """What a file that is not a .npy looks like, from its first bytes."""
    from models.weights import whole_pickle_globals

    head = f.read(512)
    f.seek(0)
    if head.startswith(b"PK\x03\x04"):
        return "a zip archive (an .npz holds several arrays: save one as .npy)"
    if head[:1] == b"\x80" or whole_pickle_globals(f) is not None:
        return "a pickle (Python objects; save a plain numeric array with numpy.save)"
    text = head.decode("utf-8", "ignore")  # a character cut at byte 512 is dropped, not a reason to call it binary
    readable = text and len(text.encode()) >= len(head) - 3 and all(c.isprintable() or c.isspace() for c in text)
    return "a text file" if readable else f"a file starting with {head[:8]!r}"


def _torch_latents(p: Path) -> tuple[np.ndarray, np.ndarray]:
    """A tensor, or {name: (num_ws, w_dim) tensor} as inversion scripts save them; read with weights only, so a file
    that imports code is refused by name (a CheckpointError is a ValueError: one line from the CLI)."""
    import torch

    from models.weights import not_dense, torch_load

    obj = torch_load(p, "latent")
    if isinstance(obj, dict):
        odd = next(((k, v) for k, v in obj.items() if not isinstance(v, torch.Tensor)), None)
        if odd is not None:
            raise ValueError(f"{p} holds a dict whose entry {odd[0]!r} is a {type(odd[1]).__name__}, not a latent tensor")
        if not obj:
            raise ValueError(f"{p} holds an empty dict, not latents")
        obj = torch.stack(list(obj.values()))
    if not isinstance(obj, torch.Tensor):
        raise ValueError(f"{p} holds a {type(obj).__name__}, not a latent tensor or a dict of them")
    if not_dense(obj):
        raise ValueError(f"{p} holds a sparse, quantized, nested or meta tensor; latents must be a plain dense tensor")
    arr = (obj.float() if obj.is_floating_point() else obj).numpy()  # bool and complex stay so: refused by dtype
    return arr, np.arange(len(arr))


@dataclass(frozen=True)
class ParquetLayout:
    """What a Parquet file of latents holds, from its footer alone (no row is read)."""

    starts: tuple[int, ...]  # first row of each row group, then the row count
    size: int | None  # values per latent when `w` is a fixed-size list (None: variable lists)
    ids: bool  # an `id` column
    labels: tuple[str, ...]  # the other floating columns (known attributes)

    @property
    def rows(self) -> int:
        return self.starts[-1]

    @property
    def largest_group(self) -> int:
        return max((b - a for a, b in zip(self.starts, self.starts[1:])), default=0)


def parquet_layout(path: str | Path) -> ParquetLayout:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        meta = pq.ParquetFile(path).metadata
    except (OSError, pa.ArrowInvalid) as e:
        raise ValueError(f"cannot read latents from {path}: {str(e).splitlines()[0]}") from None
    schema = meta.schema.to_arrow_schema()
    if "w" not in schema.names:
        raise ValueError(f"{path} has no 'w' column (columns: {', '.join(schema.names)})")
    w = schema.field("w").type
    starts = np.concatenate([[0], np.cumsum([meta.row_group(g).num_rows for g in range(meta.num_row_groups)])])
    return ParquetLayout(tuple(int(s) for s in starts), w.list_size if pa.types.is_fixed_size_list(w) else None, "id" in schema.names,
                         tuple(c for c in schema.names if c not in ("w", "id") and pa.types.is_floating(schema.field(c).type)))


def nonfinite_rows(path: str | Path, limit: int = 10) -> tuple[int, list[int]]:
    """(how many latents hold NaN or Inf, the first `limit` of their rows), row groups decoded side by side on the
    machine's cores (pyarrow and numpy let go of the GIL; 2 threads scanned 1.4-1.7x faster here): the check without
    holding the file in memory (a fixed-size `w` column), one row group per thread at a time."""

    offsets = parquet_layout(path).starts  # first row of each row group
    threads = min(os.cpu_count() or 1, 8)  # more would hold more row groups at once for little gain
    with ThreadPoolExecutor(threads) as pool:  # map keeps row-group order: the first rows listed are the file's first
        bad = np.concatenate([np.zeros(0, np.int64), *pool.map(lambda g: _nonfinite_in_group(path, g) + offsets[g], range(len(offsets) - 1))])
    return len(bad), bad[:limit].tolist()


def _nonfinite_in_group(path: str | Path, group: int) -> np.ndarray:
    """Rows of one row group (counted from its start) whose latent holds NaN or Inf."""
    import pyarrow.parquet as pq

    col, bad, off = pq.ParquetFile(path).read_row_group(group, columns=["w"], use_threads=False).column("w"), [], 0
    for chunk in col.chunks:
        rows = chunk.flatten().to_numpy().reshape(len(chunk), -1)
        with np.errstate(over="ignore", invalid="ignore"):  # NaN and Inf survive a row's sum: a cheap first pass
            maybe = np.nonzero(~np.isfinite(rows.sum(axis=1)))[0]
        bad.append(maybe[~np.isfinite(rows[maybe]).all(axis=1)] + off)  # exact on those (a sum can overflow on finite values)
        off += len(chunk)
    return np.concatenate([np.zeros(0, np.int64), *bad])


def _parquet_latents(p: Path) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Row group by row group into one array: reading the whole table and then joining its chunks took 3-7x longer
    for 1 M latents here, nearly all of it faulting in fresh memory for the two extra copies."""
    import pyarrow.parquet as pq

    layout = parquet_layout(p)
    pf = pq.ParquetFile(p)
    scalars = list(layout.labels)
    cols = ["w", *(["id"] if layout.ids else []), *scalars]
    fixed = layout.size is not None
    arr = np.empty((layout.rows, layout.size), np.float32) if fixed else None
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
