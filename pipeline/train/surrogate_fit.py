"""Fit the latent-space surrogates for `--objective latent` on the dataset's own rows (driver side, seconds)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from models.editors.surrogate import LatentSurrogate, SurrogateConfig


def fit_surrogate(train: dict[str, torch.Tensor], held: dict[str, torch.Tensor], h: torch.nn.Module,
                  steps: int = 600, batch: int = 256, seed: int = 0) -> tuple[LatentSurrogate, dict[str, float]]:
    """Fit on the dataset's training rows, score on its held-out rows (never seen here: the faces the critic's
    fidelity is measured on next). Each of `train` / `held`: w (N,*shape), attrs (N,K) in H's order and units,
    identity (N,D). Returns the model and its held-out stats."""
    torch.manual_seed(seed)
    w, identity = train["w"], train["identity"]
    target = (train["attrs"] - h.mean) / h.std
    model = LatentSurrogate(SurrogateConfig(int(np.prod(w.shape[1:])), target.shape[1], identity.shape[1]))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-5)
    for _ in range(steps):
        i = torch.randint(len(w), (min(batch, len(w)),))
        pred, emb = model(w[i])
        loss = F.mse_loss(pred, target[i]) + (1 - F.cosine_similarity(emb, identity[i], dim=1)).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    with torch.no_grad():
        pred, emb = model(held["w"])
        stats = {"held_out_attr_mse_std": float(F.mse_loss(pred, (held["attrs"] - h.mean) / h.std)),
                 "held_out_identity_cos": float(F.cosine_similarity(emb, held["identity"], dim=1).mean())}
    return model.eval(), stats
