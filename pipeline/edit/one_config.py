"""`python -m pipeline edit-one`'s settings: torch-free, so the CLI parses (and refuses) its flags before any model loads."""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.edit.config import REFINE_VIEWS, REFINE_VIEWS_PER_STEP, parse_changes


@dataclass(frozen=True)
class EditOneConfig:
    """`python -m pipeline edit-one`: one seed, one requested change, one before/after sheet with the readings."""

    mapper: str  # mapper export directory or URI
    seed: int
    delta: tuple[str, ...]  # e.g. smiling=+0.5,young=+0.2 (attribute units)
    psi: float | None = None  # default: the psi of the mapper's dataset
    out: str | None = None  # PNG path; default edit-<seed>.png
    passes: int = 1  # 1 = the mapper's one forward pass; more re-read the attributes and ask for what is left
    refine_steps: int = 0  # > 0: then that many gradient steps on the training critic (pipeline/edit/refine.py; ~1 s a face on CPU)
    refine_views: tuple[str, ...] = REFINE_VIEWS  # the views those steps' critic draws from
    refine_views_per_step: int = REFINE_VIEWS_PER_STEP  # views drawn for each step (0: all of them at every step)
    refine_stop_at_target: bool = True  # each face stops at its target: the nearer of the two steps around it (--no-...: all k)

    def __post_init__(self) -> None:
        if self.passes < 1 or self.refine_steps < 0:
            raise ValueError(f"--passes must be >= 1 and --refine-steps >= 0, got {self.passes} and {self.refine_steps}")
        if not parse_changes(self.delta):  # also: unparsable changes are an error here, before any model loads
            raise ValueError("edit-one needs a --delta, e.g. smiling=+0.5,young=+0.2")
