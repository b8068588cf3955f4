"""Typed, frozen run configs: the only source of defaults. Presets are dicts of overrides."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from models.attributes import LABELERS  # black-box attribute labelers a dataset can run
from models.open import check_embedder

IMAGE_FORMATS = ("png", "jpg", "none")
LATENT_SPACES = ("w", "wplus")


def check_out(out: str | None, local_only: str = "") -> None:
    """An output given as "" (or blanks) would mean the working directory: refused, never resolved. `local_only` names
    what forces a local path on a verb that writes through the local filesystem (a URI there became a folder `s3:/b/x`)."""
    if out is not None and not out.strip():
        raise ValueError("--out is empty: give the output's own directory or URI")
    if local_only and out is not None and "://" in out:
        raise ValueError(f"--out {out.split('?', 1)[0]}: {local_only}; give a local path (and copy it after)")


@dataclass(frozen=True)
class StageResources:
    """Where a model stage runs: actors in its pool, CPUs/GPUs each, rows per batch."""

    actors: int = 1  # actor-pool size (each loads its model once)
    num_cpus: float = 0.5  # fractional: on 2 cores, 2 actors at 1 CPU leave none for the read task (a silent hang)
    num_gpus: float = 0.0  # > 0 puts the stage's model on CUDA
    batch_size: int = 64  # rows per call

    def __post_init__(self) -> None:
        if self.actors < 1 or self.num_cpus < 0 or self.num_gpus < 0 or self.batch_size < 1:
            raise ValueError(f"invalid stage resources {self}")


@dataclass(frozen=True)
class DatasetConfig:
    """`python -m pipeline dataset`: seeds -> latents -> images -> labels -> shards."""

    out: str = "data/default"  # dataset directory: local path or pyarrow filesystem URI (s3://...)
    generator: str | None = None  # StyleGAN2 .pkl/.pt; None = the embedded DCGAN (gan-face-generate)
    num_samples: int = 4096  # rows; seeds are seed_start .. seed_start + num_samples - 1
    seed_start: int = 0  # first seed
    psi: float = 1.0  # truncation toward the average latent, 0 <= psi <= 1
    latent_space: str = "w"  # "w" stores (w_dim,), "wplus" stores (num_ws, w_dim)
    noise_mode: str = "const"  # StyleGAN2 noise inputs: const | none (random noise would break seed determinism)
    image_format: str = "png"  # png | jpg | none (latents and labels only)
    jpeg_quality: int = 95  # for image_format=jpg
    shard_size: int = 512  # rows per shard; shard i holds seeds [seed_start + i*S, seed_start + (i+1)*S)
    labelers: tuple[str, ...] = LABELERS  # attribute labelers to run
    embedder: str = "sface"  # identity embedder: sface, or arcface:<path or URI of pSp's model_ir_se50.pth>
    overwrite: bool = False  # delete an existing dataset at `out` first
    ray_address: str | None = None  # existing cluster; None = RAY_ADDRESS or a local Ray
    object_store_memory: int | None = None  # bytes for a local Ray's object store (default Ray's); a cluster's is its own
    one_pool: bool = True  # one pool of --pool.* actors, each holding every model and writing whole shards; --no-one-pool: a pool per stage (--render.*, --label.*, --embed.*), each stage its own CPUs and GPUs
    pool: StageResources = field(default_factory=lambda: StageResources(actors=2))  # the one pool; 2 = both cores of a small machine
    render: StageResources = field(default_factory=StageResources)  # per-stage pools (--no-one-pool): sampling and rendering
    label: StageResources = field(default_factory=StageResources)  # per-stage pools: the attribute labelers
    embed: StageResources = field(default_factory=StageResources)  # per-stage pools: the identity embedder

    def __post_init__(self) -> None:
        check_out(self.out)
        if self.num_samples < 1:
            raise ValueError(f"--num-samples must be >= 1, got {self.num_samples}")
        if self.seed_start < 0 or self.seed_start + self.num_samples > 2**63 - 1:
            raise ValueError(f"seeds must be non-negative 64-bit integers, got start {self.seed_start}")
        if not 0.0 <= self.psi <= 1.0:
            raise ValueError(f"--psi must be in [0, 1], got {self.psi}")
        _one_of("--latent-space", self.latent_space, LATENT_SPACES)
        _one_of("--noise-mode", self.noise_mode, ("const", "none"))
        if self.generator is None and self.noise_mode != "const":
            raise ValueError("--noise-mode is a StyleGAN2 setting: the embedded DCGAN has no noise inputs (give --generator)")
        _one_of("--image-format", self.image_format, IMAGE_FORMATS)
        check_embedder(self.embedder)
        for name in self.labelers:
            _one_of("labeler", name, LABELERS)
        if not self.labelers:
            raise ValueError("--labelers needs at least one labeler")
        if self.shard_size < 1:
            raise ValueError(f"--shard-size must be >= 1, got {self.shard_size}")
        if not 1 <= self.jpeg_quality <= 100:
            raise ValueError(f"--jpeg-quality must be in 1..100, got {self.jpeg_quality}")
        if self.one_pool and any(r != StageResources() for r in (self.render, self.label, self.embed)):
            raise ValueError("--render.*, --label.* and --embed.* size per-stage pools: add --no-one-pool, or size the one pool with --pool.*")

    def identity(self) -> dict[str, Any]:
        """The fields that decide what a row contains: same identity => rows can be reused or extended."""
        keep = ("generator", "seed_start", "psi", "latent_space", "noise_mode", "image_format",
                "jpeg_quality", "shard_size", "labelers", "embedder")
        return {k: getattr(self, k) for k in keep}

    def identity_hash(self) -> str:
        return config_hash(self.identity())


DATASET_PRESETS: dict[str, dict[str, Any]] = {
    "default": {},
    # runs the whole system in seconds: tests and smoke runs
    "tiny": {"num_samples": 48, "shard_size": 16, "pool": StageResources(actors=2, batch_size=8)},
}


def _one_of(flag: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"unknown {flag} {value!r} (choose from {', '.join(allowed)})")


def to_jsonable(cfg: Any) -> Any:
    """A config as JSON, credentials in URIs removed (pipeline/redact.py): what is recorded and hashed."""
    if isinstance(cfg, str):
        from pipeline.redact import redact

        return redact(cfg)
    if dataclasses.is_dataclass(cfg):
        return {f.name: to_jsonable(getattr(cfg, f.name)) for f in dataclasses.fields(cfg)}
    if isinstance(cfg, (tuple, list)):
        return [to_jsonable(v) for v in cfg]
    if isinstance(cfg, dict):
        return {k: to_jsonable(v) for k, v in cfg.items()}
    return cfg


def config_hash(obj: Any) -> str:
    blob = json.dumps(to_jsonable(obj), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]
