"""`python -m pipeline eval`'s settings: torch-free, so the CLI parses (and refuses) its flags before any model loads."""

from __future__ import annotations

from dataclasses import dataclass, field

from models.labelers.resampling import ResampleConfig
from pipeline.config import check_out
from pipeline.edit.refine_config import REFINE_BATCH, RefineConfig


@dataclass(frozen=True)
class EvalConfig:
    """Held-out faces; each attribute (and pairs of them at once) pushed by +-strengths (fractions of its range)."""

    mapper: str  # mapper export directory or URI
    dataset: str | None = None  # default: the dataset the mapper was trained on
    out: str | None = None  # default: <run dir>/eval
    rows: int = 128  # held-out faces
    attributes: tuple[str, ...] = ()  # judge requests on these of the mapper's attributes only, pairs among them (default: all)
    strengths: tuple[float, ...] = (-0.3, -0.15, 0.15, 0.3)  # fractions of the attribute's range
    passes: int = 3  # the multi-pass variant (reported apart from the one-pass mapper); 1 = none
    refine: RefineConfig = field(default_factory=RefineConfig)  # --refine.steps k adds "mapper + k critic steps", reported apart with its cost
    refine_batch: int = REFINE_BATCH  # faces per critic batch, as the edit job's refine stage batches them
    singles: bool = True  # single-attribute requests; --no-singles judges the pairs only
    step_scale: float = 1.0  # != 1 adds "mapper-x<s>": the one-pass step w' - w scaled by s at inference, reported apart
    pairs: str = "first"  # attributes requested two at a time, the others held still: first (pair), all, none
    baseline_tolerance: float = 0.05  # the baseline's mean change is matched to a method's within this share of it
    baseline_tries: int = 4  # readings after the two probes, at most (the slope's step, then secant steps; each renders and reads the faces)
    holdout_every: int | None = None  # None: the mapper export's held-out rule (pipeline/made_with.py); another value is refused
    sheet_faces: int = 6
    dlib_rows: int = 32  # faces scored by the second identity embedder (dlib is slow on CPU)
    robust: ResampleConfig = field(default_factory=ResampleConfig)  # the judge's random resamplings for the robust figure

    def __post_init__(self) -> None:
        check_out(self.out, "eval writes its report, plots and sheets to a local directory")
        if not self.mapper:
            raise ValueError("--mapper is empty: give a mapper export directory")
        if self.pairs not in ("first", "all", "none"):
            raise ValueError(f"--pairs must be first, all or none, got {self.pairs!r}")
        if (self.rows < 2 or not self.strengths or self.passes < 1 or self.refine_batch < 1 or self.step_scale <= 0
                or self.baseline_tolerance <= 0 or self.baseline_tries < 0):
            raise ValueError("eval needs --rows >= 2, at least one strength, --passes >= 1, --refine-batch >= 1, --step-scale > 0, --baseline-tolerance > 0 and --baseline-tries >= 0")
