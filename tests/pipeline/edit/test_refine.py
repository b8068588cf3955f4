"""pipeline/edit/refine.py: the views the critic steps average over."""

from dataclasses import fields

import pytest

from pipeline.edit.config import REFINE_VIEWS, EditConfig
from pipeline.eval.judge import JUDGE_VIEWS
from pipeline.train.config import TrainConfig

pytestmark = pytest.mark.timeout(600)  # run alone, the smiling_mapper fixture trains through two faults first


def test_refine_views_extend_the_training_views_and_leave_the_judges_shifts_unseen():
    training = next(f.default for f in fields(TrainConfig) if f.name == "critic_views")
    shifted = set(JUDGE_VIEWS) - {"id", "flip"}
    assert set(training) < set(REFINE_VIEWS) and shifted and not shifted & set(REFINE_VIEWS)


def test_refiner_reads_over_the_views_it_is_given_and_a_bad_view_is_refused_before_any_work(smiling_mapper, tmp_path):
    from models.editors.mapper import load_mapper
    from models.open import open_generator
    from pipeline.edit.job import run_edit
    from pipeline.edit.refine import Refiner

    export = smiling_mapper["export"]
    _, doc = load_mapper(export)
    assert Refiner(doc, 1, ("id", "dx-2"), open_generator(doc.get("generator"))).critic.h.views.names == ("id", "dx-2")
    with pytest.raises(ValueError, match=r"unknown view 'dz\+1'"):
        run_edit(EditConfig(mapper=export, delta=("smiling=0.2",), refine_steps=2, refine_views=("dz+1",), out=str(tmp_path / "bad")))
    assert not (tmp_path / "bad").exists()
