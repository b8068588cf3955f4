"""Settings of the web editor; every field is a flag of `python -m pipeline serve`."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ServeConfig:
    """A local web editor: pick a face, move one slider per attribute, see the edit and the real labelers' readings."""

    mapper: str | None = None  # the export selected first; default: the newest under --runs
    runs: str = "runs"  # mapper exports (runs/*/export) and their eval outputs are listed from here
    dataset: str | None = None  # rows offered as faces; default: the dataset each mapper was trained on
    host: str = "127.0.0.1"  # loopback unless you mean to expose it
    port: int = 7860
    max_upload_bytes: int = 1 << 20  # a W+ (18, 512) float64 latent is 74 KB
    rows_listed: int = 24  # held-out dataset rows offered as faces
    holdout_every: int = 10  # held-out rows: seed % holdout_every == 0, as in training
    sweep_steps: int = 7  # images in the strength strip, from -sweep_strength to +sweep_strength
    sweep_strength: float = 0.3  # fraction of the attribute's range at the strip's ends
    faces_cached: int = 256  # originals kept read (latent + readings); bounded so memory stays flat
    uploads_kept: int = 64  # uploaded latents kept in memory (never written to disk)

    def __post_init__(self) -> None:
        if not 0 < self.port < 65536:
            raise ValueError(f"--port must be in 1..65535, got {self.port}")
        if self.max_upload_bytes < 1024 or self.rows_listed < 1 or self.holdout_every < 1:
            raise ValueError("--max-upload-bytes must be >= 1024, --rows-listed and --holdout-every >= 1")
        if self.sweep_steps < 2 or not 0 < self.sweep_strength <= 1:
            raise ValueError("--sweep-steps must be >= 2 and --sweep-strength in (0, 1]")
        if self.faces_cached < 1 or self.uploads_kept < 1:
            raise ValueError("--faces-cached and --uploads-kept must be >= 1")
