"""StyleGAN2 network and checkpoint loaders against images computed by rosinality's reference implementation."""

from __future__ import annotations

import argparse
import os
import pickle
import re
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from models.generators import stylegan2_ckpt
from models.generators.interface import Generator
from models.generators.safe_pickle import PERSISTENCE_VERSION, RestrictedUnpickler
from models.generators.stylegan2 import StyleGAN2, StyleGAN2Config, official_channels
from models.generators.stylegan2_ckpt import (
    load_generator,
    load_nvlabs_pkl,
    load_rosinality,
    save_nvlabs_pkl,
    save_rosinality,
)
from models.weights import CheckpointError, model_id
from tests.checkpoints import tiny_stylegan2, write_tiny_nvlabs, write_tiny_rosinality

REF = Path(__file__).resolve().parents[2] / "data" / "stylegan2-rosinality-32"  # computed by the reference implementation
TOL = 1e-4

needs_ref = pytest.mark.skipif(not (REF / "checkpoint.pt").is_file(), reason=f"reference vectors not found at {REF}")


@pytest.fixture(scope="module")
def ref() -> dict[str, torch.Tensor]:
    if not (REF / "vectors.npz").is_file():
        pytest.skip(f"reference vectors not found at {REF}")
    return {k: torch.from_numpy(v) for k, v in np.load(REF / "vectors.npz").items()}


@pytest.fixture(scope="module")
def gen() -> StyleGAN2:
    if not (REF / "checkpoint.pt").is_file():
        pytest.skip(f"reference checkpoint not found at {REF}")
    return load_rosinality(REF / "checkpoint.pt")


def maxdiff(a: torch.Tensor, b: torch.Tensor) -> float:
    assert a.shape == b.shape, (a.shape, b.shape)
    return (a - b).abs().max().item()


@needs_ref
def test_reads_shape_from_tensors(gen):
    cfg = gen.cfg
    assert (cfg.resolution, cfg.z_dim, cfg.w_dim, cfg.n_mlp) == (32, 64, 64, 8)
    assert cfg.channels == ((4, 64), (8, 64), (16, 32), (32, 32))
    assert gen.num_ws == 8 and isinstance(gen, Generator)
    assert gen.generator_id == model_id("stylegan2", REF / "checkpoint.pt") and gen.generator_id.startswith("stylegan2-")


@needs_ref
def test_mapping_matches_reference(gen, ref):
    with torch.no_grad():
        assert maxdiff(gen.mapping(ref["z"]), ref["w"]) <= 1e-5


@needs_ref
@pytest.mark.parametrize("source, target", [("z", "img_z"), ("w", "img_w"), ("wplus", "img_wplus")])
def test_synthesis_matches_reference(gen, ref, source, target):
    with torch.no_grad():
        ws = gen.mapping(ref["z"]) if source == "z" else ref[source]
        img = gen.synthesis(ws)
    assert maxdiff(img, ref[target]) <= TOL
    assert img.abs().max() > 1.0  # output is not clamped (the reference images exceed [-1, 1])


@needs_ref
def test_channels_last_matches_reference(ref):
    g = load_rosinality(REF / "checkpoint.pt").to(memory_format=torch.channels_last)
    assert g.channels_last
    with torch.no_grad():
        img = g.synthesis(ref["wplus"])
        assert maxdiff(img, ref["img_wplus"]) <= TOL and img.is_contiguous()
        assert g.synthesis(ref["wplus"], noise_mode="random").shape == img.shape


@needs_ref
def test_truncation_matches_reference(ref):
    g = load_rosinality(REF / "checkpoint.pt")
    g.w_avg.copy_(ref["w_avg"].reshape(-1))
    with torch.no_grad():
        assert maxdiff(g.synthesis(g.mapping(ref["z"], psi=0.5)), ref["img_trunc_0_5"]) <= TOL
        faces = g.synthesis(g.mapping(ref["z"], psi=0.0))
        assert maxdiff(faces, g.synthesis(ref["w_avg"]).expand_as(faces)) <= 1e-5  # psi=0: the average face (batch 1 vs 4 rounding)
        assert maxdiff(faces[0], faces[3]) <= 1e-5 and maxdiff(faces, ref["img_z"]) > 0.1


