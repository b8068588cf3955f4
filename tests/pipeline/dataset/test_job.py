"""The dataset job on a real local Ray, tiny preset: outputs, readers, determinism, resume, bad input."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.config import DATASET_PRESETS, DatasetConfig, StageResources
from pipeline.manifest import read_manifest, verify_manifest
from tests.cli import run_main
from tests.faults import command, find_worker, ray_processes_of, wait_for

pytestmark = pytest.mark.timeout(600)
REPO = Path(__file__).resolve().parents[3]
# the tiny preset in a pool per stage, as small batches as the tiny preset's one pool: a label actor to kill
PER_STAGE = ("--preset", "tiny", "--no-one-pool", "--render.batch-size", "8", "--label.batch-size", "8", "--embed.batch-size", "8")


def tiny(out: Path, **kw) -> DatasetConfig:
    """The tiny preset at 64 rows: the config of the session's tiny dataset (tests/pipeline/conftest.py)."""
    return DatasetConfig(**{**DATASET_PRESETS["tiny"], "num_samples": 64, "out": str(out), **kw})


def rows(out: Path) -> pd.DataFrame:
    return pd.read_parquet(out / "parquet").sort_values("seed").reset_index(drop=True)


@pytest.fixture(scope="module")
def tiny_dataset(tiny_data, tmp_path_factory):
    """A copy of the session's tiny dataset, which this module's tests grow and rewrite."""
    out = tmp_path_factory.mktemp("ds") / "tiny"
    shutil.copytree(tiny_data["dataset"], out)
    assert tiny(out).identity_hash() == read_manifest(str(out))["config_hash"]  # the config these tests rerun with
    return out


def test_manifest_checks_out(tiny_dataset):
    m = read_manifest(str(tiny_dataset))
    assert m["num_rows"] == 64 and len(m["shards"]) == 4
    assert verify_manifest(str(tiny_dataset)) == []
    assert {"age", "young", "male", "smiling", "happy"} <= set(m["attributes"])
    assert m["generator_id"].startswith("dcgan-digiface-") and m["embedder_id"]
    assert json.loads((tiny_dataset / "config.json").read_text())["config_hash"] == m["config_hash"]


def test_readers_agree(tiny_dataset):
    import ray
    import webdataset as wds

    df = rows(tiny_dataset)
    assert df["seed"].tolist() == list(range(64))
    assert np.all((df["age"] >= 0) & (df["age"] <= 81))
    assert np.allclose(np.stack(df["identity"]).dot(np.stack(df["identity"])[0])[0], 1, atol=1e-4)
    assert ray.data.read_parquet(str(tiny_dataset / "parquet")).count() == 64
    ray_wds = ray.data.read_webdataset(str(tiny_dataset / "wds")).take_all()
    assert len(ray_wds) == 64 and {"png", "npy", "json"} <= set(ray_wds[0])
    tars = sorted(str(p) for p in (tiny_dataset / "wds").glob("*.tar"))
    samples = list(wds.WebDataset(tars, shardshuffle=False).decode("rgb8"))
    first = next(s for s in samples if s["__key__"] == "000000000000")
    assert first["png"].shape == (64, 64, 3)
    np.testing.assert_allclose(first["npy"], df.loc[0, "w"], rtol=0, atol=0)
    assert first["json"]["seed"] == 0 and abs(first["json"]["age"] - df.loc[0, "age"]) < 1e-5


def test_rerun_is_a_noop_and_grow_adds_shards(tiny_dataset, capsys):
    from pipeline.dataset.job import run_dataset

    before = {p.name: p.stat().st_mtime_ns for p in (tiny_dataset / "parquet").iterdir()}
    run_dataset(tiny(tiny_dataset))
    assert "already complete" in capsys.readouterr().out
    m = run_dataset(tiny(tiny_dataset, num_samples=72))
    assert m["num_rows"] == 72 and len(m["shards"]) == 5
    after = {p.name: p.stat().st_mtime_ns for p in (tiny_dataset / "parquet").iterdir()}
    assert all(after[k] == v for k, v in before.items())  # old shards untouched
    assert rows(tiny_dataset)["seed"].tolist() == list(range(72))


def test_determinism_across_batch_size_and_concurrency(ray_local, tmp_path, tiny_dataset):
    from pipeline.dataset.job import run_dataset

    res = StageResources(actors=2, num_cpus=0.25, batch_size=5)  # 4 pools x 2 actors fit 4 logical CPUs
    run_dataset(tiny(tmp_path / "b", num_samples=32, one_pool=False, render=res, label=res, embed=res))  # the tiny dataset: one pool
    same_rows(rows(tiny_dataset).iloc[:32], rows(tmp_path / "b"))


