"""Shard files: a fixed plan (shard i = a fixed seed range), Parquet + WebDataset encoders, the writer."""

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


def _fixed(values: np.ndarray, n: int) -> pa.Array:
    flat = np.ascontiguousarray(values, dtype=np.float32).reshape(len(values), n)
    return pa.FixedSizeListArray.from_arrays(pa.array(flat.reshape(-1)), n)


def parquet_bytes(rows: dict[str, np.ndarray], schema: ShardSchema, index: int) -> bytes:
    arrow = schema.arrow()
    cols: dict[str, pa.Array] = {"seed": pa.array(rows["seed"], pa.int64())}
    for name in ("z", "w", "identity"):
        cols[name] = _fixed(rows[name], arrow.field(name).type.list_size)
    for a in schema.attributes:
        cols[a] = pa.array(np.asarray(rows[a], np.float32))
    cols["generator_id"] = pa.array([schema.generator_id] * len(rows["seed"]), pa.string())
    if schema.image_format != "none":
        tar = names.tar_path(index)
        cols["image"] = pa.array([f"{tar}#{names.sample_key(int(s))}.{schema.image_format}" for s in rows["seed"]])
    buf = pa.BufferOutputStream()
    pq.write_table(pa.table(cols, schema=arrow), buf, compression="zstd")
    return buf.getvalue().to_pybytes()


def tar_bytes(rows: dict[str, np.ndarray], schema: ShardSchema) -> bytes:
    """WebDataset shard: per key `.{png|jpg}` image, `.npy` latent (native shape), `.json` labels; mtime 0."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for i, seed in enumerate(rows["seed"].tolist()):
            key = names.sample_key(seed)
            labels = {"seed": seed, "generator_id": schema.generator_id}
            labels.update({a: float(rows[a][i]) for a in schema.attributes})
            members = []
            if schema.image_format != "none":
                members.append((f"{key}.{schema.image_format}", bytes(rows["image_bytes"][i])))
            npy = io.BytesIO()
            np.save(npy, np.asarray(rows["w"][i], np.float32).reshape(schema.latent_shape))
            members += [(f"{key}.npy", npy.getvalue()), (f"{key}.json", json.dumps(labels).encode())]
            for name, data in members:
                info = tarfile.TarInfo(name)
                info.size, info.mtime, info.mode = len(data), 0, 0o644
                tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def write_shard(store: Store, index: int, rows: dict[str, np.ndarray], schema: ShardSchema, seeds: tuple[int, int]) -> dict[str, Any]:
    """Both data files first (each atomically), then the stats file that commits the shard."""
    order = np.argsort(rows["seed"], kind="stable")
    rows = {k: v[order] for k, v in rows.items()}
    files = {"parquet": store.write_atomic(names.parquet_path(index), parquet_bytes(rows, schema, index)),
             "wds": store.write_atomic(names.tar_path(index), tar_bytes(rows, schema))}
    stats = {"index": index, "name": names.shard_stem(index), "seeds": list(seeds), "rows": len(rows["seed"]), "files": files}
    store.write_json(names.stats_path(index), stats)
    return stats


class ShardWriter:
    """Last stage of the dataset job (an actor): buffers rows per shard, writes a shard once it is whole.

    Emits one row per written shard: {"shard": index, "stats": JSON}. Lives in pipeline/ because it does I/O.
    """

    def __init__(self, uri: str, plan: ShardPlan, schema: ShardSchema) -> None:
        self.store, self.plan, self.schema = Store(uri), plan, schema
        self.buffers: dict[int, dict[int, dict[str, Any]]] = {}  # shard -> seed -> row (dedupes retries)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        done_idx, done_stats = [], []
        for i, shard in enumerate(self.plan.index_of(batch["seed"]).tolist()):
            row = {k: v[i] for k, v in batch.items()}
            self.buffers.setdefault(shard, {})[int(row["seed"])] = row
        for shard in [s for s, rows in self.buffers.items() if len(rows) == self._expected(s)]:
            rows = list(self.buffers.pop(shard).values())
            cols = {k: np.stack([r[k] for r in rows]) if k != "image_bytes" else np.array([r[k] for r in rows], dtype=object) for k in rows[0]}
            stats = write_shard(self.store, shard, cols, self.schema, self.plan.seeds(shard))
            done_idx.append(shard)
            done_stats.append(json.dumps(stats))
        return {"shard": np.array(done_idx, dtype=np.int64), "stats": np.array(done_stats, dtype=object)}

    def _expected(self, shard: int) -> int:
        lo, hi = self.plan.seeds(shard)
        return hi - lo
