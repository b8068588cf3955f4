"""What `python -m pipeline bench` runs and where it writes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

SUITES = ("synthesis", "dataset", "train", "edit", "serve", "gpu")  # gpu: CUDA stages; says so where there is none


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

    def __post_init__(self) -> None:
        unknown = sorted(set(self.only) - set(SUITES))
        if self.repeats < 1:
            raise ValueError(f"--repeats must be >= 1, got {self.repeats}")
        if min(self.dcgan_latents, self.wplus_latents) < 4:
            raise ValueError(f"--dcgan-latents and --wplus-latents must be >= 4 (the edit suite also runs a quarter of them), got "
                             f"{self.dcgan_latents} and {self.wplus_latents}")
        if unknown or not self.only:
            raise ValueError(f"unknown bench suite {unknown[0] if unknown else '(none)'!r} (choose from {', '.join(SUITES)})")

    def resolved_mapper(self) -> str | None:
        """--mapper, or the newest export under runs/ (None if there is none)."""
        if self.mapper is not None:
            return self.mapper
        exports = sorted(Path("runs").glob("train-*/export"), key=lambda p: p.stat().st_mtime)
        return str(exports[-1]) if exports else None
