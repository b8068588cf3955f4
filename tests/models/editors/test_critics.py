"""The image critic's identity net is the one the dataset's identity column was written with: SFace or a user's ArcFace."""

from __future__ import annotations

from types import SimpleNamespace

import torch

from models.editors.critics import ImageCritic
from models.open import open_embedder, open_generator


class MeanH(torch.nn.Module):
    """A stand-in attribute head: the image's mean, one output."""

    cfg = SimpleNamespace(attributes=("young",))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return images.mean(dim=(1, 2, 3)).unsqueeze(1)


def test_the_critic_embeds_with_the_datasets_embedder_and_its_gradient_reaches_the_latent(tmp_path):
    from tests.arcface_ckpt import write_tiny_arcface

    gen = open_generator(None)
    w = torch.randn(3, gen.w_dim, generator=torch.Generator().manual_seed(1))
    spec = f"arcface:{write_tiny_arcface(tmp_path / 'model_ir_se.pth')}"
    for name, dim in (("sface", 128), (spec, 32)):
        critic = ImageCritic(gen, MeanH(), embedder=name)
        x = w.clone().requires_grad_(True)
        attrs, emb = critic(x, id_rows=2)
        assert attrs.shape == (3, 1) and emb.shape == (2, dim)
        emb.sum().backward()
        assert x.grad[:2].abs().sum() > 0 and x.grad[2].abs().sum() == 0  # only the embedded rows reach it
        with torch.no_grad():  # the same embeddings the dataset job's black box wrote
            black = open_embedder(name, gen.framing)(gen.synthesis(w[:2]))
        assert (emb.detach() * torch.from_numpy(black)).sum(1).min() > 0.99, name
