"""StyleGAN2 checkpoints are read as strictly as rosinality's load_state_dict(strict=True), and every tensor the
generator uses (latent_avg / w_avg included) must be dense, floating point and finite: one line names the tensor."""

from __future__ import annotations

import pickle
import re
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from models.generators.safe_pickle import child, dump_nvlabs, load_restricted
from models.generators.stylegan2_ckpt import load_generator
from models.weights import CheckpointError
from tests.checkpoints import write_tiny_nvlabs, write_tiny_rosinality

NAN, INF = float("nan"), float("inf")


def poke(value: float) -> Callable[[torch.Tensor], torch.Tensor]:
    """A copy of the tensor with its first entry set to `value`."""
    def change(t: torch.Tensor) -> torch.Tensor:
        t = t.detach().clone()
        t.view(-1)[0] = value
        return t
    return change


def rosinality_with(tmp_path: Path, edit: Callable[[dict], None]) -> Path:
    ckpt = torch.load(write_tiny_rosinality(tmp_path / "g.pt", resolution=8), weights_only=True)
    edit(ckpt)
    torch.save(ckpt, tmp_path / "bad.pt")
    return tmp_path / "bad.pt"


def g_ema(key: str, change: Callable[[torch.Tensor | None], object]) -> Callable[[dict], None]:
    return lambda ckpt: ckpt["g_ema"].__setitem__(key, change(ckpt["g_ema"].get(key)))


ROSINALITY = {  # case -> (edit of the checkpoint dict, the one line it must give after "<path>: ")
    "nan-weight": (g_ema("convs.1.conv.weight", poke(NAN)), "tensor 'convs.1.conv.weight' holds NaN or Inf"),
    "inf-bias": (g_ema("convs.0.activate.bias", poke(INF)), "tensor 'convs.0.activate.bias' holds NaN or Inf"),
    "nan-noise": (g_ema("noises.noise_1", poke(NAN)), "tensor 'noises.noise_1' holds NaN or Inf"),
    "nan-latent_avg": (lambda c: c.__setitem__("latent_avg", poke(NAN)(c["latent_avg"])), "tensor 'latent_avg' holds NaN or Inf"),
    "int-latent_avg": (lambda c: c.__setitem__("latent_avg", c["latent_avg"].int()), "tensor 'latent_avg' has dtype int32"),
    "extra-tensor": (g_ema("extra.weight", lambda _: torch.zeros(3)), "unexpected tensor 'extra.weight': not part of a StyleGAN2 "
                     "of 8 px with 4 mapping layers"),
    "extra-mapping-layer": (g_ema("style.5.weight", lambda _: torch.randn(64, 64)), "unexpected tensor 'style.5.weight'"),
    "int-weight": (g_ema("input.input", lambda t: t.round().int()), "tensor 'input.input' has dtype int32; weights must be floating point"),
    "bool-weight": (g_ema("input.input", lambda t: t > 0), "tensor 'input.input' has dtype bool"),
    "sparse-weight": (g_ema("style.1.weight", lambda t: t.to_sparse()), "tensor 'style.1.weight' is a sparse_coo tensor"),
    "not-a-tensor": (g_ema("to_rgb1.bias", lambda t: t.tolist()), "tensor 'to_rgb1.bias' is a list, not a tensor"),
    "missing-filter": (lambda c: c["g_ema"].pop("to_rgbs.0.upsample.kernel"), "tensor 'to_rgbs.0.upsample.kernel' is missing"),
    "flat-constant": (g_ema("input.input", lambda _: torch.zeros(5)), "tensor 'input.input' has shape (5,), which has no axis 1"),
}


@pytest.mark.parametrize("case", sorted(ROSINALITY))
def test_rosinality_checkpoints_are_refused_by_tensor_name(tmp_path, case):
    edit, message = ROSINALITY[case]
    path = rosinality_with(tmp_path, edit)
    with pytest.raises(CheckpointError) as err:
        load_generator(path)
    assert str(err.value).startswith(f"{path}: {message}") and "\n" not in str(err.value)


