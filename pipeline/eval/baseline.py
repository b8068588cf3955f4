"""The InterFaceGAN-style baseline: one linear direction per attribute, fitted on the same dataset, and the step
along it that matches another method's change."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch


def fit_direction(w: torch.Tensor, values: torch.Tensor, ridge: float = 1e-2) -> torch.Tensor:
    """Unit direction n in latent space along which the attribute grows: ridge regression of the labels
    on the flattened latents (the regression form of InterFaceGAN's separating hyperplane normal). Labels that do not
    vary over the rows give no direction: zeros (a step along it changes nothing, and the report says the baseline
    did not reach the change), never the NaN a division by a zero norm would make."""
    x = w.reshape(len(w), -1).double()
    x = x - x.mean(0)
    y = (values.double() - values.double().mean())
    gram = x.T @ x + ridge * len(x) * torch.eye(x.shape[1], dtype=x.dtype)
    coef = torch.linalg.solve(gram, x.T @ y)
    norm = coef.norm()
    return (coef / norm if norm > 0 else coef).float().reshape(w.shape[1:])


def move(w: torch.Tensor, direction: torch.Tensor, alpha: torch.Tensor | float) -> torch.Tensor:
    """w + alpha * n (alpha in latent units; per row if a tensor)."""
    a = torch.as_tensor(alpha, dtype=w.dtype).reshape(-1, *([1] * (w.ndim - 1)))
    return w + a * direction


def match_step(measure: Callable[[float], float], goal: float, scale: float, tolerance: float, tries: int) -> tuple[float, float]:
    """(alpha, change) with measure(alpha) as near `goal` as found: two probes (0.75 and 1.5 x scale, toward the goal)
    fit a slope through the origin; its step is read, then secant steps through the two readings nearest the goal, until one
    is within tolerance x |goal| or `tries` readings are spent; steps stay within 3x the probed range (past it the direction has become
    another person, and the report says the baseline could not reach the change)."""
    sign, limit = (1.0 if goal >= 0 else -1.0), 3 * scale
    seen = {a: measure(a) for a in (sign * scale * 0.75, sign * scale * 1.5)}
    probes = np.array(list(seen))
    slope = float(np.dot(probes, list(seen.values())) / np.dot(probes, probes))
    alpha = float(np.clip(goal / slope, -limit, limit)) if abs(slope) > 1e-9 else float(probes[-1])
    for _ in range(tries):
        if alpha in seen:
            break
        seen[alpha] = measure(alpha)
        if abs(seen[alpha] - goal) <= tolerance * abs(goal):
            break
        (a0, g0), (a1, g1) = sorted(seen.items(), key=lambda p: abs(p[1] - goal))[:2]
        if abs(g1 - g0) < 1e-12:
            break
        alpha = float(np.clip(a0 + (goal - g0) * (a1 - a0) / (g1 - g0), -limit, limit))
    best = min(seen, key=lambda a: abs(seen[a] - goal))
    return best, seen[best]
