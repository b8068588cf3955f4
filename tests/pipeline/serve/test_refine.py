"""The refine control's steps: a Refiner asked for fewer steps draws what one built for them would."""

from __future__ import annotations

import pytest

from models.labelers.eot import EotConfig, eot_schedule
from pipeline.edit.refine import view_schedule
from pipeline.edit.refine_config import REFINE_VIEWS
from pipeline.serve.refine import check_steps, refinable


@pytest.mark.parametrize("steps", [1, 3, 7])
def test_fewer_steps_draw_the_first_of_the_schedule(steps):
    """with_steps keeps the first `steps` draws of the full schedule: they must be what a schedule of `steps` draws."""
    views = view_schedule(REFINE_VIEWS, 8, 7)
    assert [v.names for v in view_schedule(REFINE_VIEWS, 8, steps)] == [v.names for v in views[:steps]]
    assert eot_schedule(EotConfig(), steps) == eot_schedule(EotConfig(), 7)[:steps]


def test_steps_outside_the_offer_are_refused():
    check_steps(0, 5)
    check_steps(5, 5)
    for bad in (-1, 6):
        with pytest.raises(ValueError, match=r"refine takes 0\.\.5 critic steps \(--refine.steps\)"):
            check_steps(bad, 5)


def test_only_a_ported_critic_takes_steps():
    assert refinable({"critic": {"kind": "ported", "views": ["id"]}})
    assert not refinable({"critic": {"kind": "regressor"}}) and not refinable({})