@needs_ref
def test_w_avg_estimate_is_deterministic_and_close(gen, ref):
    assert gen.w_avg_source.startswith("estimated")  # the reference file has no latent_avg
    first = gen.w_avg.clone()
    again = load_rosinality(REF / "checkpoint.pt").estimate_w_avg(chunk=333)
    assert maxdiff(first, again) <= 1e-6
    # 4096 other z in the reference: sampling error ~ std/64 per coordinate
    assert maxdiff(first, ref["w_avg"].reshape(-1)) <= 0.15 * ref["w"].std().item()


@needs_ref
def test_noise_modes(gen, ref):
    with torch.no_grad():
        const = gen.synthesis(ref["w"])
        none = gen.synthesis(ref["w"], noise_mode="none")
        r1, r2 = gen.synthesis(ref["w"], noise_mode="random"), gen.synthesis(ref["w"], noise_mode="random")
    assert maxdiff(const, none) > 1e-3 and maxdiff(r1, r2) > 1e-3 and maxdiff(r1, const) > 1e-3
    with pytest.raises(ValueError, match="noise_mode"):
        gen.synthesis(ref["w"], noise_mode="fixed")


@needs_ref
def test_bad_latents_are_one_line_errors(gen):
    for bad in (torch.zeros(2, 63), torch.zeros(2, 7, 64), torch.zeros(64)):
        with pytest.raises(ValueError, match="W \\(N, 64\\)"):
            gen.synthesis(bad)
    with pytest.raises(ValueError, match=r"z of shape \(N, 64\)"):
        gen.mapping(torch.zeros(2, 32))


@needs_ref
def test_round_trip_through_both_formats(gen, ref, tmp_path):
    g1 = load_nvlabs_pkl(save_nvlabs_pkl(gen, tmp_path / "g.pkl"))
    g2 = load_rosinality(save_rosinality(g1, tmp_path / "g.pt"))
    assert g1.cfg == gen.cfg == g2.cfg
    with torch.no_grad():
        want = gen.synthesis(ref["w"])
        assert maxdiff(g1.synthesis(ref["w"]), want) <= TOL and maxdiff(g2.synthesis(ref["w"]), want) <= TOL
        assert maxdiff(g1.mapping(ref["z"], 0.7), gen.mapping(ref["z"], 0.7)) <= 1e-6
    assert g1.w_avg_source == "checkpoint mapping.w_avg" and g2.w_avg_source == "checkpoint latent_avg"
    assert g1.generator_id == model_id("stylegan2", tmp_path / "g.pkl") != gen.generator_id


def test_nvlabs_pickle_uses_only_nvlabs_globals(tmp_path):
    path = write_tiny_nvlabs(tmp_path / "g.pkl", resolution=16)
    names = set()

    class Recorder(RestrictedUnpickler):
        def find_class(self, module, name):
            names.add(f"{module}.{name}")
            return super().find_class(module, name)

    with open(path, "rb") as f:
        data = Recorder(f, str(path)).load()
    assert names == {"torch_utils.persistence._reconstruct_persistent_obj", "collections.OrderedDict",
                     "torch._utils._rebuild_parameter", "torch._utils._rebuild_tensor_v2",
                     "torch.storage._load_from_bytes", "dnnlib.util.EasyDict"}
    assert data["G"] is data["G_ema"] and data["G_ema"].class_name == "Generator"
    kwargs = data["G_ema"].state["_init_kwargs"]
    assert kwargs["img_resolution"] == 16 and kwargs["synthesis_kwargs"]["conv_clamp"] is None
    assert "torch_utils" not in sys.modules and "dnnlib" not in sys.modules  # stand-ins removed after writing
    assert PERSISTENCE_VERSION == 6


