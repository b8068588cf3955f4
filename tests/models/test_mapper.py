import pytest
import torch

from models.mapper import Mapper, MapperConfig, load_mapper, save_mapper
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
