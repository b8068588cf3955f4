"""The trainers on a real local Ray (2-worker DDP, gloo), tiny presets: export, resume, bad input."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch

from models.editors.mapper import load_mapper
from pipeline.manifest import read_manifest
from pipeline.train.config import TRAIN_PRESETS, TrainConfig
from tests.cli import run_main
from tests.faults import logged_steps

pytestmark = pytest.mark.timeout(900)


def test_regressor_reports_held_out_error(tiny_data):
    doc = json.loads((Path(tiny_data["regressor"]) / "regressor.json").read_text())
    mae = doc["trained"]["held_out_mae"]
    assert {"age", "young", "male", "smiling"} <= set(mae) and all(v >= 0 for v in mae.values())


def test_export_rebuilds_without_training_code(smiling_mapper):
    cfg = smiling_mapper["cfg"]
    mapper, doc = load_mapper(smiling_mapper["export"])
    assert doc["architecture"]["attributes"] == ["smiling"] and doc["latent_space"] == "w"
    assert doc["generator_id"].startswith("dcgan-digiface-") and len(doc["dataset_manifest_sha256"]) == 64
    assert doc["steps"] == cfg.steps and set(doc["losses"]) >= {"requested", "keep", "identity", "cycle"}
    assert doc["critic"]["kind"] == "ported" and doc["critic"]["views"] == list(cfg.critic_views)
    assert doc["labelers"] == read_manifest(cfg.dataset)["config"]["labelers"]  # what edit / eval / edit-one judge with
    w = torch.randn(3, 100)
    out = mapper(w, torch.full((3, 1), 0.5), torch.full((3, 1), 0.2))
    assert out.shape == w.shape


def test_run_dir_describes_itself(smiling_mapper):
    cfg = smiling_mapper["cfg"]
    run = Path(cfg.out)
    assert json.loads((run / "config.json").read_text())["kind"] == "train"
    assert cfg.steps in logged_steps(run)
    assert list((run / "val").glob("step-*.png")) and list((run / "tb").iterdir())
    check = json.loads((run / "edit_check.json").read_text())
    assert {"achieved", "attainable", "drift", "identity_cos"} <= set(check[0])
    fidelity = json.loads((run / "critic_fidelity.json").read_text())
    assert fidelity["critic"] == "ported" and {"r2", "mirror_r2"} <= set(fidelity["attributes"]["smiling"])


def test_latent_objective_multi_attribute(tiny_mapper):
    mapper, doc = load_mapper(tiny_mapper)
    assert mapper.cfg.attributes == ("young", "smiling") and doc["objective"] == "latent"
    # the surrogates never train on the held-out faces their fidelity is read on: through a 2-epoch H that reads
    # almost nothing they cannot score near 1 (fitted on those faces too, they memorised them: R2 1.000 everywhere)
    fidelity = json.loads((Path(tiny_mapper).parent / "critic_fidelity.json").read_text())
    assert fidelity["objective"] == "latent" and max(r["r2"] for r in fidelity["attributes"].values()) < 0.9, fidelity


def test_a_killed_worker_then_a_killed_driver_resume_from_checkpoints(smiling_mapper):
    """The smiling run went through two faults by pid (tests/faults.py): a Ray Train worker killed after the first
    checkpoint (FailureConfig restarts the group from it), then the driver; re-running the command continued from
    the newest checkpoint, never repeated a logged step, restored Adam's counters, and wrote the export once."""
    cfg, faults = smiling_mapper["cfg"], smiling_mapper["faults"]
    run, every = Path(cfg.out), cfg.checkpoint_every
    assert faults["before"] and max(faults["before"]) < cfg.steps and "mapper exported" not in faults["killed_console"]
    steps = logged_steps(run)
    assert steps[-1] == cfg.steps and sorted(set(steps)) == list(range(every, cfg.steps + 1, every)), steps
    assert len(steps) == len(set(steps)), steps  # no step logged twice
    state = torch.load(sorted(run.glob("ray-train/step-*"))[-1] / "state.pt", weights_only=True)
    assert state["step"] == cfg.steps
    assert all(int(s["step"]) == cfg.steps for s in state["optimizer"]["state"].values())  # Adam's counters restored
    assert faults["console"].count("mapper exported") == 1 and load_mapper(run / "export")[1]["steps"] == cfg.steps


@pytest.mark.parametrize("args, message", [
    (["--attributes", "beauty"], "unknown attribute 'beauty'"),
    (["--objective", "pixels"], "unknown --objective"),
    (["--out", "/proc/version/sub"], "output /proc/version/sub is not writable"),
])
def test_bad_input_one_line(tiny_data, args, message, capsys):
    rc, err = run_main(capsys, "train", "--dataset", tiny_data["dataset"], *args)
    assert rc == 2 and message in err and len(err.strip().splitlines()) == 1, err


