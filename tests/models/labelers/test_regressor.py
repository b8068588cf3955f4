"""A regressor export a user names (--critic) is read with its weights checked: a non-finite one is refused by name."""

from __future__ import annotations

import pytest
from safetensors.torch import load_file, save_file
from torch import nn

from models.labelers.regressor import AttributeRegressor, RegressorConfig, load_regressor, save_regressor
from models.weights import CheckpointError


def test_a_nan_head_weight_is_refused_by_name(tmp_path):
    cfg = RegressorConfig(attributes=("young",), mean=(0.5,), std=(0.2,), hidden=8)
    save_regressor(AttributeRegressor(cfg, trunk=nn.Identity()), tmp_path, {})
    assert load_regressor(tmp_path)[0].cfg == cfg
    state = load_file(str(tmp_path / "regressor.safetensors"))
    state["head.2.bias"][0] = float("nan")
    save_file(state, str(tmp_path / "regressor.safetensors"))
    with pytest.raises(CheckpointError) as err:
        load_regressor(tmp_path)
    assert str(err.value) == f"{tmp_path / 'regressor.safetensors'}: tensor 'head.2.bias' holds NaN or Inf"
