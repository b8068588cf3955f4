"""images -> named attribute columns, from the real black-box labelers."""

from __future__ import annotations

import numpy as np
import torch

from models.generators.framing import Framing
from models.open import open_labeler
from stages.render import from_uint8


class LabelAttributes:
    """Adds one float32 column per attribute of each labeler (e.g. age, young, male, smiling, ...)."""

    def __init__(self, labelers: tuple[str, ...], framing: Framing, device: str = "cpu") -> None:
        self.labelers = [open_labeler(name, framing, device) for name in labelers]
        self.device = device

    @torch.inference_mode()
    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        images = from_uint8(batch["image"], self.device)
        out = dict(batch)
        for labeler in self.labelers:
            out.update({k: np.asarray(v, dtype=np.float32) for k, v in labeler(images).items()})
        return out
