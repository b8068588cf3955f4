"""The direction probe: it tells a learnable direction field from an unlearnable one, and runs on a dataset."""

import json

import pytest
import torch
import torch.nn.functional as F

from pipeline.eval.probe import fit_field, fixed_direction, mean_cosine, run_probe
from pipeline.eval.probe_config import ProbeConfig


def test_mean_cosine_skips_saturated_faces():
    target = torch.tensor([[[1.0, 0.0]], [[0.0, 0.0]]])  # the second face's gradient is zero (label clipped)
    pred = torch.tensor([[[1.0, 0.0]], [[0.0, 1.0]]])
    assert mean_cosine(pred, target) == [1.0]


def test_probe_tells_a_learnable_field_from_a_fixed_direction():
    gen = torch.Generator().manual_seed(0)
    w = torch.randn(600, 8, generator=gen)
    rotation = torch.linalg.qr(torch.randn(8, 8, generator=gen))[0]
    u = F.normalize(w @ rotation, dim=1).unsqueeze(1)  # a per-face direction that a function of w predicts exactly
    cfg = ProbeConfig(samples=600, test_rows=100, train_sizes=(500,), epochs=40, hidden=64, depth=2)
    fixed = mean_cosine(fixed_direction(u[:500]).expand_as(u[500:]), u[500:])[0]
    learned = fit_field(w[:500], u[:500], w[500:], u[500:], cfg)[0]
    assert abs(fixed) < 0.2 and learned > 0.9


def test_probe_writes_its_report_and_scores_a_mapper(tiny_data, tiny_mapper, tmp_path):
    cfg = ProbeConfig(dataset=tiny_data["dataset"], attributes=("young", "smiling"), samples=24, test_rows=8,
                      train_sizes=(8, 16), epochs=2, batch_size=8, mapper=tiny_mapper, out=str(tmp_path / "probe"))
    doc = json.loads((run_probe(cfg) / "probe.json").read_text())
    header = json.loads((tmp_path / "probe" / "config.json").read_text())
    assert header["kind"] == "probe" and header["config"]["samples"] == 24 and header["git_revision"]
    assert [(r["attribute"], r["train_faces"]) for r in doc["rows"]] == [("young", 8), ("smiling", 8), ("young", 16), ("smiling", 16)]
    assert all(-1 <= r["fixed_direction"] <= 1 and -1 <= r["mlp_field"] <= 1 for r in doc["rows"])
    assert set(doc["mapper"]["cosine"]) == {"young", "smiling"}


def test_probe_refuses_sizes_it_cannot_hold_out():
    with pytest.raises(ValueError, match="largest training size"):
        ProbeConfig(samples=100, test_rows=50, train_sizes=(60,))