def same_rows(a: pd.DataFrame, b: pd.DataFrame) -> None:
    np.testing.assert_array_equal(np.stack(a["z"]), np.stack(b["z"]))
    np.testing.assert_array_equal(np.stack(a["w"]), np.stack(b["w"]))
    for col in ("age", "male", "smiling"):
        np.testing.assert_allclose(a[col], b[col], atol=1e-3)
    np.testing.assert_allclose(np.stack(a["identity"]), np.stack(b["identity"]), atol=1e-3)


def test_one_pool_rows_do_not_depend_on_its_actors_or_batch_size(ray_local, tmp_path, tiny_dataset):
    from pipeline.dataset.job import run_dataset

    m = run_dataset(tiny(tmp_path / "one", num_samples=32, pool=StageResources(actors=1, num_cpus=1.0, batch_size=5)))
    assert m["num_rows"] == 32 and m["config_hash"] == read_manifest(str(tiny_dataset))["config_hash"]  # a resource, not the rows' identity
    same_rows(rows(tiny_dataset).iloc[:32], rows(tmp_path / "one"))


def test_a_killed_label_actor_then_a_killed_driver_and_the_rerun_match_an_uninterrupted_run(tmp_path, tiny_dataset):
    """Two faults by pid in one run: a label-stage actor killed mid-run (a worker lost on a cluster: Ray restarts it
    and retries its batches), then the driver (its local Ray orphaned); the re-run stops the orphans, finishes the
    missing shards, and the dataset equals an uninterrupted run, every seed once."""
    out = tmp_path / "killed"
    shards = lambda: len(list((out / "stats").glob("*.json")))  # noqa: E731
    proc = command("dataset", *PER_STAGE, "--out", str(out), "--num-samples", "64")
    os.kill(find_worker(proc, "LabelAttributes", lambda: shards() >= 1, 240), signal.SIGKILL)
    wait_for(lambda: shards() >= 2, proc)  # the stage recovered: another shard committed after the kill
    assert proc.poll() is None and shards() < 4, "the run ended before its driver could be killed"
    os.kill(proc.pid, signal.SIGKILL)  # the driver only: its local Ray is orphaned
    proc.wait()
    assert not (out / "manifest.json").exists()
    left = ray_processes_of(proc.pid)
    done = command("dataset", *PER_STAGE, "--out", str(out), "--num-samples", "64")
    stdout, stderr = done.communicate(timeout=300)
    assert done.returncode == 0, stderr[-2000:]
    survivors = ray_processes_of(proc.pid)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    assert not survivors, f"{len(survivors)} of the killed run's {len(left)} Ray processes survived the re-run"
    assert verify_manifest(str(out)) == []
    b = rows(out)
    assert b["seed"].tolist() == list(range(64))  # every seed exactly once
    a = rows(tiny_dataset).iloc[:64]
    np.testing.assert_array_equal(np.stack(a["w"]), np.stack(b["w"]))
    np.testing.assert_allclose(a["age"], b["age"], atol=1e-3)


def test_a_killed_pool_actor_is_restarted_and_the_run_matches_an_uninterrupted_run(tmp_path, tiny_dataset):
    """The default one pool loses an actor (killed by pid as soon as it is up): Ray starts it again, its shard is
    retried, and every seed is written once, as in an uninterrupted run."""
    out = tmp_path / "killed-pool"
    proc = command("dataset", "--preset", "tiny", "--out", str(out), "--num-samples", "64")
    os.kill(find_worker(proc, "ShardTask", lambda: True, 240), signal.SIGKILL)
    _, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr[-2000:]
    assert verify_manifest(str(out)) == []
    b, a = rows(out), rows(tiny_dataset).iloc[:64]
    assert b["seed"].tolist() == list(range(64))
    np.testing.assert_array_equal(np.stack(a["w"]), np.stack(b["w"]))
    np.testing.assert_allclose(a["age"], b["age"], atol=1e-3)


@pytest.mark.parametrize("args, message", [
    (["--labelers", "age-gender,beauty"], "unknown labeler 'beauty'"),
    (["--psi", "1.5"], "--psi must be in [0, 1]"),
    (["--render.num-gpus", "1"], "add --no-one-pool"),
    (["--out", "/proc/version/sub"], "not writable"),
    (["--generator", "/nonexistent/ffhq.pkl"], "not found"),
    (["--generator", "GARBAGE"], "neither a torch checkpoint nor a pickle"),
])
def test_bad_input_one_line_error(args, message, tmp_path, capsys):
    (tmp_path / "garbage.pt").write_text("not a network")
    args = [str(tmp_path / "garbage.pt") if a == "GARBAGE" else a for a in args]
    rc, err = run_main(capsys, "dataset", "--preset", "tiny", "--out", str(tmp_path / "new" / "x"), *args)
    assert rc == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "new").exists()  # a failed command leaves no directory it created


