"""The five Latent-To-Latent losses (paper Fig. 2) and the requested-change sampler."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from pipeline.train_config import DeltaSampling, LossWeights

Critic = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]  # w -> (standardised attrs, unit embedding)


@dataclass(frozen=True)
class AttrSpace:
    """The trained attributes inside H's outputs, with their valid ranges and H's standardisation."""

    index: torch.Tensor  # (k,) positions of the trained attributes among H's outputs
    low: torch.Tensor  # (k,) valid range, attribute units
    high: torch.Tensor
    mean: torch.Tensor  # (K,) H's standardisation over all its attributes
    std: torch.Tensor

    def standardise(self, values: torch.Tensor, cols: torch.Tensor | None = None) -> torch.Tensor:
        idx = self.index if cols is None else cols
        return (values - self.mean[idx]) / self.std[idx]


def sample_delta(n: int, space: AttrSpace, cfg: DeltaSampling, gen: torch.Generator) -> torch.Tensor:
    """(n, k) requested changes in attribute units: 1..max_attrs attributes per row, random sign."""
    k = len(space.index)
    count = torch.randint(1, min(cfg.max_attrs, k) + 1, (n, 1), generator=gen)
    ranks = torch.rand(n, k, generator=gen).argsort(dim=1).argsort(dim=1)
    mask = ranks < count
    size = cfg.low + (cfg.high - cfg.low) * torch.rand(n, k, generator=gen)
    sign = torch.where(torch.rand(n, k, generator=gen) < 0.5, -1.0, 1.0)
    return mask * sign * size * (space.high - space.low)


def l2l_losses(mapper: torch.nn.Module, critic: Critic, w: torch.Tensor, attrs_all: torch.Tensor, e0: torch.Tensor,
               delta: torch.Tensor, space: AttrSpace, weights: LossWeights) -> dict[str, torch.Tensor]:
    """attrs_all: (N, K) dataset labels in units for all of H's attributes; e0: (N, D) original identity."""
    a = attrs_all[:, space.index]
    target = torch.minimum(torch.maximum(a + delta, space.low), space.high)  # corrected a_c'
    w_edit = mapper(w, a, delta)
    pred, emb = critic(w_edit)
    goal = (attrs_all - space.mean) / space.std
    goal[:, space.index] = space.standardise(target)
    requested = torch.ones_like(goal)
    requested[:, space.index] = torch.where(delta != 0, weights.requested, 1.0)
    flat = lambda x: x.reshape(x.shape[0], -1)  # noqa: E731
    parts = {
        "attribute": (requested * (pred - goal) ** 2).mean(),
        "identity": (1 - F.cosine_similarity(emb, e0, dim=1)).mean(),
        "identity_mapping": ((mapper(w, a, torch.zeros_like(delta)) - w) ** 2).mean(),
        "neighbourhood": flat(w_edit - w).norm(dim=1).mean() / flat(w).shape[1] ** 0.5,
        "cycle": ((mapper(w_edit, target, -delta) - w) ** 2).mean(),
    }
    parts["total"] = sum(getattr(weights, k) * v for k, v in parts.items())
    return parts
