"""The edit job's input rows, one output shard at a time: from a dataset's Parquet shards (read where they lie), from
a Parquet file of latents a user brings (read by row group where the workers can see it) or from latents the driver
read (columns it put in the object store). numpy, pyarrow and Ray only: the task workers that read them never import
torch."""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import ray

from stages.seeds import held_out


def vectors(column: pa.ChunkedArray | pa.Array, shape: tuple[int, ...]) -> np.ndarray:
    """A list column -> (N, *shape) float32; fixed-size lists (the project's own files) without a per-row copy."""
    col = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if pa.types.is_fixed_size_list(col.type) and col.null_count == 0:
        flat = col.flatten().to_numpy(zero_copy_only=False)
    else:
        flat = np.concatenate([np.asarray(v, np.float32).reshape(-1) for v in col.to_pylist()]) if len(col) else np.zeros(0)
    return flat.astype(np.float32, copy=False).reshape(len(col), *shape)


@dataclass(frozen=True)
class DatasetRows:
    """A dataset's rows at positions [lo, hi): id = seed, position = seed - start, w in its native shape, the original's
    identity and labels as src_<attr>; only the positions the job edits (the held-out rule, below `stop`)."""

    files: tuple[tuple[str, int, int], ...]  # (Parquet path, first position, end position) per dataset shard
    filesystem: Any  # pyarrow filesystem the paths are on (credentials travel in it)
    start: int  # the dataset's first seed
    attrs: tuple[str, ...]
    shape: tuple[int, ...]
    holdout_every: int | None  # keep only the held-out rows under this rule (stages/seeds.py held_out; None: every row)
    stop: int  # positions from here on are not edited (--max-rows)

    def rows(self, lo: int, hi: int) -> dict[str, np.ndarray]:
        hi = min(hi, self.stop)
        tables = [pq.read_table(path, filesystem=self.filesystem, columns=["seed", "w", "identity", *self.attrs])
                  for path, a, b in self.files if a < hi and b > lo]
        table = pa.concat_tables(tables) if tables else None
        seeds = table.column("seed").to_numpy() if table else np.zeros(0, np.int64)
        pos = seeds - self.start
        keep = (pos >= lo) & (pos < hi) & (held_out(seeds, self.holdout_every) if self.holdout_every else True)
        order = np.nonzero(keep)[0][np.argsort(pos[keep], kind="stable")]
        out = {"id": seeds[order], "position": pos[order]}
        out["w"] = vectors(table.column("w"), self.shape)[order] if table else np.zeros((0, *self.shape), np.float32)
        out["identity_src"] = vectors(table.column("identity"), (-1,))[order] if table else np.zeros((0, 1), np.float32)
        out.update({f"src_{a}": (table.column(a).to_numpy() if table else np.zeros(0)).astype(np.float32)[order] for a in self.attrs})
        return out


@dataclass(frozen=True)
class ParquetRows:
    """Latents a user brings in a Parquet file every worker can open: each call reads only the row groups that hold
    positions [lo, hi), so neither the driver nor the object store holds the whole file. A row's position is its
    index; id from an `id` column (else the position); labels as src_<attr>."""

    path: str
    starts: tuple[int, ...]  # first position of each row group, then the file's row count
    shape: tuple[int, ...]
    attrs: tuple[str, ...]  # label columns the mapper reads (empty: the file has none for it)
    ids: bool  # the file has an `id` column
    stop: int  # positions from here on are not edited (--max-rows)

    def rows(self, lo: int, hi: int) -> dict[str, np.ndarray]:
        hi = min(hi, self.stop)
        if hi <= lo:
            return {"position": np.zeros(0, np.int64), "id": np.zeros(0, np.int64), "w": np.zeros((0, *self.shape), np.float32),
                    **{f"src_{a}": np.zeros(0, np.float32) for a in self.attrs}}
        first, end = bisect.bisect_right(self.starts, lo) - 1, bisect.bisect_left(self.starts, hi)
        cols = ["w", *(["id"] if self.ids else []), *self.attrs]
        table = pq.ParquetFile(self.path).read_row_groups(range(first, end), columns=cols, use_threads=False)
        table = table.slice(lo - self.starts[first], hi - lo)
        position = np.arange(lo, hi, dtype=np.int64)
        out = {"position": position, "id": table.column("id").to_numpy().astype(np.int64) if self.ids else position,
               "w": vectors(table.column("w"), self.shape)}
        out.update({f"src_{a}": table.column(a).to_numpy().astype(np.float32) for a in self.attrs})
        return out


@dataclass(frozen=True)
class StoredRows:
    """Latents a user brings: the driver read the file (it need not be visible to the workers) and put its columns
    in the object store; a row's position is its index. Slices are zero-copy views of the store."""

    cols: Any  # ObjectRef of {name: (N, ...) array}; id, w and any src_<attr>

    def rows(self, lo: int, hi: int) -> dict[str, np.ndarray]:
        data = ray.get(self.cols) if isinstance(self.cols, ray.ObjectRef) else self.cols
        hi = min(hi, len(data["id"]))
        return {"position": np.arange(lo, max(lo, hi), dtype=np.int64), **{k: v[lo:hi] for k, v in data.items()}}


def shard_rows(batch: dict[str, np.ndarray], source: DatasetRows | ParquetRows | StoredRows, size: int, chunk: int) -> Iterator[dict[str, np.ndarray]]:
    """Shard indices -> the input rows of each (positions [i * size, (i + 1) * size)), at most `chunk` rows a batch."""
    for i in np.asarray(batch["index"]).tolist():
        rows = source.rows(i * size, (i + 1) * size)
        for lo in range(0, len(rows["position"]), chunk):
            yield {k: v[lo:lo + chunk] for k, v in rows.items()}
