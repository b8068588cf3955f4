"""Checking a training request against its dataset before any work: one-line errors for bad input."""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from models.attributes import attribute
from pipeline import names
from pipeline.made_with import MadeWith, dataset_made
from pipeline.manifest import read_manifest
from pipeline.storage import Store
from pipeline.train.config import TrainConfig


@dataclass(frozen=True)
class TrainPlan:
    """A TrainConfig resolved against its dataset's manifest."""

    cfg: TrainConfig
    manifest: dict[str, Any]
    manifest_sha256: str
    parquet_paths: tuple[str, ...]  # relative to cfg.dataset
    latent_shape: tuple[int, ...]
    run_dir: Path
    made: MadeWith  # how the dataset was made (pipeline/made_with.py), its generator the one --generator names if given

    def readable(self) -> tuple[list[str], Any]:
        return Store(self.cfg.dataset).readable(list(self.parquet_paths))

    @property
    def psi(self) -> float:
        return self.made.psi

    @property
    def generator(self) -> str | None:
        return self.made.generator


def dataset_files(uri: str) -> tuple[dict[str, Any], str, tuple[str, ...]]:
    store = Store(uri)
    manifest = read_manifest(uri)
    if manifest["num_rows"] == 0 or not manifest["shards"]:
        raise ValueError(f"dataset {uri} is empty (0 rows)")
    sha = hashlib.sha256(store.read_bytes(names.MANIFEST)).hexdigest()
    paths = tuple(s["files"]["parquet"]["path"] for s in manifest["shards"])  # relative to the dataset
    return manifest, sha, paths


def resolve_attributes(requested: tuple[str, ...], available: list[str]) -> tuple[str, ...]:
    """`all` = every catalog attribute the dataset has (age is left out: young carries it)."""
    if requested == ("all",):
        return tuple(a for a in available if a not in ("age", "happy"))
    for name in requested:
        attribute(name)  # unknown names: one-line error listing the catalog
        if name not in available:
            raise ValueError(f"attribute {name!r} is not in the dataset (it has: {', '.join(available)})")
    return requested


def check_generator(generator: str | None, manifest: dict[str, Any]) -> None:
    """A mapper trained through G must use the generator that made the dataset's latents."""
    if generator is None:
        return
    from models.open import open_generator

    gid = open_generator(generator).generator_id
    if gid != manifest["generator_id"]:
        raise ValueError(f"generator {generator} ({gid}) is not the dataset's generator ({manifest['generator_id']})")


def plan_training(cfg: TrainConfig, runs: str = "runs") -> TrainPlan:
    manifest, sha, paths = dataset_files(cfg.dataset)
    cfg = dataclasses.replace(cfg, attributes=resolve_attributes(cfg.attributes, manifest["attributes"]))
    check_generator(cfg.generator, manifest)
    run_dir = Path(cfg.out) if cfg.out else Path(runs) / cfg.run_name()
    made = dataset_made(manifest, f"dataset {cfg.dataset}")
    made = dataclasses.replace(made, generator=cfg.generator or made.generator)
    return TrainPlan(cfg, manifest, sha, paths, tuple(manifest["latent_shape"]), run_dir.resolve(), made)
