"""The frozen, differentiable judges of an edit: G -> H and G -> identity net, or their latent surrogates."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from models.framing import crop_resize
from models.open import open_generator
from models.surrogate import LatentSurrogate
from pipeline.losses import Critic


def image_critic(generator: str | None, regressor: torch.nn.Module, device: torch.device) -> Critic:
    """w -> G(w) -> (H standardised attributes, SFace-port embedding); gradients reach w, weights frozen."""
    from models.sface_torch import load_sface_torch

    gen = open_generator(generator, str(device))
    ident = load_sface_torch().to(device).eval().requires_grad_(False)
    h = regressor.to(device).eval().requires_grad_(False)

    def critic(w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        images = gen.synthesis(w)
        return h.standardised(images), F.normalize(ident(crop_resize(images, gen.framing, 112)), dim=1)

    return critic


def latent_critic(surrogate: LatentSurrogate, device: torch.device) -> Critic:
    s = surrogate.to(device).eval().requires_grad_(False)
    return lambda w: s(w)
