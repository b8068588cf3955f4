import pytest
import torch

from models.editors.mapper import Mapper, MapperConfig, load_mapper, save_mapper
from models.weights import CheckpointError


@pytest.mark.parametrize("shape", [(100,), (8, 64)])
def test_starts_as_identity_and_round_trips(shape, tmp_path):
    m = Mapper(MapperConfig(latent_shape=shape, attributes=("young", "smiling"), attr_scale=(1.0, 1.0), hidden=32))
    w = torch.randn(4, *shape)
    assert torch.equal(m(w, torch.rand(4, 2), torch.rand(4, 2)), w)  # zero-initialised last layer
    torch.nn.init.normal_(m.net[-1].weight, std=0.1)
    save_mapper(m, tmp_path, {"generator_id": "g"})
    back, doc = load_mapper(tmp_path)
    a, d = torch.rand(4, 2), torch.rand(4, 2)
    assert torch.allclose(back(w, a, d), m(w, a, d)) and doc["generator_id"] == "g"
    assert not list(tmp_path.glob(".*tmp"))  # temp names renamed away
    modes = {p.name: p.stat().st_mode & 0o777 for p in tmp_path.iterdir()}
    assert modes["mapper.safetensors"] == modes["mapper.json"]  # the weights are as readable as the rest


def test_bad_shapes_and_configs():
    m = Mapper(MapperConfig(latent_shape=(10,), attributes=("young",), hidden=8))
    with pytest.raises(ValueError, match="mapper expects latents of shape"):
        m(torch.randn(2, 11), torch.rand(2, 1), torch.rand(2, 1))
    with pytest.raises(ValueError, match="attributes and delta"):
        m(torch.randn(2, 10), torch.rand(2, 2), torch.rand(2, 1))
    with pytest.raises(ValueError, match="unique"):
        MapperConfig(latent_shape=(10,), attributes=("young", "young"))


def test_missing_or_corrupt_export(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        load_mapper(tmp_path)
    (tmp_path / "mapper.json").write_text("{}")
    (tmp_path / "mapper.safetensors").write_bytes(b"junk")
    with pytest.raises(CheckpointError, match="not a mapper export"):
        load_mapper(tmp_path)


@pytest.mark.parametrize("dtype, value, problem", [(torch.float32, float("nan"), "holds NaN or Inf"),
                                                   (torch.int64, 1, "has dtype int64")])
def test_weights_that_would_edit_wrongly_are_refused_by_name(tmp_path, dtype, value, problem):
    from safetensors.torch import load_file, save_file

    save_mapper(Mapper(MapperConfig(latent_shape=(4,), attributes=("young",), hidden=8)), tmp_path, {})
    state = load_file(str(tmp_path / "mapper.safetensors"))
    key = sorted(state)[0]
    state[key] = state[key].to(dtype)
    state[key].view(-1)[0] = value
    save_file(state, str(tmp_path / "mapper.safetensors"))
    with pytest.raises(CheckpointError) as err:
        load_mapper(tmp_path)
    assert str(err.value).startswith(f"{tmp_path / 'mapper.safetensors'}: tensor {key!r} {problem}")


def test_zero_request_is_exact_and_requests_compose():
    m = Mapper(MapperConfig(latent_shape=(12,), attributes=("young", "smiling"), hidden=16))
    torch.nn.init.normal_(m.net[-1].weight, std=0.1)
    w, a = torch.randn(5, 12), torch.rand(5, 2)
    assert torch.equal(m(w, a, torch.zeros(5, 2)), w)  # even after training: delta = 0 is the identity
    one = torch.tensor([[0.2, 0.0]] * 5)
    assert not torch.allclose(m(w, a, one), w)


def test_old_format_refused(tmp_path):
    m = Mapper(MapperConfig(latent_shape=(4,), attributes=("young",), hidden=8))
    save_mapper(m, tmp_path, {})
    doc = __import__("json").loads((tmp_path / "mapper.json").read_text())
    (tmp_path / "mapper.json").write_text(__import__("json").dumps({**doc, "format": "latent2latent-mapper/1"}))
    with pytest.raises(CheckpointError, match="retrain"):
        load_mapper(tmp_path)


def test_passes_ask_for_what_is_left():
    from models.editors.mapper import edit_in_passes

    m = Mapper(MapperConfig(latent_shape=(3,), attributes=("smiling",), hidden=8))
    torch.nn.init.zeros_(m.net[-1].weight)
    m.net[-1].bias.data = torch.tensor([0.05, 0.0, 0.0])  # +0.5 latent units per unit of request, along w0
    read = lambda w: (0.2 + w[:, :1]).clamp(0, 1)  # noqa: E731  smiling = 0.2 + w0
    w, a = torch.zeros(4, 3), torch.full((4, 1), 0.2)
    d = torch.full((4, 1), 0.4)
    one = edit_in_passes(m, w, a, d, 1)
    three = edit_in_passes(m, w, a, d, 3, read)
    assert abs(float(read(one)[0]) - 0.4) < 1e-6  # one pass gets half of it
    assert abs(float(read(three)[0]) - 0.55) < 1e-6  # then half of what is left, twice
    with pytest.raises(ValueError, match="needs a reader"):
        edit_in_passes(m, w, a, d, 2)
