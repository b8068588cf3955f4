"""The dataset manifest: written last, it is what makes a dataset exist; and its verification."""

from __future__ import annotations

import hashlib
from typing import Any

from pipeline import names
from pipeline.config import DatasetConfig, to_jsonable
from pipeline.runinfo import now
from pipeline.shards import ShardSchema
from pipeline.storage import Store

FORMAT = "latent2latent-dataset/1"
EDITS_FORMAT = "latent2latent-edits/1"  # pipeline/edit/job.py writes it
PHOTOS_FORMAT = "latent2latent-photos/1"  # pipeline/photos/job.py writes it: one row per face
# what every reader of a manifest relies on, by format; each shard entry has SHARD_KEYS
REQUIRED = {FORMAT: ("num_rows", "shards", "seeds", "latent_shape", "attributes", "generator_id", "config_hash"),
            EDITS_FORMAT: ("num_rows", "shards", "latent_shape", "attributes", "generator_id", "config_hash"),
            PHOTOS_FORMAT: ("num_rows", "shards", "photos", "names", "attributes", "generator_id", "config_hash")}
SHARD_KEYS = {"index", "rows", "files"}
FORMATS = {"dataset": FORMAT, "edit": EDITS_FORMAT, "photos": PHOTOS_FORMAT}  # the manifest each sharded verb writes


def build_manifest(cfg: DatasetConfig, schema: ShardSchema, ids: dict[str, Any], shards: list[dict]) -> dict[str, Any]:
    arrow = schema.arrow()
    return {
        "format": FORMAT,
        "created": now(),
        "config": to_jsonable(cfg),
        "config_hash": cfg.identity_hash(),
        "num_rows": sum(s["rows"] for s in shards),
        "seeds": [cfg.seed_start, cfg.seed_start + cfg.num_samples],
        "latent_space": cfg.latent_space,
        "latent_shape": list(schema.latent_shape),
        "z_dim": schema.z_dim,
        "attributes": list(schema.attributes),
        "image_format": schema.image_format,
        "schema": [{"name": f.name, "type": str(f.type)} for f in arrow],
        **ids,
        "shards": sorted(shards, key=lambda s: s["index"]),
    }


def read_manifest(uri: str, formats: tuple[str, ...] = (FORMAT,)) -> dict[str, Any]:
    """A dataset's manifest, or a one-line error if there is none (downstream jobs take a manifest)."""
    store = Store(uri)
    if not store.exists(names.MANIFEST):
        raise ValueError(f"no dataset at {uri}: {names.MANIFEST} is missing (run `make dataset` first, or it is unfinished)")
    doc = store.read_json(names.MANIFEST)
    if not isinstance(doc, dict) or doc.get("format") not in formats:
        raise ValueError(f"{uri}/{names.MANIFEST} is not a {' or '.join(formats)} manifest")
    missing = [k for k in REQUIRED[doc["format"]] if k not in doc]
    if missing or not isinstance(doc["shards"], list) or not all(isinstance(s, dict) and SHARD_KEYS <= s.keys() for s in doc["shards"]):
        what = f"lacks {', '.join(map(repr, missing))}" if missing else "has malformed shard entries"
        raise ValueError(f"{uri}/{names.MANIFEST} {what}: not a complete manifest of this project (re-run the command that wrote it)")
    return doc


def read_rows(uri: str, columns: list[str], every: int, held_out: bool | None, limit: int | None = None) -> dict[str, Any]:
    """Columns of a dataset's held-out rows (seed % every == 0; `held_out=False`: the others; None: all), in seed
    order within each shard, at most `limit`, read shard by shard through the manifest from any store: the one
    reader of that split for validation, eval and the editor (the rule itself is stages.training.holdout_split)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from stages.training import holdout_split

    m = read_manifest(uri)
    paths, fs = Store(uri).readable([s["files"]["parquet"]["path"] for s in sorted(m["shards"], key=lambda s: s["index"])])
    cols = list(dict.fromkeys(["seed", *columns]))
    parts: list[pa.Table] = []
    for path in paths:
        table = pq.read_table(path, filesystem=fs, columns=cols)
        if held_out is not None:
            keep = holdout_split({"seed": table.column("seed").to_numpy(), "row": np.arange(table.num_rows)}, every, held_out)["row"]
            table = table.take(pa.array(keep))
        parts.append(table.sort_by("seed"))
        if limit is not None and sum(t.num_rows for t in parts) >= limit:
            break
    if not parts or not sum(t.num_rows for t in parts):
        kind = {True: "held-out", False: "training", None: "readable"}[held_out]
        raise ValueError(f"dataset {uri} has no {kind} rows (held out: seed % {every} == 0)")
    table = pa.concat_tables(parts).slice(0, limit)
    return {c: table.column(c).to_numpy(zero_copy_only=False) for c in cols}


def nonfinite_columns(table: Any) -> dict[str, int]:
    """{column: rows with a NaN or Inf} over a table's float and (nested) float-list columns: latents, labels, embeddings."""
    counts = {name: sum(_nonfinite_rows(chunk) for chunk in col.chunks) for name, col in zip(table.column_names, table.columns)}
    return {name: n for name, n in counts.items() if n}


def _nonfinite_rows(chunk: Any) -> int:
    """Rows of one Arrow array holding a NaN or Inf: list levels are flattened, each value kept with its row."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    rows, values = np.arange(len(chunk)), chunk
    while pa.types.is_list(values.type) or pa.types.is_fixed_size_list(values.type) or pa.types.is_large_list(values.type):
        rows, values = rows[pc.list_parent_indices(values).to_numpy()], pc.list_flatten(values)
    if not pa.types.is_floating(values.type):
        return 0
    return len(np.unique(rows[~np.isfinite(values.to_numpy(zero_copy_only=False))]))


def verify_manifest(uri: str) -> list[str]:
    """Problems found re-reading every shard file (bytes, sha256, row counts, NaN or Inf in a float column); empty
    when all is well."""
    import io

    import pyarrow.parquet as pq

    store, doc, problems = Store(uri), read_manifest(uri, (FORMAT, EDITS_FORMAT, PHOTOS_FORMAT)), []
    for shard in doc["shards"]:
        for kind, f in shard["files"].items():
            data = store.read_bytes(f["path"]) if store.exists(f["path"]) else None
            if data is None:
                problems.append(f"{f['path']}: missing")
            elif len(data) != f["bytes"] or hashlib.sha256(data).hexdigest() != f["sha256"]:
                problems.append(f"{f['path']}: bytes or sha256 differ from the manifest")
            elif kind == "parquet" and pq.read_metadata(io.BytesIO(data)).num_rows != shard["rows"]:
                problems.append(f"{f['path']}: row count differs from the manifest")
            elif kind == "parquet":
                problems += [f"{f['path']}: {n} rows hold NaN or Inf in {col!r}" for col, n in nonfinite_columns(pq.read_table(io.BytesIO(data))).items()]
    if sum(s["rows"] for s in doc["shards"]) != doc["num_rows"]:
        problems.append("shard rows do not add up to num_rows")
    return problems
