"""The one judge: real labelers over views, attainable change, drift, identity (no Ray needed)."""

import numpy as np
import pytest
import torch

from pipeline.eval.judge import CHECK_VIEWS, JUDGE_VIEWS, Judge
from pipeline.made_with import MadeWith
from stages.training import PriorLatents


@pytest.fixture(scope="module")
def judge():
    return Judge(MadeWith(), dlib=False)


@pytest.fixture(scope="module")
def faces():
    return PriorLatents(None, 1.0, (100,))(8, torch.Generator().manual_seed(5))


def test_unchanged_latents_change_nothing(judge, faces):
    before = judge.read(faces)
    r = judge.compare(before, faces.clone(), {"young": 0.2})
    assert r["achieved"]["young"] == 0 and r["drift"] == 0 and r["identity_cos"] > 0.9999
    assert set(r["achieved_by_view"]["young"]) == set(judge.views.names)
    assert "age" not in r["drift_by_attribute"] and "male" in r["drift_by_attribute"]  # the alias is not drift


def test_attainable_is_clipped_to_the_range(judge, faces):
    before = judge.read(faces)
    r = judge.compare(before, faces, {"smiling": 0.9})
    expect = float(np.mean(np.clip(before.labels["smiling"] + 0.9, 0, 1) - before.labels["smiling"]))
    assert abs(r["attainable"]["smiling"] - expect) < 1e-6 and r["attainable"]["smiling"] < 0.9


def test_labels_average_the_views(judge, faces):
    images = judge.render(faces)
    avg, per = judge.label(images, ("id", "flip"))
    assert np.allclose(avg["male"], (per["id"]["male"] + per["flip"]["male"]) / 2, atol=1e-6)
    other = judge.read(faces + 3 * torch.randn_like(faces))
    assert judge.compare(judge.read(faces), other.w, {"male": 0.1})["identity_cos"] < 0.9  # another face


def test_the_check_views_are_seen_by_nothing_else():
    from dataclasses import fields

    from pipeline.edit.refine_config import REFINE_VIEWS
    from pipeline.train.config import TrainConfig

    training = next(f.default for f in fields(TrainConfig) if f.name == "critic_views")
    assert CHECK_VIEWS and not set(CHECK_VIEWS) & (set(JUDGE_VIEWS) | set(REFINE_VIEWS) | set(training))


def test_the_check_reads_the_change_over_the_check_views(judge, faces):
    before = judge.read(faces)
    r = judge.compare(before, faces + 0.8 * torch.randn(faces.shape, generator=torch.Generator().manual_seed(6)), {"male": 0.2},
                      check=True)
    after, _ = judge.label(r["after"].images, CHECK_VIEWS)
    expect = float(np.mean(after["male"] - judge.label(before.images, CHECK_VIEWS)[0]["male"])) / r["attainable"]["male"]
    assert r["ratio_check"]["male"] == pytest.approx(expect, abs=1e-6) and r["ratio_check"]["male"] != r["ratio"]["male"]
    assert "ratio_check" not in judge.compare(before, faces, {"male": 0.2})


def test_the_robust_figure_reads_the_change_under_the_same_random_resamplings_before_and_after(judge, faces):
    from models.labelers.resampling import ResampleConfig

    before = judge.read(faces)
    moved = faces + 0.8 * torch.randn(faces.shape, generator=torch.Generator().manual_seed(6))
    r = judge.compare(before, moved, {"male": 0.2}, check=True)
    after = judge.label_resampled(r["after"].images)
    expect = float(np.mean(after["male"] - judge.label_resampled(before.images)["male"])) / r["attainable"]["male"]
    assert r["ratio_robust"]["male"] == pytest.approx(expect, abs=1e-6) and r["ratio_robust"]["male"] != r["ratio"]["male"]
    assert judge.compare(before, faces.clone(), {"male": 0.2}, check=True)["ratio_robust"]["male"] == 0  # same draws: no change
    other = Judge(MadeWith(), dlib=False, resampling=ResampleConfig(seed=1))
    assert not np.allclose(other.label_resampled(before.images)["male"], before.robust["male"])  # the seed picks the draws
