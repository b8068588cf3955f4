"""`make eval` on the tiny young+smiling mapper: singles and the pair, one pass and k passes, the baseline."""

import json
from pathlib import Path

import pytest

from pipeline.edit.refine_config import RefineConfig
from pipeline.eval.config import EvalConfig
from pipeline.eval.run import run_eval


def test_eval_reports_singles_pairs_and_passes(tiny_mapper, tiny_data, tmp_path):
    report = run_eval(EvalConfig(mapper=tiny_mapper, dataset=tiny_data["dataset"], rows=4, strengths=(0.3,), passes=2,
                                 step_scale=1.5, out=str(tmp_path / "eval")))
    requests = ["+".join(r["request"]) for r in report["results"]]
    assert requests == ["young", "smiling", "young+smiling"]
    pair = report["results"][2]
    assert set(pair) >= {"mapper", "mapper-x1.5", "mapper-2-pass", "baseline", "baseline@mapper-x1.5", "baseline@mapper-2-pass"} and set(pair["mapper"]["achieved"]) == {"young", "smiling"}
    single = report["results"][0]
    assert single["mapper-x1.5"]["latent_dist"] > single["mapper"]["latent_dist"] and "baseline@mapper-x1.5" in single
    assert "male" in pair["mapper"]["drift_by_attribute"] and "age" not in pair["mapper"]["drift_by_attribute"]
    for r in report["results"]:
        for m in ("mapper", "baseline"):
            assert {"attainable", "achieved", "ratio", "drift", "identity_cos", "latent_dist"} <= set(r[m])
    assert all(set(r[m]["ratio_check"]) == set(r["request"]) for r in report["results"] for m in ("mapper", "baseline"))
    assert report["check_views"] and all(set(s["ratio_check"]) == set(s["ratio"]) for s in report["summary"])
    on_disk = json.loads((tmp_path / "eval" / "eval.json").read_text())
    header = json.loads((tmp_path / "eval" / "config.json").read_text())  # the eval directory describes itself
    assert header["kind"] == "eval" and header["config"]["mapper"] == tiny_mapper and header["holdout_every"] == 10
    assert [s["method"] for s in on_disk["summary"]][:6] == ["mapper", "baseline", "mapper-x1.5", "baseline@mapper-x1.5",
                                                             "mapper-2-pass", "baseline@mapper-2-pass"]
    md = (tmp_path / "eval" / "eval.md").read_text()
    assert md.count("| young+smiling |") >= 3 and "on the check views" in md
    assert all(Path(p).is_file() for p in report["sheets"].values()) and (tmp_path / "eval" / "plot-young.png").is_file()


def test_no_singles_judges_the_pair_against_the_summed_single_steps(tiny_mapper, tiny_data, tmp_path):
    report = run_eval(EvalConfig(mapper=tiny_mapper, dataset=tiny_data["dataset"], rows=4, strengths=(0.3,), passes=1,
                                 singles=False, out=str(tmp_path / "eval")))
    (pair,) = report["results"]
    assert list(pair["request"]) == ["young", "smiling"] and set(pair["baseline"]["achieved"]) == {"young", "smiling"}
    assert pair["baseline"]["latent_dist"] > 0 and [s["method"] for s in report["summary"]] == ["mapper", "baseline"]


def test_refinement_needs_a_ported_critic(tiny_mapper, tiny_data, tmp_path):
    with pytest.raises(ValueError, match="needs a mapper trained with the ported critic"):
        run_eval(EvalConfig(mapper=tiny_mapper, dataset=tiny_data["dataset"], rows=2, refine=RefineConfig(2), out=str(tmp_path)))


def test_eval_can_judge_some_of_the_attributes_and_refuses_one_the_mapper_does_not_edit(tiny_mapper, tiny_data, tmp_path):
    cfg = EvalConfig(mapper=tiny_mapper, dataset=tiny_data["dataset"], rows=4, strengths=(0.3,), passes=1, attributes=("smiling",),
                     dlib_rows=0, out=str(tmp_path / "eval"))
    (row,) = run_eval(cfg)["results"]
    assert list(row["request"]) == ["smiling"] and "dlib_same_person" not in row["mapper"]  # one attribute: no pair; no dlib rows
    with pytest.raises(ValueError, match="unknown attribute 'male' for this mapper"):
        run_eval(EvalConfig(mapper=tiny_mapper, dataset=tiny_data["dataset"], attributes=("male",), out=str(tmp_path / "bad")))
    assert not (tmp_path / "bad").exists()
