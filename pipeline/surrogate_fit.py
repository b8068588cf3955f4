"""Fit the latent-space surrogates for `--objective latent` on the dataset's own rows (driver side, seconds)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from models.surrogate import LatentSurrogate, SurrogateConfig


def fit_surrogate(w: torch.Tensor, attrs: torch.Tensor, identity: torch.Tensor, h: torch.nn.Module,
                  steps: int = 600, batch: int = 256, seed: int = 0) -> tuple[LatentSurrogate, dict[str, float]]:
    """w (N,*shape), attrs (N,K) in H's attribute order and units, identity (N,D); returns the model + fit stats."""
    torch.manual_seed(seed)
    n = len(w)
    hold = torch.arange(n) % 10 == 0
    target = (attrs - h.mean) / h.std
    model = LatentSurrogate(SurrogateConfig(int(np.prod(w.shape[1:])), attrs.shape[1], identity.shape[1]))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-5)
    train_idx = torch.nonzero(~hold).squeeze(1)
    for _ in range(steps):
        i = train_idx[torch.randint(len(train_idx), (min(batch, len(train_idx)),))]
        pred, emb = model(w[i])
        loss = F.mse_loss(pred, target[i]) + (1 - F.cosine_similarity(emb, identity[i], dim=1)).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    with torch.no_grad():
        pred, emb = model(w[hold])
        stats = {"held_out_attr_mse_std": float(F.mse_loss(pred, target[hold])),
                 "held_out_identity_cos": float(F.cosine_similarity(emb, identity[hold], dim=1).mean())}
    return model.eval(), stats