def test_missing_attribute_other_generator_and_empty_dataset(tiny_data, tmp_path):
    from pipeline.train.plan import plan_training
    from tests.checkpoints import write_tiny_rosinality

    base = TrainConfig(**{**TRAIN_PRESETS["tiny"], "dataset": tiny_data["dataset"]})
    with pytest.raises(ValueError, match="not in the dataset"):
        # a dataset labeled by age-gender only has no `smiling`
        manifest = json.loads((Path(tiny_data["dataset"]) / "manifest.json").read_text())
        manifest["attributes"] = ["age", "young", "male"]
        only = tmp_path / "agegender"
        only.mkdir()
        (only / "manifest.json").write_text(json.dumps(manifest))
        plan_training(dataclasses.replace(base, dataset=str(only), attributes=("smiling",)))
    ckpt = tmp_path / "g.pt"
    write_tiny_rosinality(ckpt)
    with pytest.raises(ValueError, match="is not the dataset's generator"):
        plan_training(dataclasses.replace(base, generator=str(ckpt)))
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "manifest.json").write_text(json.dumps({**manifest, "num_rows": 0, "shards": []}))
    with pytest.raises(ValueError, match="is empty"):
        plan_training(dataclasses.replace(base, dataset=str(empty)))
    with pytest.raises(ValueError, match="no dataset at"):
        plan_training(dataclasses.replace(base, dataset=str(tmp_path / "nothing")))


def test_a_distilled_critic_fitted_on_another_held_out_rule_is_refused(tiny_data, tmp_path):
    """The tiny H was fitted holding seeds % 10 out: through it, a rule-7 run's held-out faces would not be unseen."""
    from pipeline.train.job import run_train

    cfg = TrainConfig(**{**TRAIN_PRESETS["tiny"], "dataset": tiny_data["dataset"], "critic": tiny_data["regressor"], "holdout_every": 7,
                         "out": str(tmp_path / "rule7")})
    with pytest.raises(ValueError, match="fitted with --holdout-every 10, this run holds out seeds % 7 == 0"):
        run_train(cfg)
    assert not (tmp_path / "rule7" / "export").exists()


def test_blind_critic_is_refused_in_one_line(tiny_data, tmp_path, capsys):
    """The 2-epoch distilled H of the tiny dataset reads nothing: training young through it stops before any step."""
    run = tmp_path / "blind"
    rc, err = run_main(capsys, "train", "--preset", "tiny", "--dataset", tiny_data["dataset"], "--critic", tiny_data["regressor"],
                    "--out", str(run))
    assert rc == 2 and "critic is blind to young" in err and len(err.strip().splitlines()) == 1, err
    report = json.loads((run / "critic_fidelity.json").read_text())
    assert report["weak"] and report["weak"][0].startswith("young")
    assert not (run / "export").exists()


@pytest.mark.slow
def test_training_moves_smiling_as_requested(smiling_mapper):
    """A short run on smiling, judged by the real labelers over views on faces it never saw: both signs move
    by a margin; the untrained mapper (the identity) moves nothing."""
    from models.editors.mapper import Mapper, request
    from pipeline.eval.judge import Judge
    from pipeline.made_with import MadeWith
    from pipeline.train.job import mapper_config
    from pipeline.train.plan import plan_training
    from stages.training import PriorLatents

    mapper, _ = load_mapper(smiling_mapper["export"])
    judge = Judge(MadeWith(), dlib=False)
    w = PriorLatents(None, 1.0, (100,))(32, torch.Generator().manual_seed(2026))
    before = judge.read(w)
    a = judge.attrs(before, ("smiling",))
    untrained = Mapper(mapper_config(plan_training(smiling_mapper["cfg"])))
    got = {}
    for name, m in (("trained", mapper), ("untrained", untrained)):
        for d in (0.3, -0.3):
            with torch.no_grad():
                got[name, d] = judge.compare(before, m(w, a, request(m, len(w), {"smiling": d})), {"smiling": d})["achieved"]["smiling"]
    assert got["untrained", 0.3] == 0 and got["untrained", -0.3] == 0
    assert got["trained", 0.3] > 0.05 and got["trained", -0.3] < -0.02, got


def test_another_config_at_an_existing_run_is_refused_before_any_work(tiny_data, tiny_mapper):
    """tiny_mapper's run directory, asked to train 3 more steps and another attribute set: one line naming the fields, and
    the run (its config, its export) untouched."""
    from pipeline.train.job import run_train

    run = Path(tiny_data["root"]) / "mapper"
    before = (run / "config.json").read_text(), sorted(p.name for p in run.iterdir())
    recorded = json.loads(before[0])["config"]
    cfg = TrainConfig(**{**TRAIN_PRESETS["tiny"], "dataset": tiny_data["dataset"], "critic": tiny_data["regressor"],
                         "allow_weak_critic": True, "objective": "latent", "num_workers": 1, "attributes": ("young",),
                         "steps": recorded["steps"] + 3, "out": str(run)})
    with pytest.raises(ValueError, match=r"holds a training run of another config \(attributes .*steps"):
        run_train(cfg)
    assert ((run / "config.json").read_text(), sorted(p.name for p in run.iterdir())) == before