def test_other_resolution_and_channel_multiplier(tmp_path):
    widths = tuple((r, c // 16) for r, c in official_channels(64, channel_multiplier=1))  # 32,32,32,32,16
    want = tiny_stylegan2(resolution=64, w_dim=32, channels=widths, n_mlp=3, seed=3)
    ws = torch.randn(2, want.num_ws, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        img = want.synthesis(ws)
        for path in (write_tiny_rosinality(tmp_path / "t.pt", resolution=64, w_dim=32, channels=widths, n_mlp=3, seed=3),
                     write_tiny_nvlabs(tmp_path / "t.pkl", resolution=64, w_dim=32, channels=widths, n_mlp=3, seed=3)):
            got = load_generator(path)
            assert (got.resolution, got.num_ws, got.cfg.channels, got.cfg.n_mlp) == (64, 10, widths, 3)
            assert img.shape == (2, 3, 64, 64) and maxdiff(got.synthesis(ws), img) <= TOL


def test_conv_clamp_survives_nvlabs_round_trip(tmp_path):
    g = load_generator(write_tiny_nvlabs(tmp_path / "c.pkl", resolution=8, conv_clamp=0.5))
    assert g.cfg.conv_clamp == 0.5
    ws = torch.randn(3, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert g.synthesis(ws).abs().max() <= 1.0 + 1e-6  # two clamped RGB terms of at most 0.5
        assert tiny_stylegan2(resolution=8).synthesis(ws).abs().max() > 1.0  # the same weights unclamped


def test_rosinality_training_checkpoint_with_args_loads(tmp_path):
    save_rosinality(tiny_stylegan2(resolution=8), tmp_path / "g.pt")
    ckpt = torch.load(tmp_path / "g.pt", weights_only=True)
    ckpt.update(g=ckpt["g_ema"], args=argparse.Namespace(size=8, latent=64, n_mlp=4))
    del ckpt["latent_avg"]
    torch.save(ckpt, tmp_path / "train.pt")
    g = load_generator(tmp_path / "train.pt")
    assert g.resolution == 8 and g.w_avg_source.startswith("estimated")


def test_legacy_torch_format_dispatches_to_rosinality(tmp_path):
    g = tiny_stylegan2(resolution=8)
    save_rosinality(g, tmp_path / "new.pt")
    torch.save(torch.load(tmp_path / "new.pt", weights_only=True), tmp_path / "old.pt",
               _use_new_zipfile_serialization=False)
    assert maxdiff(load_generator(tmp_path / "old.pt").const, g.const) == 0.0


class _Call:
    """Pickles as a call of `func(*args)`: how a malicious pickle runs code on a plain unpickler."""

    def __init__(self, func, *args) -> None:
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


@pytest.mark.parametrize("attack", ["os.system", "builtins.exec"])
def test_malicious_pickle_is_refused_without_running(tmp_path, attack):
    marker = tmp_path / "pwned"
    call = (_Call(os.system, f"touch {marker}") if attack == "os.system"
            else _Call(exec, f"open({str(marker)!r}, 'w').write('x')"))
    evil = tmp_path / "evil.pkl"
    evil.write_bytes(pickle.dumps({"G_ema": call}, protocol=4))
    with pytest.raises(CheckpointError, match=r"refusing to load (os|posix|builtins)\.(system|exec) from .*evil\.pkl: "
                                              r"NVlabs pickles may only contain tensors and plain data") as err:
        load_generator(evil)
    assert "\n" not in str(err.value) and not marker.exists()
    pickle.loads(evil.read_bytes())  # the same file does run code on a plain unpickler: the test can fail
    assert marker.exists()


def test_torch_checkpoint_with_code_names_the_refused_global(tmp_path):
    marker = tmp_path / "pwned"
    torch.save({"g_ema": {"style.1.weight": torch.zeros(1)}, "x": _Call(os.system, f"touch {marker}")}, tmp_path / "evil.pt")
    with pytest.raises(CheckpointError, match=r"refusing to load (os|posix)\.system from .*evil\.pt: torch checkpoint files may "
                                              r"only contain tensors and plain data$") as err:
        load_generator(tmp_path / "evil.pt")
    assert "weights_only" not in str(err.value) and not marker.exists()


def test_module_src_is_never_executed(tmp_path, monkeypatch):
    marker = tmp_path / "pwned"
    monkeypatch.setattr(stylegan2_ckpt, "_NV_SRC", f"open({str(marker)!r}, 'w').write('x')\n")
    path = write_tiny_nvlabs(tmp_path / "g.pkl", resolution=8)
    assert str(marker).encode() in path.read_bytes()
    assert load_generator(path).resolution == 8 and not marker.exists()


@pytest.mark.parametrize("kind", ["missing", "truncated-pt", "truncated-pkl", "no-g_ema", "no-G_ema", "not-a-checkpoint"])
def test_bad_files_are_one_line_checkpoint_errors(tmp_path, kind):
    path, match = tmp_path / "bad", {"missing": "not found", "no-g_ema": "no 'g_ema'", "no-G_ema": "no 'G_ema'",
                                     "not-a-checkpoint": "neither a torch checkpoint nor a pickle"}.get(kind, "cannot read")
    if kind.startswith("truncated"):
        full = (write_tiny_rosinality if kind.endswith("pt") else write_tiny_nvlabs)(tmp_path / "full", resolution=8)
        path.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    elif kind == "no-g_ema":
        torch.save({"state_dict": {"w": torch.zeros(3)}}, path)
    elif kind == "no-G_ema":
        path.write_bytes(pickle.dumps({"G": 1, "D": None}))
    elif kind == "not-a-checkpoint":
        path.write_text("hello")
    with pytest.raises(CheckpointError, match=match) as err:
        load_generator(path)
    assert "\n" not in str(err.value)


def test_config_validation():
    with pytest.raises(ValueError, match="power of two"):
        StyleGAN2Config(resolution=48)
    with pytest.raises(ValueError, match="channels must give"):
        StyleGAN2Config(resolution=16, channels=((4, 8), (8, 8)))
    with pytest.raises(ValueError, match="noise_mode"):
        StyleGAN2Config(resolution=16, noise_mode="fixed")
    assert StyleGAN2Config().num_ws == 18 and dict(StyleGAN2Config().channels)[1024] == 32


@pytest.mark.gpu
@needs_ref
def test_cuda_matches_reference(ref):
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    flags = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False  # exact fp32 for the comparison
    try:
        g = load_rosinality(REF / "checkpoint.pt").to("cuda")
        with torch.no_grad():
            assert maxdiff(g.mapping(ref["z"].cuda()).cpu(), ref["w"]) <= 1e-5
            assert maxdiff(g.synthesis(ref["wplus"].cuda()).cpu(), ref["img_wplus"]) <= TOL
            assert g.synthesis(ref["w"].cuda(), noise_mode="random").device.type == "cuda"
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = flags


@pytest.mark.parametrize("conv_clamp", [None, 2.0])
def test_gradients_flow_to_latents(conv_clamp):
    g = tiny_stylegan2(resolution=8, w_dim=16, n_mlp=2, conv_clamp=conv_clamp).double()
    ws = torch.randn(1, g.num_ws, 16, dtype=torch.float64, generator=torch.Generator().manual_seed(0), requires_grad=True)
    assert torch.autograd.gradcheck(lambda w: g.synthesis(w).square().mean(), (ws,), eps=1e-6, atol=1e-5, fast_mode=True)
    z = torch.randn(2, 16, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda v: g.mapping(v, psi=0.7), (z,), eps=1e-6, atol=1e-5, fast_mode=True)


@pytest.mark.parametrize("key, reshape", [
    ("convs.0.conv.modulation.weight", lambda t: t.t().contiguous()),  # (64, 32) stored transposed
    ("input.input", lambda t: t.reshape(1, t.shape[1], 2, 8)),  # the 4x4 constant as 2x8
])
def test_wrong_shapes_with_the_right_size_are_refused(tmp_path, key, reshape):
    save_rosinality(tiny_stylegan2(resolution=8, w_dim=32), tmp_path / "g.pt")
    ckpt = torch.load(tmp_path / "g.pt", weights_only=True)
    before = ckpt["g_ema"][key]
    ckpt["g_ema"][key] = reshape(before)
    torch.save(ckpt, tmp_path / "bad.pt")
    with pytest.raises(CheckpointError, match=rf"tensor '{re.escape(key)}' has shape {re.escape(str(tuple(ckpt['g_ema'][key].shape)))}, expected"):
        load_generator(tmp_path / "bad.pt")
