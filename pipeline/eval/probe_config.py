"""`python -m pipeline probe`'s settings: torch-free, so the CLI parses (and refuses) its flags before any model loads."""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.config import check_out
from pipeline.train.config import TrainConfig


@dataclass(frozen=True)
class ProbeConfig:
    """`python -m pipeline probe`: the predictability of the critic's per-face edit directions."""

    dataset: str = "data/default"  # its manifest names the generator, psi, framing and labelers
    attributes: tuple[str, ...] = ("young", "smiling", "male")
    views: tuple[str, ...] = TrainConfig.critic_views  # the training critic's views
    samples: int = 8192  # fresh prior latents whose critic gradients are computed (~55 ms each here)
    test_rows: int = 1024  # the last `test_rows` samples are held out
    train_sizes: tuple[int, ...] = (1024, 3072, 7168)  # training sizes of the learning curve
    epochs: int = 300  # of each MLP fit (the best held-out epoch is reported, in the MLP's favour)
    hidden: int = TrainConfig.hidden  # MLP width, as the mapper's
    depth: int = TrainConfig.depth  # MLP linear layers, as the mapper's
    batch_size: int = 64
    mapper: str | None = None  # a mapper export whose own edit directions are scored too
    scales: tuple[float, ...] = (0.5, 1.0, 1.5, 2.0)  # with --mapper: its step scaled by these, read by its critic
    scale_rows: int = 192  # held-out faces for the step-scale sweep (requests of +-0.3 of the range)
    seed: int = 0
    out: str | None = None  # default: runs/probe-<attributes>-<config hash>

    def __post_init__(self) -> None:
        check_out(self.out, "probe writes a local directory")
        if self.test_rows < 2 or not self.train_sizes or min(self.train_sizes) < 2:
            raise ValueError("probe needs --test-rows >= 2 and training sizes >= 2")
        if max(self.train_sizes) + self.test_rows > self.samples:
            raise ValueError(f"--samples {self.samples} < the largest training size {max(self.train_sizes)} + --test-rows {self.test_rows}")
        if self.epochs < 1 or self.batch_size < 1 or self.hidden < 1 or self.depth < 2:
            raise ValueError("probe needs --epochs, --batch-size, --hidden >= 1 and --depth >= 2")
