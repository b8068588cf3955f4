"""How far a render is from a target face, from networks the project already holds (LPIPS' backbones are downloads):
pixels, the SFace port's identity, and its early feature maps compared as LPIPS compares VGG's."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from models.generators.framing import Framing, crop_resize
from models.identity.sface_torch import load_sface_torch
from models.inversion.config import ReconstructionWeights

FEATURE_TAPS = (7, 15, 23)  # the SFace port's layers after which LPIPS-like maps are read: 64 ch @112, 128 @56, 256 @28


class ReconstructionLoss(nn.Module):
    """(renders, targets) (N, 3, R, R) in [-1, 1] -> per-face loss (N,) and its parts; the target's features are read once
    (`set_target`)."""

    def __init__(self, framing: Framing, weights: ReconstructionWeights = ReconstructionWeights(), device: str = "cpu") -> None:
        super().__init__()
        self.framing, self.weights = framing, weights
        self.sface = load_sface_torch().to(device)
        self.size = self.sface.cfg.input_size
        self.target: torch.Tensor | None = None
        self.target_feats: list[torch.Tensor] = []

    def features(self, images: torch.Tensor) -> list[torch.Tensor]:
        """The feature taps (channel-normalised) and last, the unit identity embedding, of the framing's face crop."""
        x = (crop_resize(images, self.framing, self.size).flip(1) + 1.0) * 127.5  # SFace reads BGR 0..255
        x = x.contiguous(memory_format=torch.channels_last)
        taps = []
        for i, layer in enumerate(self.sface.net):
            x = layer(x)
            if i in FEATURE_TAPS:
                taps.append(x / (x.pow(2).sum(1, keepdim=True).sqrt() + 1e-8))
        return [*taps, F.normalize(x, dim=1)]

    @torch.no_grad()
    def set_target(self, target: torch.Tensor) -> None:
        self.target, self.target_feats = target, self.features(target)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        if self.target is None:
            raise RuntimeError("set_target first")
        w = self.weights
        pixel = (images - self.target).pow(2).flatten(1).mean(1)
        feats = self.features(images)
        taps = torch.stack([(a - b).pow(2).sum(1).flatten(1).mean(1) for a, b in zip(feats[:-1], self.target_feats[:-1])]).mean(0)
        identity = 1 - (feats[-1] * self.target_feats[-1]).sum(1)
        parts = {"pixel": pixel, "features": taps, "identity": identity}
        return w.pixel * pixel + w.features * taps + w.identity * identity, parts


def psnr(images: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """(N,) PSNR in dB of [-1, 1] images against the target (peak-to-peak 2)."""
    mse = (images.float() - target.float()).pow(2).flatten(1).mean(1).clamp_min(1e-12)
    return 10 * torch.log10(4.0 / mse)
