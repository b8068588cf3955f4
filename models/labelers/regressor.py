"""The paper's attribute regressor H: a small differentiable head distilled from black-box labels.

H = MLP head on pooled mid-level features of the frozen SFace port (models/identity/sface_torch.py). Measured here:
a CNN trained from scratch on a few thousand DCGAN faces learned nothing beyond the label mean, while a
head on these pretrained features cut the held-out error (docs/training.md); only the head is trained and stored.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from models.generators.framing import Framing, crop_resize
from models.weights import CheckpointError, check_tensors, existing_file


@dataclass(frozen=True)
class RegressorConfig:
    """Image (N,3,H,W) in [-1,1] -> attributes in their own units (years, probabilities, ...)."""

    attributes: tuple[str, ...]  # output names, in order
    mean: tuple[float, ...]  # per-attribute target mean (outputs are trained standardised)
    std: tuple[float, ...]  # per-attribute target std
    trunk_layers: int = 48  # SFace-port layers used as the frozen feature extractor (512 ch at 14x14)
    feature_dim: int = 512  # channels after the trunk (pooled)
    hidden: int = 256  # head width
    framing: tuple[float, float, float, float] = (0.0, 0.0, 1.0, 1.0)  # Framing.box of the generator

    def __post_init__(self) -> None:
        k = len(self.attributes)
        if k == 0 or len(self.mean) != k or len(self.std) != k or min(self.std) <= 0:
            raise ValueError(f"regressor needs one mean and one positive std per attribute, got {self}")


def sface_trunk(layers: int) -> nn.Module:
    """The first `layers` layers of the SFace port, frozen; input BGR 0..255 at 112x112."""
    from models.identity.sface_torch import load_sface_torch

    return load_sface_torch().net[:layers].eval().requires_grad_(False)


class AttributeRegressor(nn.Module):
    def __init__(self, cfg: RegressorConfig, trunk: nn.Module | None = None) -> None:
        super().__init__()
        self.cfg = cfg
        self.trunk = trunk if trunk is not None else sface_trunk(cfg.trunk_layers)
        self.head = nn.Sequential(nn.Linear(cfg.feature_dim, cfg.hidden), nn.LeakyReLU(0.2), nn.Linear(cfg.hidden, len(cfg.attributes)))
        self.register_buffer("mean", torch.tensor(cfg.mean, dtype=torch.float32))
        self.register_buffer("std", torch.tensor(cfg.std, dtype=torch.float32))

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """(N, feature_dim) pooled trunk features of the framed face: what the head sees."""
        faces = crop_resize(images, Framing(self.cfg.framing), 112)
        bgr255 = (faces.flip(1) + 1) * 127.5
        return self.trunk(bgr255.contiguous(memory_format=torch.channels_last)).mean(dim=(2, 3))

    def standardised(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(images))

    def forward(self, images: torch.Tensor, standardised: bool = False) -> torch.Tensor:
        """(N, k) attributes in their own units (or standardised: what training sees)."""
        out = self.standardised(images)
        return out if standardised else out * self.std + self.mean

    def from_features(self, feats: torch.Tensor) -> torch.Tensor:
        return self.head(feats) * self.std + self.mean


def save_regressor(model: AttributeRegressor, out_dir: str | Path, metadata: dict) -> Path:
    """Only the head and the standardisation are stored; the trunk is rebuilt from the SFace weights."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items() if not k.startswith("trunk.")}
    save_file(state, str(out / ".regressor.tmp"))
    doc = {"format": "latent2latent-regressor/1", "architecture": dataclasses.asdict(model.cfg), **metadata}
    (out / ".regressor.json.tmp").write_text(json.dumps(doc, indent=2))
    (out / ".regressor.tmp").replace(out / "regressor.safetensors")
    (out / ".regressor.json.tmp").replace(out / "regressor.json")
    return out


def load_regressor(export_dir: str | Path) -> tuple[AttributeRegressor, dict]:
    d = Path(export_dir)
    doc_path = existing_file(d / "regressor.json", "attribute regressor export (regressor.json)")
    try:
        doc = json.loads(doc_path.read_text())
        a = doc["architecture"]
        cfg = RegressorConfig(**{**a, "attributes": tuple(a["attributes"]), "mean": tuple(a["mean"]),
                                 "std": tuple(a["std"]), "framing": tuple(a["framing"])})
        model = AttributeRegressor(cfg)
        state = load_file(str(existing_file(d / "regressor.safetensors", "regressor weights")))
        check_tensors(state, d / "regressor.safetensors")  # a NaN weight would steer training with NaN losses
        missing, unexpected = model.load_state_dict(state, strict=False)
        if unexpected or any(not k.startswith("trunk.") for k in missing):
            raise KeyError(f"weights do not match the head (missing {missing[:3]}, unexpected {unexpected[:3]})")
    except (KeyError, TypeError, RuntimeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{d} is not an attribute regressor export: {str(e).splitlines()[0]}") from None
    return model.eval(), doc