def test_the_untouched_files_load_and_an_extra_complete_mapping_layer_is_a_deeper_mapping(tmp_path):
    """The refusals above come from the edits, not from the files they started from."""
    assert load_generator(rosinality_with(tmp_path, lambda c: None)).cfg.n_mlp == 4
    deeper = rosinality_with(tmp_path, lambda c: c["g_ema"].update({"style.5.weight": torch.randn(64, 64), "style.5.bias": torch.zeros(64)}))
    assert load_generator(deeper).cfg.n_mlp == 5
    assert load_generator(write_tiny_nvlabs(tmp_path / "g.pkl", resolution=8)).w_avg_source == "checkpoint mapping.w_avg"


def nvlabs_with(tmp_path: Path, module: str, group: str, key: str, change: Callable[[torch.Tensor | None], object]) -> Path:
    data = load_restricted(write_tiny_nvlabs(tmp_path / "g.pkl", resolution=8))
    tensors = child(data["G_ema"], module).state[group]
    tensors[key] = change(tensors.get(key))
    dump_nvlabs(data, tmp_path / "bad.pkl")
    return tmp_path / "bad.pkl"


NVLABS = {  # case -> (module, its group, tensor, change, the line after "<path>: ")
    "nan-weight": ("synthesis.b8.conv0", "_parameters", "weight", poke(NAN), "tensor 'synthesis.b8.conv0.weight' holds NaN or Inf"),
    "inf-bias": ("synthesis.b4.conv1", "_parameters", "bias", poke(INF), "tensor 'synthesis.b4.conv1.bias' holds NaN or Inf"),
    "nan-w_avg": ("mapping", "_buffers", "w_avg", poke(NAN), "tensor 'mapping.w_avg' holds NaN or Inf"),
    "nan-filter": ("synthesis.b8.conv1", "_buffers", "resample_filter", poke(NAN), "tensor 'synthesis.b8.conv1.resample_filter' holds NaN"),
    "extra-buffer": ("synthesis.b4", "_buffers", "extra", lambda _: torch.zeros(2), "unexpected tensor 'synthesis.b4.extra'"),
    "bool-weight": ("mapping.fc0", "_parameters", "weight", lambda t: t > 0, "tensor 'mapping.fc0.weight' has dtype bool"),
}


@pytest.mark.parametrize("case", sorted(NVLABS))
def test_nvlabs_pickles_are_refused_by_tensor_name(tmp_path, case):
    module, group, key, change, message = NVLABS[case]
    path = nvlabs_with(tmp_path, module, group, key, change)
    with pytest.raises(CheckpointError) as err:
        load_generator(path)
    assert str(err.value).startswith(f"{path}: {message}") and "\n" not in str(err.value)


def test_an_nvlabs_mapping_layer_beyond_the_last_is_unexpected_not_a_missing_one(tmp_path):
    data = load_restricted(write_tiny_nvlabs(tmp_path / "g.pkl", resolution=8))
    mapping, fc3 = child(data["G_ema"], "mapping"), child(data["G_ema"], "mapping.fc3")
    mapping.state["_modules"]["fc4"] = type(fc3)("FullyConnectedLayer", {**fc3.state, "_parameters": {"weight": torch.randn(64, 64)},
                                                                         "_buffers": {}, "_modules": {}})
    dump_nvlabs(data, tmp_path / "bad.pkl")
    with pytest.raises(CheckpointError, match=re.escape("unexpected tensor 'mapping.fc4.weight'")):
        load_generator(tmp_path / "bad.pkl")


def test_a_protocol0_pickle_is_called_a_pickle_and_text_is_called_neither(tmp_path):
    (tmp_path / "old.pkl").write_bytes(pickle.dumps({"a": 1}, protocol=0))
    with pytest.raises(CheckpointError, match=r"old\.pkl is not an NVlabs network pickle \(no 'G_ema' network; found \['a'\]\)"):
        load_generator(tmp_path / "old.pkl")
    (tmp_path / "notes.pkl").write_text("cat dog\nsubprocess\n")  # 'c' is GLOBAL's opcode, but this never reaches a STOP
    with pytest.raises(CheckpointError, match="neither a torch checkpoint nor a pickle"):
        load_generator(tmp_path / "notes.pkl")
