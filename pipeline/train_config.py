"""Typed configs for the trainers: the only source of their defaults (the paper gives no loss weights)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pipeline.config import config_hash

OBJECTIVES = ("image", "latent")


@dataclass(frozen=True)
class LossWeights:
    """The five Latent-To-Latent losses; weights are ours (the paper states none)."""

    attribute: float = 1.0  # L_A: H(G(w')) vs corrected target, all attributes, standardised units
    requested: float = 5.0  # factor on the requested attributes inside L_A
    identity: float = 2.0  # L_FId: 1 - cos(E(G(w')), E(original))
    identity_mapping: float = 1.0  # L_I: f(w, a, 0) = w
    neighbourhood: float = 0.05  # L_N: ||w' - w||
    cycle: float = 1.0  # L_C: f(w', a_c', -delta) = w


@dataclass(frozen=True)
class DeltaSampling:
    """How requested changes are drawn per sample during training."""

    max_attrs: int = 1  # each sample requests 1..max_attrs of the trained attributes
    low: float = 0.1  # smallest |delta|, as a fraction of the attribute's range
    high: float = 0.5  # largest |delta|, as a fraction of the attribute's range

    def __post_init__(self) -> None:
        if self.max_attrs < 1 or not 0 <= self.low <= self.high <= 1:
            raise ValueError(f"invalid delta sampling {self}")


@dataclass(frozen=True)
class TrainConfig:
    """`python -m pipeline train`: fit a Latent-To-Latent mapper on a dataset with Ray Train."""

    dataset: str = "data/default"  # dataset directory (its manifest is read)
    attributes: tuple[str, ...] = ("young",)  # attributes the mapper edits; "all" expands to the dataset's
    objective: str = "image"  # image: through G, H and the identity net (the paper); latent: surrogates
    regressor: str = "distilled"  # H: "distilled" (runs/regressor-<dataset hash>, trained if missing: the
    # paper's route), "ported" (exact differentiable copies of the dataset's labelers), or an H export dir
    generator: str | None = None  # must be the dataset's generator; None = the one the dataset names
    out: str | None = None  # run directory; None = runs/train-<attributes>-<config hash>
    num_workers: int = 2  # Ray Train workers (DDP)
    use_gpu: bool = False  # NCCL on GPUs, gloo on CPU
    cpus_per_worker: float = 0.5  # fractional: whole CPUs starve the data pipeline on 2 cores (RAY_NOTES)
    batch_size: int = 16  # per worker
    steps: int = 240  # optimizer steps in all
    lr: float = 1e-3
    checkpoint_every: int = 40  # steps between checkpoints (and metric reports)
    holdout_every: int = 10  # seeds with seed % holdout_every == 0 are held out for validation
    val_rows: int = 32  # held-out rows scored each validation
    max_failures: int = 2  # dead workers restart from the last checkpoint this many times
    hidden: int = 512  # mapper width
    depth: int = 4  # mapper linear layers
    seed: int = 0
    losses: LossWeights = field(default_factory=LossWeights)
    delta: DeltaSampling = field(default_factory=DeltaSampling)

    def __post_init__(self) -> None:
        if self.objective not in OBJECTIVES:
            raise ValueError(f"unknown --objective {self.objective!r} (choose from {', '.join(OBJECTIVES)})")
        if not self.attributes:
            raise ValueError("--attrs needs at least one attribute")
        for name, v in (("--num-workers", self.num_workers), ("--batch-size", self.batch_size),
                        ("--steps", self.steps), ("--checkpoint-every", self.checkpoint_every)):
            if v < 1:
                raise ValueError(f"{name} must be >= 1, got {v}")

    def identity(self) -> dict[str, Any]:
        """What decides the trained model (not where or how fast it runs): names the run directory."""
        skip = {"out", "num_workers", "use_gpu", "cpus_per_worker", "max_failures", "checkpoint_every"}
        return {k: v for k, v in self.__dict__.items() if k not in skip}

    def run_name(self) -> str:
        return f"train-{'-'.join(self.attributes)}-{self.objective}-{config_hash(self.identity())[:8]}"


@dataclass(frozen=True)
class RegressorTrainConfig:
    """`python -m pipeline train-regressor`: distill a dataset's labels into a differentiable H."""

    dataset: str = "data/default"
    out: str | None = None  # export dir; None = runs/regressor-<dataset config hash>
    attributes: tuple[str, ...] | None = None  # None = every attribute the dataset has
    num_workers: int = 2
    use_gpu: bool = False
    cpus_per_worker: float = 0.5
    batch_size: int = 64  # per worker
    epochs: int = 40  # of the head on precomputed features: cheap
    lr: float = 1e-3
    holdout_every: int = 10  # same held-out seeds as the mapper trainer
    seed: int = 0

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or self.num_workers < 1:
            raise ValueError(f"invalid regressor training config {self}")


TRAIN_PRESETS: dict[str, dict[str, Any]] = {
    "default": {},
    "tiny": {"steps": 6, "checkpoint_every": 3, "batch_size": 4, "val_rows": 4, "hidden": 64, "depth": 2},
}
REGRESSOR_PRESETS: dict[str, dict[str, Any]] = {
    "default": {},
    "tiny": {"epochs": 2, "batch_size": 8},
}
