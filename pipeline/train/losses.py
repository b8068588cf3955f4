"""Latent-To-Latent's losses (paper Fig. 2), shaped so that their optimum is the requested change, and the
requested-change sampler.

- The requested attributes' term is summed over them, not averaged with every other output.
- An attribute's alias (young/age, smiling/happy) is never held still while it is asked to move.
- Identity is a hinge: above the margin it costs nothing, so it keeps the person without capping the edit.
- Optionally (`calibration`), the batch's mean shortfall per requested attribute: where faces respond unevenly
  to the same step, the per-face squared miss is least at a shrunk step; this term asks the mean to arrive.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from models.attributes import attribute, kept_attributes, same_quantity
from pipeline.train.config import DeltaSampling, LossWeights

Critic = Callable[..., tuple[torch.Tensor, torch.Tensor]]  # (w, id_rows) -> (attributes in units, unit embeddings)


@dataclass(frozen=True)
class AttrSpace:
    """The trained attributes among the critic's outputs, their ranges, and which outputs must hold still."""

    index: torch.Tensor  # (k,) positions of the trained attributes among the critic's K outputs
    low: torch.Tensor  # (k,) valid range, attribute units
    high: torch.Tensor
    span: torch.Tensor  # (K,) range of every critic output
    alias: torch.Tensor  # (k, K) 1 where trained attribute j and critic output c are the same quantity
    candidate: torch.Tensor  # (K,) 1 for the outputs that count when held still (one of each alias pair)

    @staticmethod
    def build(trained: tuple[str, ...], outputs: tuple[str, ...]) -> AttrSpace:
        spec = [attribute(a) for a in trained]
        keep = set(kept_attributes(list(outputs), []))
        return AttrSpace(
            index=torch.tensor([outputs.index(a) for a in trained]),
            low=torch.tensor([s.low for s in spec]), high=torch.tensor([s.high for s in spec]),
            span=torch.tensor([attribute(c).high - attribute(c).low for c in outputs]),
            alias=torch.tensor([[float(same_quantity(a, c)) for c in outputs] for a in trained]),
            candidate=torch.tensor([float(c in keep) for c in outputs]))

    def to(self, device: torch.device | str) -> AttrSpace:
        return AttrSpace(**{k: v.to(device) for k, v in self.__dict__.items()})


def sample_delta(n: int, space: AttrSpace, cfg: DeltaSampling, gen: torch.Generator) -> torch.Tensor:
    """(n, k) requested changes in attribute units: 1..max_attrs attributes per row, random sign."""
    k = len(space.index)
    count = torch.randint(1, min(cfg.max_attrs, k) + 1, (n, 1), generator=gen)
    ranks = torch.rand(n, k, generator=gen).argsort(dim=1).argsort(dim=1)
    mask = ranks < count
    size = cfg.low + (cfg.high - cfg.low) * torch.rand(n, k, generator=gen)
    sign = torch.where(torch.rand(n, k, generator=gen) < 0.5, -1.0, 1.0)
    return mask * sign * size * (space.high - space.low)


def l2l_losses(mapper: torch.nn.Module, critic: Critic, w: torch.Tensor, delta: torch.Tensor, space: AttrSpace,
               weights: LossWeights, id_rows: int) -> dict[str, torch.Tensor]:
    """w: (N, *latent) originals; delta: (N, k) requested changes in units. The critic reads the originals too,
    so targets and the identity to keep are in the critic's own terms."""
    with torch.no_grad():
        before, e0 = critic(w, id_rows)
    a = before[:, space.index]
    target = torch.minimum(torch.maximum(a + delta, space.low), space.high)  # corrected a_c'
    w_edit = mapper(w, a, delta)
    parts = edit_terms(critic(w_edit, id_rows), (before, e0), target, delta != 0, space, weights)
    flat = lambda x: x.reshape(x.shape[0], -1)  # noqa: E731
    parts["neighbourhood"] = flat(w_edit - w).pow(2).mean(1).mean()
    parts["cycle"] = flat(mapper(w_edit, target, a - target) - w).pow(2).mean(1).mean()
    return total(parts, weights)


def edit_terms(after: tuple[torch.Tensor, torch.Tensor], before: tuple[torch.Tensor, torch.Tensor], target: torch.Tensor,
               asked: torch.Tensor, space: AttrSpace, weights: LossWeights) -> dict[str, torch.Tensor]:
    """The critic's side of the loss: the requested attributes reach `target`, the others hold, identity stays."""
    (pred, emb), (a_all, e0) = after, before
    asked = asked.float()
    span = space.high - space.low
    miss = ((pred[:, space.index] - target) / span) ** 2
    hold = space.candidate * (asked @ space.alias == 0).float()  # (N, K): not requested, not an alias of one
    moved = ((pred - a_all) / space.span) ** 2
    short = asked * torch.sign(target - a_all[:, space.index]) * (target - pred[:, space.index]) / span
    parts = {"requested": (asked * miss).sum(1).mean(),
             "calibration": (short.sum(0) / asked.sum(0).clamp(min=1)).pow(2).sum(),
             "keep": ((hold * moved).sum(1) / hold.sum(1).clamp(min=1)).mean(),
             "identity": F.relu(weights.identity_margin - F.cosine_similarity(emb, e0, dim=1)).mean()}
    with torch.no_grad():  # share of the attainable change the critic reads: progress, not a loss
        gap = (target - a_all[:, space.index]) * asked
        parts["critic_fraction"] = ((pred - a_all)[:, space.index] * torch.sign(gap)).sum() / gap.abs().sum().clamp(min=1e-6)
    return parts


def total(parts: dict[str, torch.Tensor], weights: LossWeights) -> dict[str, torch.Tensor]:
    parts["total"] = sum(getattr(weights, k) * v for k, v in parts.items() if k != "critic_fraction")
    return parts
