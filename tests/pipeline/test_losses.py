import torch

from models.mapper import Mapper, MapperConfig
from pipeline.baseline import fit_direction, move
from pipeline.losses import AttrSpace, l2l_losses, sample_delta
from pipeline.train_config import DeltaSampling, LossWeights

SPACE = AttrSpace(index=torch.tensor([1, 0]), low=torch.tensor([0.0, 0.0]), high=torch.tensor([1.0, 1.0]),
                  mean=torch.tensor([0.5, 0.5, 0.5]), std=torch.tensor([0.2, 0.2, 0.2]))


def test_sample_delta_respects_count_and_range():
    d = sample_delta(500, SPACE, DeltaSampling(max_attrs=1, low=0.1, high=0.5), torch.Generator().manual_seed(0))
    assert ((d != 0).sum(1) == 1).all()
    nz = d[d != 0].abs()
    assert nz.min() >= 0.1 - 1e-6 and nz.max() <= 0.5 + 1e-6 and (d > 0).any() and (d < 0).any()


def test_losses_reach_the_mapper_and_identity_losses_vanish_at_init():
    mapper = Mapper(MapperConfig(latent_shape=(6,), attributes=("a1", "a0"), hidden=16))
    lin = torch.nn.Linear(6, 3)
    critic = lambda w: (lin(w), torch.nn.functional.normalize(w[:, :4], dim=1))  # noqa: E731
    w = torch.randn(8, 6)
    parts = l2l_losses(mapper, critic, w, torch.rand(8, 3), torch.nn.functional.normalize(w[:, :4], dim=1),
                       torch.full((8, 2), 0.2), SPACE, LossWeights())
    assert float(parts["identity_mapping"]) == 0 and float(parts["cycle"]) == 0 and float(parts["neighbourhood"]) == 0
    parts["total"].backward()
    assert mapper.net[-1].weight.grad.abs().sum() > 0  # the attribute loss pulls on the zero-initialised layer


def test_fit_direction_recovers_a_planted_direction():
    g = torch.Generator().manual_seed(0)
    true = torch.nn.functional.normalize(torch.randn(20, generator=g), dim=0)
    w = torch.randn(2000, 20, generator=g)
    n = fit_direction(w, w @ true * 3 + 0.01 * torch.randn(2000, generator=g))
    assert torch.dot(n, true) > 0.99
    assert torch.allclose(move(w[:2], n, 2.0) - w[:2], 2 * n.expand(2, -1))
