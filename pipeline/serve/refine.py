"""The page's "refine" control: one Refiner per export and generator, asked for any number of its steps up to --refine.steps."""

from __future__ import annotations

import copy
from dataclasses import replace
from typing import Any

from models.generators.interface import Generator
from pipeline.edit.refine import Refiner, check_refinable
from pipeline.edit.refine_config import RefineConfig


def refinable(doc: dict[str, Any]) -> bool:
    """Whether an export's critic can take steps (it was trained with the ported critic)."""
    try:
        check_refinable(doc, None)
    except ValueError:
        return False
    return True


def refiner_on(doc: dict[str, Any], cfg: RefineConfig, gen: Generator) -> Refiner:
    """The export's critic over cfg's views on `gen`, for up to cfg.steps steps; a one-line refusal for an export whose
    critic cannot take them."""
    if not cfg.steps:
        raise ValueError("the refine control is off (--refine.steps 0)")
    return Refiner(doc, cfg, gen)


def with_steps(base: Refiner, steps: int) -> Refiner:
    """`base` taking `steps` of its steps: the same critic, the first `steps` draws of its schedule (view_schedule and
    eot_schedule draw step by step from fixed seeds, so these are the draws a Refiner built for `steps` makes)."""
    if not 0 < steps <= base.cfg.steps:
        raise ValueError(f"refine takes 1..{base.cfg.steps} critic steps (--refine.steps), got {steps}")
    out = copy.copy(base)
    out.cfg = replace(base.cfg, steps=steps)
    out.schedule = base.schedule[:steps] if base.schedule is not None else None
    return out


def check_steps(steps: int, most: int) -> None:
    """The page's refine value, refused in one line outside 0..most."""
    if not 0 <= steps <= most:
        raise ValueError(f"refine takes 0..{most} critic steps (--refine.steps), got {steps}")
