"""Latent-space surrogates of H and the identity net: the fast `--objective latent` needs no generator."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class SurrogateConfig:
    """Flattened latent -> (standardised attributes, unit identity embedding)."""

    latent_size: int  # numel of one latent
    num_attributes: int  # outputs of the attribute head (H's attributes, standardised)
    identity_dim: int  # embedding size of the identity head
    hidden: int = 512
    depth: int = 3

    def __post_init__(self) -> None:
        if min(self.latent_size, self.num_attributes, self.identity_dim, self.hidden) < 1 or self.depth < 1:
            raise ValueError(f"invalid surrogate config {self}")


class LatentSurrogate(nn.Module):
    def __init__(self, cfg: SurrogateConfig) -> None:
        super().__init__()
        self.cfg = cfg
        layers, cin = [], cfg.latent_size
        for _ in range(cfg.depth):
            layers += [nn.Linear(cin, cfg.hidden), nn.LeakyReLU(0.2)]
            cin = cfg.hidden
        self.trunk = nn.Sequential(*layers)
        self.attrs = nn.Linear(cin, cfg.num_attributes)
        self.identity = nn.Linear(cin, cfg.identity_dim)

    def forward(self, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.trunk(w.reshape(w.shape[0], -1))
        return self.attrs(h), F.normalize(self.identity(h), dim=1)
