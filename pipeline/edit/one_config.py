"""`python -m pipeline edit-one`'s settings: torch-free, so the CLI parses (and refuses) its flags before any model loads."""

from __future__ import annotations

from dataclasses import dataclass, field

from pipeline.config import check_out
from pipeline.edit.config import parse_changes
from pipeline.edit.refine_config import RefineConfig


@dataclass(frozen=True)
class EditOneConfig:
    """`python -m pipeline edit-one`: one seed, one requested change, one before/after sheet with the readings."""

    mapper: str  # mapper export directory or URI
    seed: int
    delta: tuple[str, ...]  # e.g. smiling=+0.5,young=+0.2 (attribute units)
    psi: float | None = None  # default: the psi of the mapper's dataset
    out: str | None = None  # PNG path; default edit-<seed>.png
    passes: int = 1  # 1 = the mapper's one forward pass; more re-read the attributes and ask for what is left
    refine: RefineConfig = field(default_factory=RefineConfig)  # then optional critic steps (--refine.steps k; ~1 s a face on CPU)

    def __post_init__(self) -> None:
        check_out(self.out, "edit-one writes a local PNG")
        if self.passes < 1:
            raise ValueError(f"--passes must be >= 1, got {self.passes}")
        if not parse_changes(self.delta):  # also: unparsable changes are an error here, before any model loads
            raise ValueError("edit-one needs a --delta, e.g. smiling=+0.5,young=+0.2")
