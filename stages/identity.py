"""images -> L2-normalised identity embeddings."""

from __future__ import annotations

import numpy as np
import torch

from models.generators.framing import Framing
from models.open import open_embedder
from stages.render import from_uint8


class EmbedIdentity:
    """Adds `identity` (N, D) float32, unit norm."""

    def __init__(self, embedder: str, framing: Framing, device: str = "cpu") -> None:
        self.embedder = open_embedder(embedder, framing, device)
        self.device = device

    @torch.inference_mode()
    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        emb = self.embedder(from_uint8(batch["image"], self.device))
        return {**batch, "identity": np.asarray(emb, dtype=np.float32)}
