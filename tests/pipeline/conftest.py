"""Session fixtures shared by the train, edit and serve tests: a tiny dataset, its H, tiny mappers."""

from __future__ import annotations

import pytest

from pipeline.config import DATASET_PRESETS, DatasetConfig
from pipeline.train.config import REGRESSOR_PRESETS, TRAIN_PRESETS, RegressorTrainConfig, TrainConfig


@pytest.fixture(scope="session")
def tiny_data(ray_local, tmp_path_factory) -> dict[str, str]:
    from pipeline.dataset.job import run_dataset
    from pipeline.train.regressor import run_train_regressor

    root = tmp_path_factory.mktemp("tinydata")
    ds = str(root / "ds")
    run_dataset(DatasetConfig(**{**DATASET_PRESETS["tiny"], "out": ds, "num_samples": 64}))
    reg = run_train_regressor(RegressorTrainConfig(**{**REGRESSOR_PRESETS["tiny"], "dataset": ds, "out": str(root / "reg")}))
    return {"root": str(root), "dataset": ds, "regressor": str(reg)}


@pytest.fixture(scope="session")
def tiny_mapper(tiny_data) -> str:
    """A quickly trained young+smiling mapper (latent objective, 1 worker)."""
    from pipeline.train.job import run_train

    cfg = TrainConfig(**{**TRAIN_PRESETS["tiny"], "dataset": tiny_data["dataset"], "critic": tiny_data["regressor"],
                         "allow_weak_critic": True, "objective": "latent", "num_workers": 1, "attributes": ("young", "smiling"),
                         "out": tiny_data["root"] + "/mapper"})
    return str(run_train(cfg))


# 120 seeded steps move smiling by about +-0.12 on held-out faces (60 steps: +0.039..+0.0001 at +0.3, flaky)
SMILING = ["--attributes", "smiling", "--steps", "120", "--batch-size", "4", "--identity-rows", "2", "--num-workers", "2",
           "--checkpoint-every", "40", "--val-rows", "4", "--fidelity-rows", "16", "--max-failures", "1"]


@pytest.fixture(scope="session")
def smiling_mapper(tiny_data) -> dict[str, object]:
    """The mapper that must move smiling: 2-worker DDP with the ported critic, trained once for the training tests
    and the web editor's, from the CLI as a user runs it and through two faults by pid (tests/faults.py): a Ray
    Train worker killed mid-run, then the driver, then the same command again. Its run directory sits in
    <root>/runs, as under runs/."""
    from pipeline.cli import parse
    from tests.faults import train_through_two_faults

    runs = tiny_data["root"] + "/runs"
    args = [*SMILING, "--dataset", tiny_data["dataset"], "--out", runs + "/train-smiling"]
    cfg = parse("train", args).config
    faults = train_through_two_faults(args, cfg.out)
    return {"cfg": cfg, "export": cfg.out + "/export", "runs": runs, "dataset": tiny_data["dataset"], "faults": faults}
