"""`--invert encoder`: latents a user's encoder (e4e, ReStyle...) made for the aligned faces, or an earlier photos run's,
read once in the driver as {(photo name, face index): flattened latent}."""

from __future__ import annotations

import io

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.storage import Store

COLUMNS = ("name", "face", "w")  # the photo's file name, the face's index in it (the photos job's order), the latent


def read_latents(uri: str, size: int) -> dict[tuple[str, int], np.ndarray]:
    """A Parquet file, or a photos output folder (its parquet/ shards), with columns name, face, w; each w must hold
    `size` numbers (the generator's W, or W+ flattened, as the mapper edits). Bad input: one line, ValueError."""
    table = _table(uri)
    missing = [c for c in COLUMNS if c not in table.column_names]
    if missing:
        raise ValueError(f"--latents {uri}: no column {', '.join(missing)} (it needs {', '.join(COLUMNS)})")
    if "status" in table.column_names:  # an earlier photos run: only the faces it inverted
        table = table.filter(pa.array(np.asarray(table.column("status").to_pylist()) == "ok"))
    out: dict[tuple[str, int], np.ndarray] = {}
    for name, face, w in zip(table.column("name").to_pylist(), table.column("face").to_pylist(), table.column("w").to_pylist()):
        latent = np.asarray(w, np.float32).reshape(-1)
        if latent.size != size:
            raise ValueError(f"--latents {uri}: {name} face {face} has {latent.size} numbers, this generator and mapper take {size}")
        if not np.isfinite(latent).all():
            raise ValueError(f"--latents {uri}: {name} face {face} has NaN or Inf in its latent")
        out[(str(name), int(face))] = latent
    if not out:
        raise ValueError(f"--latents {uri}: no latents in it")
    return out


def _table(uri: str) -> pa.Table:
    """The table at `uri`: a photos output's shards, or one Parquet file."""
    parent, name = uri.rstrip("/").rsplit("/", 1) if "/" in uri.rstrip("/") else (".", uri)
    store = Store(uri)
    shards = [f"parquet/{f}" for f in store.list("parquet") if f.endswith(".parquet")]
    if shards:
        return pa.concat_tables([pq.read_table(io.BytesIO(store.read_bytes(s))) for s in shards], promote_options="default")
    if not Store(parent).exists(name):
        raise ValueError(f"--latents {uri}: no such file or photos output")
    return pq.read_table(io.BytesIO(Store(parent).read_bytes(name)))
