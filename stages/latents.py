"""seeds -> z -> w (or W+): a row's latent depends only on its seed."""

from __future__ import annotations

import numpy as np
import torch

from models.open import open_generator
from stages.finite import refuse_nonfinite


def seed_z(seeds: np.ndarray, z_dim: int) -> np.ndarray:
    """z ~ N(0, I) from a per-row generator seeded by the row's seed (independent of batching)."""
    return np.stack([np.random.default_rng(int(s)).standard_normal(z_dim, dtype=np.float32) for s in seeds])


class SampleLatents:
    """Adds `z` (N, z_dim) and `w` ((N, w_dim) for W, (N, num_ws, w_dim) for W+) to a batch of `seed`s."""

    def __init__(self, generator: str | None, psi: float, latent_space: str, device: str = "cpu") -> None:
        self.gen = open_generator(generator, device)
        self.psi, self.wplus, self.device = psi, latent_space == "wplus", device

    @torch.inference_mode()
    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        z = seed_z(batch["seed"], self.gen.z_dim)
        # one row at a time keeps w bit-identical whatever the batch size (gemv vs gemm rounding)
        w = torch.cat([self.gen.mapping(torch.from_numpy(row[None]).to(self.device), self.psi) for row in z])
        refuse_nonfinite("the generator's mapping gave latents with", w, batch["seed"])
        if self.wplus:
            w = w.unsqueeze(1).expand(-1, self.gen.num_ws, -1)
        return {**batch, "z": z, "w": w.float().cpu().numpy()}

