"""The StyleGAN2 path end to end in W+: NVlabs-layout checkpoint -> dataset -> H -> mapper -> edits."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipeline.config import DATASET_PRESETS, DatasetConfig
from pipeline.edit_config import EditConfig
from pipeline.train_config import REGRESSOR_PRESETS, TRAIN_PRESETS, RegressorTrainConfig, TrainConfig
from tests.checkpoints import write_tiny_nvlabs

pytestmark = pytest.mark.timeout(900)


def test_stylegan2_wplus_dataset_train_edit(ray_local, tmp_path):
    from models.mapper import load_mapper
    from pipeline.dataset import run_dataset
    from pipeline.edit import run_edit
    from pipeline.manifest import verify_manifest
    from pipeline.train import run_train
    from pipeline.train_regressor import run_train_regressor

    ckpt = tmp_path / "tiny-ffhq.pkl"
    write_tiny_nvlabs(ckpt)
    ds = str(tmp_path / "ds")
    m = run_dataset(DatasetConfig(**{**DATASET_PRESETS["tiny"], "out": ds, "generator": str(ckpt), "latent_space": "wplus",
                                     "psi": 0.7, "num_samples": 40}))
    assert m["latent_shape"] == [8, 64] and m["generator_id"].startswith("stylegan2-") and verify_manifest(ds) == []
    w = np.stack(pd.read_parquet(f"{ds}/parquet")["w"]).reshape(-1, 8, 64)
    np.testing.assert_array_equal(w[:, 0], w[:, 7])  # W+ from a single w: every layer the same
    reg = run_train_regressor(RegressorTrainConfig(**{**REGRESSOR_PRESETS["tiny"], "dataset": ds, "out": str(tmp_path / "reg")}))
    export = run_train(TrainConfig(**{**TRAIN_PRESETS["tiny"], "dataset": ds, "critic": str(reg), "allow_weak_critic": True, "num_workers": 1,
                                      "attributes": ("young", "male"), "out": str(tmp_path / "run")}))
    mapper, doc = load_mapper(export)
    assert mapper.cfg.latent_shape == (8, 64) and doc["latent_space"] == "wplus" and doc["dataset_psi"] == 0.7
    out = str(tmp_path / "edits")
    e = run_edit(EditConfig(mapper=str(export), dataset=ds, delta=("young=0.2",), out=out, max_rows=4, relabel=False))
    assert e["num_rows"] == 4 and e["latent_shape"] == [8, 64]
