"""What `python -m pipeline bench` runs and where it writes."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from models.inversion.config import ProjectConfig

SUITES = ("synthesis", "dataset", "train", "edit", "serve", "photos", "gpu")  # gpu: CUDA stages; says so where there is none


@dataclass(frozen=True)
class BenchConfig:
    """Benchmarks: each ratio is ours against a baseline measured in the same run; one JSON report."""

    only: tuple[str, ...] = SUITES  # which suites (the report keeps the others' last results)
    out: str = "runs/bench/report.json"
    dataset: str = "data/default"  # for the train and edit benchmarks
    mapper: str | None = None  # trained export for serve and the edit job that renders; default: newest under runs/
    repeats: int = 3  # runs of each suite: the report gives each figure's median and [min, max] (and keeps every run)
    dcgan_latents: int = 1_000_000  # the edit suite's DCGAN (100-d) job
    wplus_latents: int = 50_000  # its W+ (18x512) job: 1.8 GB of Parquet in and out (1 M: 37 GB each way)
    photos: int = 8  # the photos suite's input: the test photos copied in turn (one shard of the job's default 8)
    # its projection for both runs: small, so a run takes a minute or two on 2 cores (the default's 300 steps: 116 s for 4)
    photos_project: ProjectConfig = field(default_factory=lambda: ProjectConfig(steps=50, pool=200))

    def __post_init__(self) -> None:
        unknown = sorted(set(self.only) - set(SUITES))
        if self.repeats < 1:
            raise ValueError(f"--repeats must be >= 1, got {self.repeats}")
        if min(self.dcgan_latents, self.wplus_latents) < 4:
            raise ValueError(f"--dcgan-latents and --wplus-latents must be >= 4 (the edit suite also runs a quarter of them), got "
                             f"{self.dcgan_latents} and {self.wplus_latents}")
        if self.photos < 2:
            raise ValueError(f"--photos must be >= 2 (the photos suite also runs half of them), got {self.photos}")
        if unknown or not self.only:
            raise ValueError(f"unknown bench suite {unknown[0] if unknown else '(none)'!r} (choose from {', '.join(SUITES)})")

    def resolved_mapper(self) -> str | None:
        """--mapper, or the newest export under runs/ (None if there is none)."""
        if self.mapper is not None:
            return self.mapper
        exports = sorted(Path("runs").glob("train-*/export"), key=lambda p: p.stat().st_mtime)
        return str(exports[-1]) if exports else None
