"""The frozen, differentiable critics an edit is trained against: G -> H and G -> identity net, or their
latent surrogates. A critic maps latents to (attributes in their units (N, K), unit identity embeddings of
the first `id_rows` rows)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from models.editors.surrogate import LatentSurrogate
from models.generators.interface import Generator
from models.labelers.eot import EotDraw
from models.labelers.views import Views


class ImageCritic:
    """w -> G(w) -> (H(images), identity embedding); weights frozen, gradients reach w."""

    def __init__(self, gen: Generator, h: torch.nn.Module, device: torch.device | str = "cpu", *, embedder: str) -> None:
        from models.open import open_embedder

        self.gen = gen  # opened by the caller on `device`, so a judge and a critic can share one
        # the embedder the dataset's identity column was written with (pipeline/made_with.py), its differentiable torch form
        self.ident = open_embedder(embedder, gen.framing, str(device), port=True)
        self.h = h.to(device).eval().requires_grad_(False)
        self.attributes: tuple[str, ...] = tuple(h.cfg.attributes)

    def __call__(self, w: torch.Tensor, id_rows: int | None = None, views: Views | EotDraw | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """`views` replaces the views (or EOT draws) a ported H averages over, for this call."""
        images = self.gen.synthesis(w)
        faces = images if id_rows is None else images[:id_rows]
        return self.h(images) if views is None else self.h(images, views=views), F.normalize(self.ident.forward(faces), dim=1)

    def labels(self, images: torch.Tensor, views: Views | EotDraw | None = None) -> torch.Tensor:
        """H of images already rendered by G, over `views` (None: its own): no identity embedding."""
        return self.h(images) if views is None else self.h(images, views=views)


class LatentCritic:
    """The same answers read off latents by small surrogates fitted to the image critic (no generator)."""

    def __init__(self, surrogate: LatentSurrogate, attributes: tuple[str, ...], mean: torch.Tensor, std: torch.Tensor,
                 device: torch.device | str = "cpu") -> None:
        self.s = surrogate.to(device).eval().requires_grad_(False)
        self.attributes, self.mean, self.std = attributes, mean.to(device), std.to(device)

    def __call__(self, w: torch.Tensor, id_rows: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        pred, emb = self.s(w)
        return pred * self.std + self.mean, emb if id_rows is None else emb[:id_rows]
