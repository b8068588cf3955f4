"""The trainers on a real local Ray (2-worker DDP, gloo), tiny presets: export, resume, bad input."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from models.mapper import load_mapper
from pipeline.manifest import read_manifest
from pipeline.train_config import TRAIN_PRESETS, TrainConfig

pytestmark = pytest.mark.timeout(900)
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def trained(tiny_data, tmp_path_factory):
    """A 2-worker DDP run of the paper's image objective on the tiny dataset."""
    from pipeline.train import run_train

    root = tmp_path_factory.mktemp("train")
    cfg = TrainConfig(**{**TRAIN_PRESETS["tiny"], "dataset": tiny_data["dataset"], "out": str(root / "run")})
    return {**tiny_data, "root": root, "cfg": cfg, "export": run_train(cfg)}


def test_regressor_reports_held_out_error(trained):
    doc = json.loads((Path(trained["regressor"]) / "regressor.json").read_text())
    mae = doc["trained"]["held_out_mae"]
    assert {"age", "young", "male", "smiling"} <= set(mae) and all(v >= 0 for v in mae.values())


def test_export_rebuilds_without_training_code(trained):
    mapper, doc = load_mapper(trained["export"])
    assert doc["architecture"]["attributes"] == ["young"] and doc["latent_space"] == "w"
    assert doc["generator_id"].startswith("dcgan-digiface-") and len(doc["dataset_manifest_sha256"]) == 64
    assert doc["steps"] == trained["cfg"].steps and set(doc["losses"]) >= {"requested", "keep", "identity", "cycle"}
    assert doc["critic"]["kind"] == "ported" and doc["critic"]["views"] == list(trained["cfg"].critic_views)
    assert doc["labelers"] == read_manifest(trained["dataset"])["config"]["labelers"]  # what edit / eval / edit-one judge with
    w = torch.randn(3, 100)
    out = mapper(w, torch.full((3, 1), 0.5), torch.full((3, 1), 0.2))
    assert out.shape == w.shape


def test_run_dir_describes_itself(trained):
    run = Path(trained["cfg"].out)
    assert json.loads((run / "config.json").read_text())["kind"] == "train"
    steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert trained["cfg"].steps in steps
    assert list((run / "val").glob("step-*.png")) and list((run / "tb").iterdir())
    check = json.loads((run / "edit_check.json").read_text())
    assert {"achieved", "attainable", "drift", "identity_cos"} <= set(check[0])
    fidelity = json.loads((run / "critic_fidelity.json").read_text())
    assert fidelity["critic"] == "ported" and {"r2", "mirror_r2"} <= set(fidelity["attributes"]["young"])


def test_latent_objective_multi_attribute(tiny_mapper):
    mapper, doc = load_mapper(tiny_mapper)
    assert mapper.cfg.attributes == ("young", "smiling") and doc["objective"] == "latent"


def _train_cli(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "pipeline", "train", *args], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


def test_a_killed_worker_then_a_killed_driver_resume_from_checkpoints(trained):
    """Two faults by pid: a Ray Train worker killed mid-run (FailureConfig restarts the group from the last
    checkpoint), then the driver; re-running the command continues from the newest checkpoint, never repeats a
    logged step, restores Adam's counters, and writes the export once."""
    from tests.pipeline.test_dataset import _cmdline, _wait, ray_processes_of

    run = trained["root"] / "killed"
    args = ["--preset", "tiny", "--dataset", trained["dataset"], "--critic", trained["regressor"], "--out", str(run),
            "--steps", "15", "--checkpoint-every", "3", "--objective", "latent", "--allow-weak-critic", "--max-failures", "1"]
    checkpoints = lambda: sorted(int(p.name.split("-")[1]) for p in run.glob("ray-train/step-*"))  # noqa: E731
    proc = _train_cli(*args)
    victim = []
    _wait(lambda: bool(checkpoints()) and bool(victim.extend(p for p in ray_processes_of(proc.pid) if "RayTrainWorker" in _cmdline(p)) or victim), proc, 300)
    assert victim, "no Ray Train worker was found while the run trained"
    first_ckpt = checkpoints()[-1]
    os.kill(victim[0], signal.SIGKILL)
    _wait(lambda: checkpoints()[-1] > first_ckpt, proc, 300)  # the group restarted and went on
    assert proc.poll() is None, "the run ended before its driver could be killed"
    os.killpg(proc.pid, signal.SIGKILL)
    out, _ = proc.communicate()
    first = [json.loads(x)["step"] for x in (run / "metrics.jsonl").read_text().splitlines() if "loss/total" in x]
    assert first and max(first) < 15 and "mapper exported" not in out
    again = _train_cli(*args)
    out, err = again.communicate(timeout=400)
    assert again.returncode == 0, err[-3000:]
    steps = [json.loads(x)["step"] for x in (run / "metrics.jsonl").read_text().splitlines() if "loss/total" in x]
    assert steps[-1] == 15 and sorted(set(steps)) == [3, 6, 9, 12, 15] and len(steps) == len(set(steps)), steps
    state = torch.load(sorted(run.glob("ray-train/step-*"))[-1] / "state.pt", weights_only=True)
    assert state["step"] == 15
    assert all(int(s["step"]) == 15 for s in state["optimizer"]["state"].values())  # Adam's counters restored
    assert out.count("mapper exported") == 1 and load_mapper(run / "export")[1]["steps"] == 15


@pytest.mark.parametrize("args, message", [
    (["--attrs", "beauty"], "unknown attribute 'beauty'"),
    (["--objective", "pixels"], "unknown --objective"),
    (["--out", "/proc/version/sub"], "output /proc/version/sub is not writable"),
])
def test_bad_input_one_line(trained, args, message):
    p = subprocess.run([sys.executable, "-m", "pipeline", "train", "--dataset", trained["dataset"], *args],
                       cwd=REPO, capture_output=True, text=True, timeout=120)
    assert p.returncode == 2 and message in p.stderr and len(p.stderr.strip().splitlines()) == 1, p.stderr


def test_missing_attribute_other_generator_and_empty_dataset(trained, tmp_path):
    from pipeline.train_plan import plan_training
    from tests.checkpoints import write_tiny_rosinality

    base = trained["cfg"]
    with pytest.raises(ValueError, match="not in the dataset"):
        # a dataset labeled by age-gender only has no `smiling`
        manifest = json.loads((Path(trained["dataset"]) / "manifest.json").read_text())
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


def test_blind_critic_is_refused_in_one_line(trained, tmp_path):
    """The 2-epoch distilled H of the tiny dataset reads nothing: training young through it stops before any step."""
    run = tmp_path / "blind"
    p = subprocess.run([sys.executable, "-m", "pipeline", "train", "--preset", "tiny", "--dataset", trained["dataset"],
                        "--critic", trained["regressor"], "--out", str(run)], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert p.returncode == 2 and "critic is blind to young" in p.stderr and len(p.stderr.strip().splitlines()) == 1, p.stderr
    report = json.loads((run / "critic_fidelity.json").read_text())
    assert report["weak"] and report["weak"][0].startswith("young")
    assert not (run / "export").exists()


@pytest.mark.slow
def test_training_moves_smiling_as_requested(smiling_mapper):
    """A short run on smiling, judged by the real labelers over views on faces it never saw: both signs move
    by a margin; the untrained mapper (the identity) moves nothing."""
    from models.mapper import Mapper, request
    from pipeline.judge import Judge
    from pipeline.train import mapper_config
    from pipeline.train_plan import plan_training
    from stages.training import PriorLatents

    mapper, _ = load_mapper(smiling_mapper["export"])
    judge = Judge(None, dlib=False)
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
