"""Judging edits with the original black-box labelers and embedder (not the differentiable stand-ins)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from models.mapper import Mapper
from models.open import open_embedder, open_generator, open_labeler
from stages.render import from_uint8, to_uint8


@torch.no_grad()
def measure_edits(mapper: Mapper, generator: str | None, w: torch.Tensor, attrs: torch.Tensor,
                  deltas: dict[str, float], labelers: tuple[str, ...], embedder: str = "sface") -> dict[str, Any]:
    """Render originals and edits, re-label both with the real labelers; mean changes + identity cosine."""
    gen = open_generator(generator)
    labs = [open_labeler(n, gen.framing) for n in labelers]
    emb = open_embedder(embedder, gen.framing)
    delta = torch.zeros_like(attrs)
    for name, value in deltas.items():
        delta[:, mapper.cfg.attributes.index(name)] = value
    w1 = mapper(w, attrs, delta)
    before, after = (from_uint8(to_uint8(gen.synthesis(x))) for x in (w, w1))  # judge what would be stored
    lab0 = {k: v for lab in labs for k, v in lab(before).items()}
    lab1 = {k: v for lab in labs for k, v in lab(after).items()}
    cos = (emb(before) * emb(after)).sum(1)
    return {"rows": len(w), "deltas": deltas,
            "change": {k: float(np.mean(lab1[k] - lab0[k])) for k in lab0},
            "identity_cos": float(np.mean(cos)), "identity_cos_min": float(np.min(cos)),
            "latent_dist": float((w1 - w).reshape(len(w), -1).norm(dim=1).mean())}
