"""Session fixtures shared by the train and edit tests: a tiny dataset, its H, a tiny mapper."""

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
