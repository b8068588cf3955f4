"""Typed configs for the trainers: the only source of their defaults (the paper gives no loss weights)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from pipeline.config import check_out, config_hash, to_jsonable

OBJECTIVES = ("image", "latent")
LATENT_SOURCES = ("prior", "dataset")


@dataclass(frozen=True)
class LossWeights:
    """Latent-To-Latent's losses (paper Fig. 2), weighted so that their optimum is the requested change.

    The paper states no weights. L_I (f(w, a, 0) = w) holds by the mapper's construction and needs no term.
    """

    requested: float = 1.0  # L_A on the requested attributes: ((critic - target) / range)^2, summed, not diluted
    calibration: float = 0.0  # per requested attribute, (the batch's mean shortfall / range)^2: the mean edit reaches the request
    keep: float = 0.5  # L_A on the others (aliases of a requested one excluded): mean ((critic - before) / range)^2
    identity: float = 1.0  # L_FId as a hinge: max(0, identity_margin - cos(E(G(w')), E(G(w))))
    identity_margin: float = 0.85  # above this cosine identity costs nothing, so it cannot cap the edit
    neighbourhood: float = 0.01  # L_N: ||w' - w||^2 / dim
    cycle: float = 0.1  # L_C: ||f(w', a', -delta) - w||^2 / dim

    def __post_init__(self) -> None:
        if min(self.requested, self.calibration, self.keep, self.identity, self.neighbourhood, self.cycle) < 0:
            raise ValueError(f"loss weights must be >= 0, got {self}")
        if not -1.0 <= self.identity_margin <= 1.0:
            raise ValueError(f"--identity-margin is a cosine in [-1, 1], got {self.identity_margin}")


@dataclass(frozen=True)
class DeltaSampling:
    """How requested changes are drawn per sample during training."""

    max_attrs: int = 2  # each sample requests 1..max_attrs of the trained attributes (combined requests)
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
    # H: "ported" = exact differentiable copies of the dataset's labelers, averaged over critic_views;
    # "distilled" = runs/regressor-<dataset hash>, trained if missing; or an H export directory
    critic: str = "ported"
    critic_views: tuple[str, ...] = ("id", "flip", "dx+1", "dy-1")  # models/labelers/views.py; the judge uses others too
    critic_floor: float = 0.5  # refuse a requested attribute whose critic R2 < floor * the labeler's mirror R2
    allow_weak_critic: bool = False  # train anyway below the floor (the fidelity report still says so)
    latents: str = "prior"  # prior: fresh z ~ N(0, I) each step, labeled by the critic; dataset: its rows
    identity_rows: int = 8  # rows per worker batch whose identity is scored (SFace backward is the costliest part)
    generator: str | None = None  # must be the dataset's generator; None = the one the dataset names
    out: str | None = None  # run directory; None = runs/train-<attributes>-<config hash>
    num_workers: int = 2  # Ray Train workers (DDP)
    use_gpu: bool = False  # NCCL on GPUs, gloo on CPU
    cpus_per_worker: float = 0.5  # fractional: on 2 cores whole CPUs per worker starve the data pipeline (a silent hang)
    batch_size: int = 16  # per worker
    steps: int = 480  # optimizer steps in all: ~17 min with 2 CPU workers (the `long` preset is for real use)
    lr: float = 1e-3
    checkpoint_every: int = 60  # steps between checkpoints, metric reports and validations
    holdout_every: int = 10  # seeds with seed % holdout_every == 0 are held out for validation; the export records it for edit, eval, serve
    val_rows: int = 32  # held-out rows the judge scores at each checkpoint
    fidelity_rows: int = 256  # held-out rows the critic's fidelity is measured on before training
    max_failures: int = 2  # dead workers restart from the last checkpoint this many times
    hidden: int = 512  # mapper width
    depth: int = 4  # mapper linear layers
    seed: int = 0
    losses: LossWeights = field(default_factory=LossWeights)
    delta: DeltaSampling = field(default_factory=DeltaSampling)

    def __post_init__(self) -> None:
        check_out(self.out, "training writes a local run directory (Ray Train's checkpoints, TensorBoard)")
        if self.latents not in LATENT_SOURCES:
            raise ValueError(f"unknown --latents {self.latents!r} (choose from {', '.join(LATENT_SOURCES)})")
        if not 0 <= self.critic_floor <= 1:
            raise ValueError(f"--critic-floor is a fraction of the mirror ceiling in [0, 1], got {self.critic_floor}")
        if self.objective not in OBJECTIVES:
            raise ValueError(f"unknown --objective {self.objective!r} (choose from {', '.join(OBJECTIVES)})")
        if not self.attributes:
            raise ValueError("--attributes needs at least one attribute")
        for name, v in (("--num-workers", self.num_workers), ("--batch-size", self.batch_size),
                        ("--steps", self.steps), ("--checkpoint-every", self.checkpoint_every),
                        ("--identity-rows", self.identity_rows), ("--holdout-every", self.holdout_every)):
            if v < 1:
                raise ValueError(f"{name} must be >= 1, got {v}")

    def identity(self) -> dict[str, Any]:
        """What decides the trained model (not where or how fast it runs): names the run directory."""
        skip = {"out", "num_workers", "use_gpu", "cpus_per_worker", "max_failures", "checkpoint_every", "allow_weak_critic", "val_rows",
                "fidelity_rows"}
        return {k: v for k, v in self.__dict__.items() if k not in skip}

    def run_name(self) -> str:
        return f"train-{'-'.join(self.attributes)}-{self.objective}-{config_hash(self.identity())[:8]}"

    def differs_from(self, recorded: dict[str, Any]) -> list[str]:
        """The identity fields a run directory's recorded config (its config.json "config") holds other values of; a field
        it does not record (a newer setting) is not counted."""
        mine = to_jsonable(self.identity())
        return sorted(k for k, v in mine.items() if k in recorded and not _json_equal(recorded[k], v))


@dataclass(frozen=True)
class RegressorTrainConfig:
    """`python -m pipeline train-regressor`: distill a dataset's labels into a differentiable H."""

    dataset: str = "data/default"
    out: str | None = None  # export dir; None = runs/regressor-<dataset config hash>
    attributes: tuple[str, ...] | None = None  # None = every attribute the dataset has
    num_workers: int = 2
    use_gpu: bool = False
    cpus_per_worker: float = 0.5
    feature_actors: int = 2  # Ray Data actors computing the frozen trunk's features (once, before the epochs)
    batch_size: int = 64  # per worker
    epochs: int = 40  # of the head on precomputed features: cheap
    lr: float = 1e-3
    holdout_every: int = TrainConfig.holdout_every  # the mapper trainer's rule: a mapper trained through this H refuses another
    seed: int = 0

    def __post_init__(self) -> None:
        check_out(self.out, "the regressor is written to a local directory")
        if min(self.epochs, self.batch_size, self.num_workers, self.feature_actors, self.holdout_every) < 1:
            raise ValueError(f"invalid regressor training config {self}")


TRAIN_PRESETS: dict[str, dict[str, Any]] = {
    "default": {},
    "long": {"steps": 4000, "batch_size": 32, "identity_rows": 16, "checkpoint_every": 250, "val_rows": 64},
    "tiny": {"steps": 6, "checkpoint_every": 3, "batch_size": 4, "val_rows": 4, "fidelity_rows": 16, "hidden": 64, "depth": 2, "identity_rows": 2},
}
REGRESSOR_PRESETS: dict[str, dict[str, Any]] = {
    "default": {},
    "tiny": {"epochs": 2, "batch_size": 8, "feature_actors": 1},
}


def _json_equal(a: Any, b: Any) -> bool:
    """Equal as JSON writes them (tuples and lists alike)."""
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