def test_a_bad_flag_value_is_one_line_from_a_real_process(tmp_path):
    """The whole command as a user runs it (a new interpreter, its imports and warnings): still one line."""
    p = subprocess.run([sys.executable, "-m", "pipeline", "dataset", "--preset", "tiny", "--out", str(tmp_path / "x"), "--psi", "1.5"],
                       cwd=REPO, capture_output=True, text=True, timeout=120)
    assert p.returncode == 2 and p.stderr.strip() == "error: --psi must be in [0, 1], got 1.5", p.stderr


def test_existing_dataset_with_other_config_is_refused_and_untouched(tiny_dataset):
    from pipeline.dataset.job import run_dataset

    snapshot = {p: p.stat().st_mtime_ns for p in tiny_dataset.rglob("*") if p.is_file()}
    with pytest.raises(ValueError, match="different config"):
        run_dataset(tiny(tiny_dataset, psi=0.5))
    assert {p: p.stat().st_mtime_ns for p in tiny_dataset.rglob("*") if p.is_file()} == snapshot


def test_no_images_and_a_user_arcface_keep_latents_labels_and_identity(ray_local, tmp_path, monkeypatch):
    """Relative paths too: they mean the user's directory, not the one the Ray workers run in."""
    from pipeline.dataset.job import run_dataset
    from tests.arcface_ckpt import write_tiny_arcface

    write_tiny_arcface(tmp_path / "model_ir_se.pth")  # a user's pSp-layout checkpoint (tiny widths)
    monkeypatch.chdir(tmp_path)
    cfg = dataclasses.replace(tiny(Path("noimg"), num_samples=16), image_format="none", embedder="arcface:model_ir_se.pth")
    m = run_dataset(cfg)
    assert "image" not in {c["name"] for c in m["schema"]} and verify_manifest(str(tmp_path / "noimg")) == []
    df = rows(tmp_path / "noimg")
    assert "age" in df.columns and np.stack(df["identity"]).shape == (16, 32) and m["embedder_id"].startswith("arcface-ir-se")
    made = m["made_with"]  # what edit, eval and the critic reopen: the user's relative path made absolute
    assert made["embedder"] == f"arcface:{tmp_path / 'model_ir_se.pth'}" and made["embedder_id"] == m["embedder_id"]


def test_gpus_the_machine_lacks_are_one_line_not_a_silent_wait(ray_local, tmp_path, capsys):
    """An actor pool asking for GPUs a local Ray does not have would wait forever: refused before any work."""
    rc, err = run_main(capsys, "dataset", "--preset", "tiny", "--out", str(tmp_path / "gpu"), "--pool.num-gpus", "64")
    assert rc == 2 and "GPUs but this machine's Ray has" in err and len(err.strip().splitlines()) == 1, err
    assert not list((tmp_path / "gpu").glob("stats/*"))  # no shard was started


def overflowing(path: Path, where: str) -> Path:
    """The reference StyleGAN2 checkpoint with finite weights that overflow float32 when run: "mapping" (two style
    layers x1e35: w is Inf) or "pixels" (every to_rgb bias 3e38: their sum is Inf). Loading cannot see it."""
    import torch

    g = torch.load(REPO / "tests" / "data" / "stylegan2-rosinality-32" / "checkpoint.pt", weights_only=True)["g_ema"]
    hit = (lambda k: k in ("style.1.weight", "style.2.weight")) if where == "mapping" else (lambda k: k.startswith("to_rgb") and k.endswith(".bias"))
    torch.save({"g_ema": {k: (v * 1e35 if where == "mapping" else torch.full_like(v, 3e38)) if hit(k) else v for k, v in g.items()}}, path)
    return path


@pytest.mark.parametrize("where, pools, message", [
    ("pixels", [], "the generator rendered NaN or Inf for 8 rows (ids [0, 1, 2, 3, 4, 5, 6, 7])"),
    ("mapping", ["--no-one-pool"], "the generator's mapping gave latents with NaN or Inf for 8 rows (ids [0, 1, 2, 3, 4, 5, 6, 7])"),
])
def test_a_generator_that_makes_nan_fails_its_shard_in_one_line_and_writes_none(where, pools, message, ray_local, tmp_path, capsys):
    """Cast to uint8, NaN pixels are black faces that verify as OK: the stage refuses them, in either chain."""
    out = tmp_path / "ds"
    rc, err = run_main(capsys, "dataset", "--preset", "tiny", "--num-samples", "8", *pools, "--generator",
                       str(overflowing(tmp_path / "g.pt", where)), "--out", str(out))
    errors = [x for x in err.splitlines() if not x.startswith("dataset:")]  # the progress line ends at 0 %
    assert rc == 2 and errors == [f"error: the dataset job stopped: {message}: nothing of them was written"], err
    assert not (out / "manifest.json").exists() and not list(out.glob("stats/*")) and not list(out.glob("parquet/*"))
