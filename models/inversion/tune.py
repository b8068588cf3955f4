"""Pivotal tuning (Roich et al., PTI): with the projected latent held fixed, a few Adam steps on the generator's own
weights until its render of that latent is the face. The tuned weights serve this face only, and only while it is edited."""

from __future__ import annotations

from collections.abc import Callable

import torch

from models.generators.interface import Generator
from models.inversion.config import TuneConfig
from models.inversion.loss import ReconstructionLoss
from models.inversion.tuned import Overridden


def tune(gen: Generator, w: torch.Tensor, target: torch.Tensor, cfg: TuneConfig, loss: ReconstructionLoss,
         fixed: dict[str, torch.Tensor] | None = None, progress: Callable[[int, int], None] | None = None,
         ) -> tuple[dict[str, torch.Tensor], float]:
    """One face: its latent w ((w_dim,) or (num_ws, w_dim)), its aligned target (1, 3, R, R) -> the tuned parameters (and the
    `fixed` tensors, noise maps, with them) and the final loss. `loss` is set to the target here. `progress(step, steps)`,
    if given, hears of each step."""
    fixed = dict(fixed or {})
    params = {n: p.detach().clone().requires_grad_(True) for n, p in gen.named_parameters()}
    opt = torch.optim.Adam(params.values(), lr=cfg.lr)
    loss.set_target(target)
    weights, loss.weights = loss.weights, cfg.weights
    try:
        with torch.enable_grad():
            for step in range(cfg.steps):
                value, _ = loss(Overridden(gen, {**params, **fixed}).synthesis(w[None], noise_mode="const"))
                opt.zero_grad(set_to_none=True)
                value.sum().backward()
                opt.step()
                if progress is not None:
                    progress(step + 1, cfg.steps)
        with torch.no_grad():
            final, _ = loss(Overridden(gen, {**params, **fixed}).synthesis(w[None], noise_mode="const"))
    finally:
        loss.weights = weights
    return {**{n: p.detach() for n, p in params.items()}, **fixed}, float(final[0])
