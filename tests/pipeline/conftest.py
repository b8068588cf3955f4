"""Session fixtures shared by the train, edit and serve tests: a tiny dataset, its H, tiny mappers."""

from __future__ import annotations

import pytest

from pipeline.config import DATASET_PRESETS, DatasetConfig
from pipeline.train_config import REGRESSOR_PRESETS, TRAIN_PRESETS, RegressorTrainConfig, TrainConfig


@pytest.fixture(scope="session")
def tiny_data(ray_local, tmp_path_factory) -> dict[str, str]:
    from pipeline.dataset import run_dataset
    from pipeline.train_regressor import run_train_regressor

    root = tmp_path_factory.mktemp("tinydata")
    ds = str(root / "ds")
    run_dataset(DatasetConfig(**{**DATASET_PRESETS["tiny"], "out": ds, "num_samples": 64}))
    reg = run_train_regressor(RegressorTrainConfig(**{**REGRESSOR_PRESETS["tiny"], "dataset": ds, "out": str(root / "reg")}))
    return {"root": str(root), "dataset": ds, "regressor": str(reg)}


@pytest.fixture(scope="session")
def tiny_mapper(tiny_data) -> str:
    """A quickly trained young+smiling mapper (latent objective, 1 worker)."""
    from pipeline.train import run_train

    cfg = TrainConfig(**{**TRAIN_PRESETS["tiny"], "dataset": tiny_data["dataset"], "critic": tiny_data["regressor"],
                         "allow_weak_critic": True, "objective": "latent", "num_workers": 1, "attributes": ("young", "smiling"),
                         "out": tiny_data["root"] + "/mapper"})
    return str(run_train(cfg))


SMILE_STEPS = 120  # 60 steps moved smiling by +0.039..+0.0001 at +0.3 (flaky); 120 seeded steps give about +-0.12


@pytest.fixture(scope="session")
def smiling_mapper(tiny_data) -> dict[str, object]:
    """A short single-worker run on smiling with the ported critic: the mapper that must move smiling (trained once
    for the training test and the web editor's tests). Its run directory sits in <root>/runs, as under runs/."""
    from pipeline.train import run_train

    runs = tiny_data["root"] + "/runs"
    cfg = TrainConfig(dataset=tiny_data["dataset"], attributes=("smiling",), steps=SMILE_STEPS, batch_size=8, identity_rows=4,
                      checkpoint_every=SMILE_STEPS, val_rows=4, fidelity_rows=16, num_workers=1, cpus_per_worker=1.0,
                      out=runs + "/train-smiling")
    return {"cfg": cfg, "export": str(run_train(cfg)), "runs": runs, "dataset": tiny_data["dataset"]}
