"""The InterFaceGAN-style baseline: one linear direction per attribute, fitted on the same dataset."""

from __future__ import annotations

import torch


def fit_direction(w: torch.Tensor, values: torch.Tensor, ridge: float = 1e-2) -> torch.Tensor:
    """Unit direction n in latent space along which the attribute grows: ridge regression of the labels
    on the flattened latents (the regression form of InterFaceGAN's separating hyperplane normal)."""
    x = w.reshape(len(w), -1).double()
    x = x - x.mean(0)
    y = (values.double() - values.double().mean())
    gram = x.T @ x + ridge * len(x) * torch.eye(x.shape[1], dtype=x.dtype)
    coef = torch.linalg.solve(gram, x.T @ y)
    return (coef / coef.norm()).float().reshape(w.shape[1:])


def move(w: torch.Tensor, direction: torch.Tensor, alpha: torch.Tensor | float) -> torch.Tensor:
    """w + alpha * n (alpha in latent units; per row if a tensor)."""
    a = torch.as_tensor(alpha, dtype=w.dtype).reshape(-1, *([1] * (w.ndim - 1)))
    return w + a * direction
