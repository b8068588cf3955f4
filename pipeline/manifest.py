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
    if doc.get("format") not in formats:
        raise ValueError(f"{uri}/{names.MANIFEST} is not a {' or '.join(formats)} manifest")
    return doc


def verify_manifest(uri: str) -> list[str]:
    """Problems found re-reading every shard file (bytes, sha256, row counts); empty when all is well."""
    import io

    import pyarrow.parquet as pq

    store, doc, problems = Store(uri), read_manifest(uri, (FORMAT, "latent2latent-edits/1")), []
    for shard in doc["shards"]:
        for kind, f in shard["files"].items():
            data = store.read_bytes(f["path"]) if store.exists(f["path"]) else None
            if data is None:
                problems.append(f"{f['path']}: missing")
            elif len(data) != f["bytes"] or hashlib.sha256(data).hexdigest() != f["sha256"]:
                problems.append(f"{f['path']}: bytes or sha256 differ from the manifest")
            elif kind == "parquet" and pq.read_metadata(io.BytesIO(data)).num_rows != shard["rows"]:
                problems.append(f"{f['path']}: row count differs from the manifest")
    if sum(s["rows"] for s in doc["shards"]) != doc["num_rows"]:
        problems.append("shard rows do not add up to num_rows")
    return problems
