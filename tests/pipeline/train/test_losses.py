import torch
import torch.nn.functional as F

from models.editors.mapper import Mapper, MapperConfig
from pipeline.eval.baseline import fit_direction, move
from pipeline.train.config import DeltaSampling, LossWeights
from pipeline.train.losses import AttrSpace, l2l_losses, sample_delta

OUTPUTS = ("age", "young", "male", "happy", "smiling")
SPACE = AttrSpace.build(("young", "smiling"), OUTPUTS)


def toy_critic(w: torch.Tensor, id_rows: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """young = 0.5 + 0.1 w0 (age follows it), male = 0.5 + 0.1 w1, smiling = happy = 0.5 + 0.1 w2; identity from w[3:]."""
    young, male, smile = 0.5 + 0.1 * w[:, 0], 0.5 + 0.1 * w[:, 1], 0.5 + 0.1 * w[:, 2]
    emb = F.normalize(w[:, 3:] + 5.0, dim=1)
    return torch.stack([70 - 60 * young, young, male, smile, smile], 1), emb if id_rows is None else emb[:id_rows]


def ideal(scale: float):
    """A mapper that moves young by `scale` times the request along w0 (the critic's young axis)."""
    return lambda w, a, d: w + scale * (d[:, :1] / 0.1) * F.one_hot(torch.tensor(0), w.shape[1]).float()


def test_sample_delta_respects_count_and_range():
    d = sample_delta(500, SPACE, DeltaSampling(max_attrs=1, low=0.1, high=0.5), torch.Generator().manual_seed(0))
    assert ((d != 0).sum(1) == 1).all()
    nz = d[d != 0].abs()
    assert nz.min() >= 0.1 - 1e-6 and nz.max() <= 0.5 + 1e-6 and (d > 0).any() and (d < 0).any()


def test_optimum_is_the_requested_change():
    w = torch.zeros(16, 100)  # the default generator's latent size: the proximity term is per dimension
    delta = torch.tensor([[0.2, 0.0]] * 16)
    totals = {s: float(l2l_losses(ideal(s), toy_critic, w, delta, SPACE, LossWeights(), 16)["total"]) for s in (0.25, 0.5, 0.8, 1.0, 1.25, 1.5)}
    assert min(totals, key=totals.get) == 1.0, totals  # not a fraction of it, as the diluted loss settled at


def test_alias_is_not_held_still_and_others_are():
    w = torch.zeros(4, 6)
    parts = l2l_losses(ideal(1.0), toy_critic, w, torch.tensor([[0.2, 0.0]] * 4), SPACE, LossWeights(), 4)
    assert float(parts["keep"]) < 1e-12  # age moved with young: no penalty
    assert abs(float(parts["critic_fraction"]) - 1.0) < 1e-5
    drift = lambda w, a, d: ideal(1.0)(w, a, d) + F.one_hot(torch.tensor(1), 6).float()  # noqa: E731  moves male too
    assert float(l2l_losses(drift, toy_critic, w, torch.tensor([[0.2, 0.0]] * 4), SPACE, LossWeights(), 4)["keep"]) > 0


def test_requested_term_is_not_diluted_by_other_outputs():
    w = torch.zeros(4, 6)
    few = l2l_losses(ideal(0.0), toy_critic, w, torch.tensor([[0.2, 0.0]] * 4), SPACE, LossWeights(), 4)
    assert abs(float(few["requested"]) - 0.2**2) < 1e-6  # the whole miss, whatever K is


def test_identity_is_a_hinge():
    w = torch.zeros(4, 6)
    small = l2l_losses(ideal(1.0), toy_critic, w, torch.tensor([[0.2, 0.0]] * 4), SPACE, LossWeights(), 4)
    assert float(small["identity"]) == 0  # same person: no pull back toward a smaller edit
    far = lambda w, a, d: w + torch.cat([torch.zeros(len(w), 3), -10 * torch.ones(len(w), 3)], 1)  # noqa: E731
    assert float(l2l_losses(far, toy_critic, w, torch.tensor([[0.2, 0.0]] * 4), SPACE, LossWeights(), 4)["identity"]) > 0


def test_losses_reach_the_zero_initialised_mapper():
    mapper = Mapper(MapperConfig(latent_shape=(6,), attributes=("young", "smiling"), hidden=16))
    parts = l2l_losses(mapper, toy_critic, torch.randn(8, 6), torch.full((8, 2), 0.2), SPACE, LossWeights(), 4)
    assert float(parts["cycle"].detach()) == 0 and float(parts["neighbourhood"].detach()) == 0
    parts["total"].backward()
    assert mapper.net[-1].weight.grad.abs().sum() > 0


def test_calibration_moves_the_optimum_to_the_mean_when_faces_respond_unevenly():
    gains = torch.tensor([0.2] * 8 + [1.8] * 8)  # half the faces barely respond to the step that moves the others
    uneven = lambda w, n=None: toy_critic(torch.cat([w[:, :1] * gains[: len(w), None], w[:, 1:]], 1), n)  # noqa: E731
    w, delta = torch.zeros(16, 100), torch.tensor([[0.2, 0.0]] * 16)

    def best(weights: LossWeights) -> float:
        totals = {s: float(l2l_losses(ideal(s), uneven, w, delta, SPACE, weights, 16)["total"]) for s in (0.6, 0.8, 1.0, 1.2)}
        return min(totals, key=totals.get)

    assert best(LossWeights()) == 0.6  # per-face squared miss: a shrunk step (mean gain 1.0, mean square 1.64)
    assert best(LossWeights(calibration=8.0)) == 1.0  # the mean change is the request


def test_fit_direction_recovers_a_planted_direction():
    g = torch.Generator().manual_seed(0)
    true = torch.nn.functional.normalize(torch.randn(20, generator=g), dim=0)
    w = torch.randn(2000, 20, generator=g)
    n = fit_direction(w, w @ true * 3 + 0.01 * torch.randn(2000, generator=g))
    assert torch.dot(n, true) > 0.99
    assert torch.allclose(move(w[:2], n, 2.0) - w[:2], 2 * n.expand(2, -1))
