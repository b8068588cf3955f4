"""images -> named attribute columns, from the real black-box labelers."""

from __future__ import annotations

import numpy as np
import torch

from models.generators.framing import Framing
from models.open import open_labeler
from stages.render import from_uint8

# On CPU the labelers see 16 rows at a time: a 64-row call left ~200 MB more of freed activations in the
# actor's heap (the emotion net most) and was no faster (measured in one process, 60 batches of 64 faces).
CPU_CHUNK_ROWS = 16


class LabelAttributes:
    """Adds one float32 column per attribute of each labeler (e.g. age, young, male, smiling, ...)."""

    def __init__(self, labelers: tuple[str, ...], framing: Framing, device: str = "cpu") -> None:
        self.labelers = [open_labeler(name, framing, device) for name in labelers]
        self.device = device

    def _label(self, images: torch.Tensor) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        for labeler in self.labelers:
            out.update({k: np.asarray(v, dtype=np.float32) for k, v in labeler(images).items()})
        return out

    @torch.inference_mode()
    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        images = from_uint8(batch["image"], self.device)
        step = CPU_CHUNK_ROWS if self.device == "cpu" else max(len(images), 1)
        parts = [self._label(images[i:i + step]) for i in range(0, max(len(images), 1), step)]
        return {**batch, **{k: np.concatenate([p[k] for p in parts]) for k in parts[0]}}
