"""The critic steps' settings (pipeline/edit/refine.py), shared by `edit`, `eval` and `edit-one`: torch-free, so each
command parses (and refuses) them before any model loads."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from models.labelers.resampling import EotConfig

# the views the critic steps draw from: every integer shift within 2 px (the view grammar's axes and diagonals), mirrored
# or not, but for the judge's diagonal 2-px shifts, so an edit must still hold in views no step saw. REFINE_VIEWS_PER_STEP
# of them, drawn anew each step: on 48 held-out faces, young+smiling at +-0.15/0.3, 12 steps so drawn read young 0.60 and
# smiling 0.79 of attainable for the judge and 0.39 / 0.78 on 3-px shifts nothing saw (the judge's check views), against
# 0.59 / 0.78 and 0.31 / 0.75 over a fixed eight (id, flip, dx+1, dy-1, dx-2, dy+2, flipdx-1, flipdy+1), at the same cost
_SHIFTS = ("", *(f"{axis}{k:+d}" for axis in ("dx", "dy", "dxy") for k in (-2, -1, 1, 2)))
REFINE_VIEWS = tuple(v for v in ((m + s) or "id" for m in ("", "flip") for s in _SHIFTS) if v not in ("dxy+2", "flipdxy-2"))
REFINE_VIEWS_PER_STEP = 8
# the steps' identity hinge: tighter than training's 0.85 (a mapper must learn edits across all faces; these steps need
# only keep this face). On 128 held-out faces of the `long` export, +-0.15/0.3, each against the linear direction matched
# to its change: young 0.54, male 0.92, smiling 0.86 of attainable at SFace 0.949, 0.955, 0.954, identity and drift at or
# better than the baseline's 12/12; at 0.85 smiling read 0.95 at SFace 0.911, its -0.15 identity below the baseline's
REFINE_IDENTITY_MARGIN = 0.95
# faces a critic step takes at once: on 2 CPU cores a step over these views costs 21 s per 128 faces in batches of 16
# and 72 s in one batch of 128 (the 8-view activations outgrow the caches); each batch stops on its own
REFINE_BATCH = 16


@dataclass(frozen=True)
class RefineConfig:
    """An optional multi-step edit after the mapper's one pass: k Adam steps on the latent against the export's critic.
    Not the paper's one pass: each step is a generator and critic backward (~0.1 s a face on 2 CPU cores)."""

    steps: int = 0  # > 0: that many critic steps from the mapper's output (0: the mapper's edit as it is)
    views: tuple[str, ...] = REFINE_VIEWS  # the views those steps' critic draws from
    views_per_step: int = REFINE_VIEWS_PER_STEP  # views drawn for each step (0: all of them at every step)
    stop_at_target: bool = True  # each face stops at its target: the nearer of the two steps around it (--refine.no-stop-at-target: all k)
    identity_margin: float = REFINE_IDENTITY_MARGIN  # the identity hinge's cosine for these steps (above it identity costs nothing)
    lr: float = 0.03  # Adam's step on the latent
    # random differentiable transformations each step averages over instead of drawn views (--refine.eot.per-step 0: views)
    eot: EotConfig = field(default_factory=EotConfig)

    def __post_init__(self) -> None:
        if self.steps < 0 or self.views_per_step < 0 or self.lr <= 0:
            raise ValueError(f"--refine.steps and --refine.views-per-step must be >= 0 and --refine.lr > 0, got {self.steps}, "
                             f"{self.views_per_step} and {self.lr}")
        if not self.views:
            raise ValueError("--refine.views is empty: give at least one view, e.g. id,flip")
        if not -1.0 <= self.identity_margin <= 1.0:
            raise ValueError(f"--refine.identity-margin is a cosine in [-1, 1], got {self.identity_margin}")
        if self.eot.per_step and self.views_per_step != REFINE_VIEWS_PER_STEP:
            raise ValueError("--refine.views-per-step has no effect with EOT draws: set --refine.eot.per-step 0 to draw views, "
                             "or leave it")

    def described(self) -> dict[str, Any]:
        """What the steps are, for config hashes and reports: nothing but the (zero) steps when there are none."""
        if not self.steps:
            return {"steps": 0}
        out = {**asdict(self), "views": list(self.views)}
        return out if self.eot.per_step else {**out, "eot": {"per_step": 0}}
