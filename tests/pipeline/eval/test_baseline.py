"""The baseline's direction and the step along it that matches another method's change."""

import math

import pytest
import torch

from pipeline.eval.baseline import fit_direction, match_step, move


def test_direction_follows_the_label():
    g = torch.Generator().manual_seed(0)
    w = torch.randn(512, 8, generator=g)
    n = fit_direction(w, 0.5 * w[:, 3] - 0.2 * w[:, 5])
    assert n.norm().item() == pytest.approx(1.0, abs=1e-5) and n[3] > 0.85 and n[5] < -0.3
    assert torch.allclose(move(w, n, 2.0) - w, 2.0 * n.expand_as(w), atol=1e-6)


def saturating(a: float) -> float:
    return 0.4 * math.tanh(2.0 * a)


def test_labels_that_do_not_vary_give_no_direction_not_nan():
    """A tiny random generator's faces all read alike: the direction is zeros (a step changes nothing), not 0/0."""
    w = torch.randn(28, 8, 64)
    n = fit_direction(w, torch.full((28,), 0.4))
    assert n.shape == (8, 64) and torch.equal(n, torch.zeros(8, 64))


@pytest.mark.parametrize("goal", [0.3, -0.15])
def test_a_bending_response_is_matched_within_the_tolerance(goal):
    """The straight line through the two probes alone lands off the goal; the secant steps land on it."""
    scale = 0.4
    probes = [math.copysign(scale * f, goal) for f in (0.75, 1.5)]
    slope = sum(p * saturating(p) for p in probes) / sum(p * p for p in probes)
    assert abs(saturating(goal / slope) - goal) > 0.02 * abs(goal)
    alpha, got = match_step(saturating, goal, scale, tolerance=0.02, tries=4)
    assert abs(got - goal) <= 0.02 * abs(goal) and got == saturating(alpha)


def test_an_unreachable_change_stops_at_three_times_the_probed_range():
    alpha, got = match_step(lambda a: 0.1 * math.tanh(a), 0.5, scale=0.5, tolerance=0.05, tries=6)
    assert alpha == pytest.approx(1.5) and got == pytest.approx(0.1 * math.tanh(1.5))


def test_no_tries_keeps_the_nearer_probe():
    alpha, got = match_step(lambda a: a, 0.7, scale=1.0, tolerance=0.05, tries=0)
    assert (alpha, got) == (0.75, 0.75)
