"""Shard files: the dataset's and the edit job's layouts (which shard a row goes to), their Parquet + WebDataset
encoders, the writer. numpy and pyarrow only: the writer actor never imports torch."""

from __future__ import annotations

import io
import json
import tarfile
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline import names
from pipeline.storage import Store


@dataclass(frozen=True)
class ShardPlan:
    """Shard i holds seeds [seed_start + i*size, min(seed_start + (i+1)*size, seed_start + num_samples))."""

    seed_start: int
    num_samples: int
    size: int

    @property
    def count(self) -> int:
        return -(-self.num_samples // self.size)

    def seeds(self, index: int) -> tuple[int, int]:
        lo = self.seed_start + index * self.size
        return lo, min(lo + self.size, self.seed_start + self.num_samples)

    def index_of(self, seeds: np.ndarray) -> np.ndarray:
        return (seeds - self.seed_start) // self.size

    # the layout protocol of ShardWriter and pipeline/sharded_job.py
    def indices(self) -> range:
        return range(self.count)

    def shard_of(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        return self.index_of(batch["seed"])

    def row_keys(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        return np.asarray(batch["seed"], np.int64)

    def expected(self, index: int) -> int:
        lo, hi = self.seeds(index)
        return hi - lo

    def bounds(self, index: int) -> tuple[int, int]:
        return self.seeds(index)


@dataclass(frozen=True)
class EditLayout:
    """Shard i holds input positions [i*size, (i+1)*size); each input row gives `variants` output rows."""

    size: int
    counts: tuple[int, ...]  # input rows present in each shard
    variants: int

    # the layout protocol of ShardWriter and pipeline/sharded_job.py
    def indices(self) -> list[int]:
        return [i for i, c in enumerate(self.counts) if c]

    def shard_of(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        return batch["position"] // self.size

    def row_keys(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        return np.asarray(batch["position"], np.int64) * self.variants + np.asarray(batch["variant"], np.int64)

    def expected(self, index: int) -> int:
        return self.counts[index] * self.variants

    def bounds(self, index: int) -> tuple[int, int]:
        return index * self.size, (index + 1) * self.size


@dataclass(frozen=True)
class ShardSchema:
    """What a row holds; the manifest records it."""

    attributes: tuple[str, ...]
    z_dim: int
    latent_shape: tuple[int, ...]
    identity_dim: int
    generator_id: str
    image_format: str  # png | jpg | none

    def arrow(self) -> pa.Schema:
        vec = lambda n: pa.list_(pa.float32(), n)  # noqa: E731  fixed-size lists read as arrays everywhere
        fields = [pa.field("seed", pa.int64()), pa.field("z", vec(self.z_dim)),
                  pa.field("w", vec(int(np.prod(self.latent_shape))))]
        fields += [pa.field(a, pa.float32()) for a in self.attributes]
        fields += [pa.field("identity", vec(self.identity_dim)), pa.field("generator_id", pa.string())]
        if self.image_format != "none":
            fields.append(pa.field("image", pa.string()))  # "wds/shard-XXXXXX.tar#<key>.<ext>"
        return pa.schema(fields)


def fixed_list(values: np.ndarray, n: int) -> pa.Array:
    """(N, ...) values as a fixed-size list column of n float32 each (read back as arrays everywhere)."""
    flat = np.ascontiguousarray(values, dtype=np.float32).reshape(len(values), n)
    return pa.FixedSizeListArray.from_arrays(pa.array(flat.reshape(-1)), n)


def table_bytes(table: pa.Table) -> bytes:
    """Parquet: vector columns (latents, embeddings) snappy, the rest zstd; dictionaries for the string columns only
    (on floats they cost time and grow the file). zstd saved ~9 % on float vectors for 5x the CPU to write and 4x
    to read, which on a mapper-only edit job is half the mapper's own time."""
    buf = pa.BufferOutputStream()
    strings = [f.name for f in table.schema if pa.types.is_string(f.type)]
    codec = {f.name: "snappy" if pa.types.is_fixed_size_list(f.type) else "zstd" for f in table.schema}
    pq.write_table(table, buf, compression=codec, use_dictionary=strings)
    return buf.getvalue().to_pybytes()


def tar_members(members: list[tuple[str, bytes]]) -> bytes:
    """An uncompressed tar with mtime 0, so the same rows give the same bytes."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def npy_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array)
    return buf.getvalue()


def parquet_bytes(rows: dict[str, np.ndarray], schema: ShardSchema, index: int) -> bytes:
    arrow = schema.arrow()
    cols: dict[str, pa.Array] = {"seed": pa.array(rows["seed"], pa.int64())}
    for name in ("z", "w", "identity"):
        cols[name] = fixed_list(rows[name], arrow.field(name).type.list_size)
    for a in schema.attributes:
        cols[a] = pa.array(np.asarray(rows[a], np.float32))
    cols["generator_id"] = pa.array([schema.generator_id] * len(rows["seed"]), pa.string())
    if schema.image_format != "none":
        tar = names.tar_path(index)
        cols["image"] = pa.array([f"{tar}#{names.sample_key(int(s))}.{schema.image_format}" for s in rows["seed"]])
    return table_bytes(pa.table(cols, schema=arrow))


def tar_bytes(rows: dict[str, np.ndarray], schema: ShardSchema) -> bytes:
    """WebDataset shard: per key `.{png|jpg}` image, `.npy` latent (native shape), `.json` labels."""
    members = []
    for i, seed in enumerate(rows["seed"].tolist()):
        key = names.sample_key(seed)
        labels = {"seed": seed, "generator_id": schema.generator_id}
        labels.update({a: float(rows[a][i]) for a in schema.attributes})
        if schema.image_format != "none":
            members.append((f"{key}.{schema.image_format}", bytes(rows["image_bytes"][i])))
        w = np.asarray(rows["w"][i], np.float32).reshape(schema.latent_shape)
        members += [(f"{key}.npy", npy_bytes(w)), (f"{key}.json", json.dumps(labels).encode())]
    return tar_members(members)


def dataset_shard_files(rows: dict[str, np.ndarray], index: int, schema: ShardSchema) -> dict[str, bytes]:
    order = np.argsort(rows["seed"], kind="stable")
    rows = {k: v[order] for k, v in rows.items()}
    return {"parquet": parquet_bytes(rows, schema, index), "wds": tar_bytes(rows, schema)}


def edit_shard_files(rows: dict[str, np.ndarray], index: int, meta: dict[str, Any]) -> dict[str, bytes]:
    """Parquet with every numeric column (latents flattened) + a WebDataset tar keyed id_variant."""
    order = np.lexsort((rows["variant"], rows["position"]))
    if (order != np.arange(len(order))).any():  # a shard task's rows come in order: no copy of every column
        rows = {k: v[order] for k, v in rows.items()}
    n, fmt = len(order), meta["image_format"]
    cols: dict[str, pa.Array] = {}
    for k, v in rows.items():
        if k in ("image_bytes", "image"):
            continue
        cols[k] = fixed_list(v, int(np.prod(v.shape[1:]))) if v.ndim > 1 else pa.array(v)
    cols["mapper_id"] = pa.array([meta["mapper_id"]] * n, pa.string())
    if not meta["webdataset"]:  # no tar: no per-row keys to format
        return {"parquet": table_bytes(pa.table(cols))}
    keys = [f"{i:012d}_{v:03d}" for i, v in zip(rows["id"].tolist(), rows["variant"].tolist())]
    if "image_bytes" in rows:
        cols["image"] = pa.array([f"{names.tar_path(index)}#{k}.{fmt}" for k in keys])
    return {"parquet": table_bytes(pa.table(cols)), "wds": edit_tar_bytes(rows, keys, fmt)}


def edit_tar_bytes(rows: dict[str, np.ndarray], keys: list[str], fmt: str) -> bytes:
    members = []
    scalars = [k for k, v in rows.items() if v.ndim == 1 and k != "image_bytes"]
    for i, key in enumerate(keys):
        if "image_bytes" in rows:
            members.append((f"{key}.{fmt}", bytes(rows["image_bytes"][i])))
        labels = {k: rows[k][i].item() for k in scalars}
        members += [(f"{key}.npy", npy_bytes(np.asarray(rows["w"][i], np.float32))), (f"{key}.json", json.dumps(labels).encode())]
    return tar_members(members)


def write_shard(store: Store, index: int, files: dict[str, bytes], rows: int, bounds: tuple[int, int],
                units: int | None = None) -> dict[str, Any]:
    """Both data files first (each atomically), then the stats file that commits the shard. `units`: the layout's input
    rows the shard covers, where they are not its rows (photos, whose rows are faces)."""
    paths = {"parquet": names.parquet_path(index), "wds": names.tar_path(index)}
    written = {kind: store.write_atomic(paths[kind], data) for kind, data in files.items()}
    stats = {"index": index, "name": names.shard_stem(index), "seeds": list(bounds), "rows": rows, "files": written}
    if units is not None:
        stats["units"] = units
    store.write_json(names.stats_path(index), stats)
    return stats


def layout_units(layout: Any, rows: dict[str, np.ndarray]) -> int | None:
    """How many of the layout's input rows `rows` cover, for layouts whose output rows are not one per input row (None: the
    rows themselves are the units)."""
    return layout.units(rows) if hasattr(layout, "units") else None


def concat_rows(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Batches of one shard's rows -> one batch ({} for none)."""
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]} if parts else {}


def num_rows(batch: dict[str, np.ndarray]) -> int:
    return len(next(iter(batch.values()))) if batch else 0


def stats_rows(written: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    """What a writing stage emits: one row {shard, stats (JSON)} per shard it committed (run_to_end reads them)."""
    return {"shard": np.array([s["index"] for s in written], dtype=np.int64),
            "stats": np.array([json.dumps(s) for s in written], dtype=object)}


class ShardWriter:
    """Last stage of a job (an actor): buffers rows per shard, writes a shard once it is whole.

    `layout` says which shard a row belongs to, a unique key per row, and how many rows make a shard whole
    (ShardPlan, EditLayout); `encode(rows, index) -> {"parquet": bytes, "wds": bytes}`. Emits {"shard", "stats"}
    per written shard. Lives in pipeline/ because it does I/O.
    """

    def __init__(self, uri: str, layout: Any, encode: Any) -> None:
        self.store, self.layout, self.encode = Store(uri), layout, encode
        self.parts: dict[int, list[dict[str, np.ndarray]]] = {}
        self.seen: dict[int, set[int]] = {}  # row keys per shard: a retried block cannot add a row twice

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        shards, keys = self.layout.shard_of(batch), self.layout.row_keys(batch)
        written = []
        for shard in np.unique(shards).tolist():
            seen = self.seen.setdefault(shard, set())
            fresh = np.array([k not in seen for k in keys[shards == shard].tolist()], dtype=bool)
            sel = np.nonzero(shards == shard)[0][fresh]
            seen.update(keys[sel].tolist())
            self.parts.setdefault(shard, []).append({k: v[sel] for k, v in batch.items()})
            if len(seen) == self.layout.expected(shard):
                rows = concat_rows(self.parts.pop(shard))
                written.append(write_shard(self.store, shard, self.encode(rows, shard), len(seen), self.layout.bounds(shard)))
        return stats_rows(written)


class ShardTask:
    """A whole chain for one shard in one actor call: the shard's input rows read where they lie
    (`source.rows(*layout.bounds(i))`), `stage` applied `batch_size` rows at a time, the shard encoded and committed by
    this actor. For chains whose models every actor can hold (the mapper-only edit, the dataset's --one-pool): no row
    crosses the object store and every actor writes. Emits {"shard", "stats"} as ShardWriter does.
    """

    def __init__(self, uri: str, layout: Any, encode: Any, source: Any, stage: Any, stage_kwargs: dict[str, Any],
                 batch_size: int, device: str) -> None:
        self.store, self.layout, self.encode, self.source = Store(uri), layout, encode, source
        self.stage, self.batch_size = stage(**stage_kwargs, device=device), batch_size

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        written = []
        for shard in np.asarray(batch["index"]).tolist():
            rows = self.source.rows(*self.layout.bounds(shard))
            n, bs = num_rows(rows), self.batch_size
            parts = [self.stage({k: v[lo:lo + bs] for k, v in rows.items()}) for lo in range(0, n, bs)]
            out = concat_rows(parts)
            units = layout_units(self.layout, out)
            got = num_rows(out) if units is None else units
            if got != self.layout.expected(shard):
                raise RuntimeError(f"shard {shard}: {got} rows from its input, {self.layout.expected(shard)} expected")
            written.append(write_shard(self.store, shard, self.encode(out, shard), num_rows(out), self.layout.bounds(shard), units))
        return stats_rows(written)
