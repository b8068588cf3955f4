"""The paper's attribute regressor H: a small differentiable image network distilled from black-box labels."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn

from models.framing import Framing, check_images
from models.weights import CheckpointError, existing_file


@dataclass(frozen=True)
class RegressorConfig:
    """Image (N,3,H,W) in [-1,1] -> attributes in their own units (years, probabilities, ...)."""

    attributes: tuple[str, ...]  # output names, in order
    mean: tuple[float, ...]  # per-attribute target mean (outputs are trained standardised)
    std: tuple[float, ...]  # per-attribute target std
    input_size: int = 64  # images are cropped to the generator's framing and resized to this
    widths: tuple[int, ...] = (32, 64, 128, 256)  # one stride-2 conv block per width
    framing: tuple[float, float, float, float] = (0.0, 0.0, 1.0, 1.0)  # Framing.box of the generator

    def __post_init__(self) -> None:
        k = len(self.attributes)
        if k == 0 or len(self.mean) != k or len(self.std) != k or min(self.std) <= 0:
            raise ValueError(f"regressor needs one mean and one positive std per attribute, got {self}")


class AttributeRegressor(nn.Module):
    def __init__(self, cfg: RegressorConfig) -> None:
        super().__init__()
        self.cfg = cfg
        layers, cin = [], 3
        for w in cfg.widths:
            layers += [nn.Conv2d(cin, w, 3, 2, 1), nn.LeakyReLU(0.2), nn.Conv2d(w, w, 3, 1, 1), nn.LeakyReLU(0.2)]
            cin = w
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(cin, len(cfg.attributes))
        self.register_buffer("mean", torch.tensor(cfg.mean, dtype=torch.float32))
        self.register_buffer("std", torch.tensor(cfg.std, dtype=torch.float32))

    def standardised(self, images: torch.Tensor) -> torch.Tensor:
        """Outputs in standard units (what the training loss sees)."""
        check_images(images)
        box = self.cfg.framing
        _, _, h, w = images.shape
        x = images[:, :, round(box[0] * h): round(box[2] * h), round(box[1] * w): round(box[3] * w)]
        x = F.interpolate(x, size=(self.cfg.input_size,) * 2, mode="bilinear", align_corners=False, antialias=True)
        return self.head(self.features(x).mean(dim=(2, 3)))

    def forward(self, images: torch.Tensor, standardised: bool = False) -> torch.Tensor:
        """(N, k) attributes in their own units (or standardised: what training sees, through DDP)."""
        out = self.standardised(images)
        return out if standardised else out * self.std + self.mean


def framing_box(framing: Framing) -> tuple[float, float, float, float]:
    return tuple(float(v) for v in framing.box)  # type: ignore[return-value]


def save_regressor(model: AttributeRegressor, out_dir: str | Path, metadata: dict) -> Path:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    save_file({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}, str(out / ".regressor.tmp"))
    (out / ".regressor.json.tmp").write_text(json.dumps({"format": "latent2latent-regressor/1",
                                                          "architecture": dataclasses.asdict(model.cfg), **metadata}, indent=2))
    (out / ".regressor.tmp").replace(out / "regressor.safetensors")
    (out / ".regressor.json.tmp").replace(out / "regressor.json")
    return out


def load_regressor(export_dir: str | Path) -> tuple[AttributeRegressor, dict]:
    d = Path(export_dir)
    doc_path = existing_file(d / "regressor.json", "attribute regressor export (regressor.json)")
    try:
        doc = json.loads(doc_path.read_text())
        a = doc["architecture"]
        cfg = RegressorConfig(attributes=tuple(a["attributes"]), mean=tuple(a["mean"]), std=tuple(a["std"]),
                              input_size=a["input_size"], widths=tuple(a["widths"]), framing=tuple(a["framing"]))
        model = AttributeRegressor(cfg)
        model.load_state_dict(load_file(str(existing_file(d / "regressor.safetensors", "regressor weights"))))
    except (KeyError, TypeError, RuntimeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{d} is not an attribute regressor export: {str(e).splitlines()[0]}") from None
    return model.eval(), doc
