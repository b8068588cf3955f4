"""w -> uint8 images (N, H, W, 3): what is stored is exactly what the labelers see."""

from __future__ import annotations

import numpy as np
import torch

from models.open import open_generator
from stages.finite import refuse_nonfinite


def to_uint8(images: torch.Tensor, ids: np.ndarray | None = None) -> np.ndarray:
    """[-1, 1] NCHW float -> [0, 255] NHWC uint8; NaN or Inf pixels (cast, they would be black) are refused."""
    refuse_nonfinite("the generator rendered", images, ids)
    x = (images.clamp(-1, 1) + 1) * 127.5
    return x.round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()


def from_uint8(images: np.ndarray, device: str = "cpu") -> torch.Tensor:
    """[0, 255] NHWC uint8 -> [-1, 1] NCHW float32, the labelers' input convention."""
    if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
        raise ValueError(f"expected uint8 images of shape (N, H, W, 3), got {images.dtype} {images.shape}")
    return torch.from_numpy(np.ascontiguousarray(images)).to(device).permute(0, 3, 1, 2).float() / 127.5 - 1


class Render:
    """Adds `image` (N, H, W, 3) uint8 rendered from the batch's `w`."""

    def __init__(self, generator: str | None, noise_mode: str = "const", device: str = "cpu") -> None:
        self.gen = open_generator(generator, device)
        self.noise_mode, self.device = noise_mode, device

    @torch.inference_mode()
    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        ws = torch.from_numpy(np.ascontiguousarray(batch["w"])).to(self.device)
        images = self.gen.synthesis(ws, noise_mode=self.noise_mode)
        return {**batch, "image": to_uint8(images, row_ids(batch))}


def row_ids(batch: dict[str, np.ndarray]) -> np.ndarray | None:
    """How a batch names its rows in messages: dataset rows by seed, edit rows by id."""
    return batch.get("seed", batch.get("id"))
