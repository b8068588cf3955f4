"""ArcFace IR-SE backbone in the pSp/e4e state-dict layout (`model_ir_se50.pth`), the identity net of pSp's ID loss.

Layout (TreB1eN's InsightFace_Pytorch, as kept by pSp/e4e): `input_layer` = conv3x3, BN, PReLU; `body.{i}` =
IR-SE units (res: BN, conv3x3, PReLU, conv3x3 with the unit's stride, BN, squeeze-excitation; shortcut:
conv1x1 + BN when the width changes, else a parameter-free 1x1 max-pool with the stride); `output_layer` =
BN2d, dropout, flatten, Linear(width * s * s -> 512), BN1d. The embedding is L2-normalised.
No weights ship in any package: users bring the file (pSp/e4e's `model_ir_se50.pth`).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from models.generators.framing import Framing, check_images, crop_resize
from models.weights import CheckpointError, check_tensors, existing_file, model_id, torch_load


@dataclass(frozen=True)
class ArcFaceConfig:
    """Shape of an IR-SE backbone; `load_arcface` reads it from the checkpoint's tensor shapes."""

    widths: tuple[int, ...] = (64, 128, 256, 512)  # channels of each stage
    units: tuple[int, ...] = (3, 4, 14, 3)  # IR-SE units per stage (3, 4, 14, 3 = IR-SE-50)
    stem_width: int = 64  # channels of the input conv
    input_size: int = 112  # side of the aligned face; each stage halves it
    se_reduction: int = 16  # squeeze-excitation bottleneck = width / se_reduction
    embed_dim: int = 512  # width of the identity embedding
    output_affine: bool = True  # whether the final BatchNorm1d has weight and bias
    crop_margin: float = 0.0  # the framing box is pSp's ArcFace crop as is

    def __post_init__(self) -> None:
        if not self.widths or len(self.widths) != len(self.units):
            raise ValueError(f"ArcFace needs one unit count per stage, got widths {self.widths} and units {self.units}")
        if min(self.widths + self.units) < 1 or self.stem_width < 1 or self.embed_dim < 1 or self.se_reduction < 1:
            raise ValueError(f"ArcFace widths, units, stem_width, embed_dim and se_reduction must be positive: {self}")
        if any(w % self.se_reduction for w in self.widths):
            raise ValueError(f"every stage width {self.widths} must be divisible by se_reduction {self.se_reduction}")
        if self.input_size % (2 ** len(self.widths)):
            raise ValueError(f"input_size {self.input_size} must be divisible by 2^stages = {2 ** len(self.widths)}")
        if not 0.0 <= self.crop_margin <= 1.0:
            raise ValueError(f"crop_margin must be in [0, 1], got {self.crop_margin}")

    @property
    def out_size(self) -> int:
        """Side of the last feature map (7 for 112 input, 4 stages)."""
        return self.input_size // 2 ** len(self.widths)


class SqueezeExcite(nn.Module):
    """Channel gates from the global mean: x * sigmoid(fc2(relu(fc1(mean(x)))))."""

    def __init__(self, channels: int, reduction: int) -> None:
        super().__init__()
        self.fc1 = nn.Conv2d(channels, channels // reduction, 1, bias=False)
        self.fc2 = nn.Conv2d(channels // reduction, channels, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(self.fc2(F.relu(self.fc1(x.mean(dim=(2, 3), keepdim=True)))))


class IRSEUnit(nn.Module):
    """Improved-residual unit with squeeze-excitation; the stride sits on the second 3x3 conv."""

    def __init__(self, cin: int, cout: int, stride: int, reduction: int) -> None:
        super().__init__()
        if cin == cout:
            self.shortcut_layer: nn.Module = nn.MaxPool2d(1, stride)  # plain subsampling, no parameters
        else:
            self.shortcut_layer = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
        self.res_layer = nn.Sequential(
            nn.BatchNorm2d(cin), nn.Conv2d(cin, cout, 3, 1, 1, bias=False), nn.PReLU(cout),
            nn.Conv2d(cout, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), SqueezeExcite(cout, reduction))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.res_layer(x) + self.shortcut_layer(x)


class IRSEBackbone(nn.Module):
    """Aligned face in [-1, 1] (N, 3, S, S) -> L2-normalised embedding (N, embed_dim)."""

    def __init__(self, cfg: ArcFaceConfig = ArcFaceConfig()) -> None:
        super().__init__()
        self.cfg = cfg
        self.input_layer = nn.Sequential(nn.Conv2d(3, cfg.stem_width, 3, 1, 1, bias=False),
                                         nn.BatchNorm2d(cfg.stem_width), nn.PReLU(cfg.stem_width))
        units, cin = [], cfg.stem_width
        for width, count in zip(cfg.widths, cfg.units, strict=True):
            for i in range(count):
                units.append(IRSEUnit(cin, width, 2 if i == 0 else 1, cfg.se_reduction))
                cin = width
        self.body = nn.Sequential(*units)
        flat = cfg.widths[-1] * cfg.out_size**2
        # The dropout (inference only, so p=0) keeps pSp's indices: output_layer.{0,3,4} hold the weights.
        self.output_layer = nn.Sequential(nn.BatchNorm2d(cfg.widths[-1]), nn.Dropout(0.0), nn.Flatten(),
                                          nn.Linear(flat, cfg.embed_dim),
                                          nn.BatchNorm1d(cfg.embed_dim, affine=cfg.output_affine))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.output_layer(self.body(self.input_layer(x))), dim=1)


def _unit_indices(state: dict[str, torch.Tensor]) -> list[int]:
    found = sorted({int(m.group(1)) for k in state if (m := re.match(r"body\.(\d+)\.", k))})
    if not found or found != list(range(len(found))):
        raise CheckpointError(f"ArcFace checkpoint body units are not numbered 0..n-1 (found {found[:8]}...)")
    return found


def config_from_state(state: dict[str, torch.Tensor]) -> ArcFaceConfig:
    """Stage widths/units, SE reduction and input size, read from an IR-SE state dict's tensor shapes."""
    need = ["input_layer.0.weight", "output_layer.3.weight", "body.0.res_layer.5.fc1.weight"]
    if missing := [k for k in need if k not in state]:
        raise CheckpointError(
            f"not an IR-SE ArcFace state dict: missing {missing[0]!r} (first keys: {list(state)[:3]})")
    widths: list[int] = []
    units: list[int] = []
    for i in _unit_indices(state):
        if (conv := state.get(f"body.{i}.res_layer.1.weight")) is None:
            raise CheckpointError(f"ArcFace checkpoint unit {i} has no 'body.{i}.res_layer.1.weight'")
        width = conv.shape[0]
        if not widths or width != widths[-1]:  # a stage starts at unit 0 and wherever the width changes
            widths.append(width)
            units.append(0)
        units[-1] += 1
    reduction = widths[0] // state["body.0.res_layer.5.fc1.weight"].shape[0]
    embed_dim, flat = state["output_layer.3.weight"].shape
    side = math.isqrt(flat // widths[-1])
    if side * side * widths[-1] != flat:
        raise CheckpointError(f"ArcFace output Linear takes {flat} features, not {widths[-1]} x s x s")
    try:
        return ArcFaceConfig(widths=tuple(widths), units=tuple(units),
                             stem_width=state["input_layer.0.weight"].shape[0], input_size=side * 2 ** len(widths),
                             se_reduction=reduction, embed_dim=embed_dim,
                             output_affine="output_layer.4.weight" in state)
    except (ValueError, KeyError) as e:
        raise CheckpointError(f"ArcFace checkpoint has an inconsistent shape: {e}") from None


class ArcFaceEmbedder:
    """Images (N, 3, H, W) in [-1, 1] -> ArcFace identity embeddings, L2-normalised, via pSp's crop."""

    def __init__(self, net: IRSEBackbone, framing: Framing, embedder_id: str) -> None:
        self.net, self.framing, self.embedder_id = net, framing, embedder_id
        self.dim = net.cfg.embed_dim

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Differentiable (N, dim) embeddings (for identity losses)."""
        check_images(images)
        cfg = self.net.cfg
        return self.net(crop_resize(images, self.framing, cfg.input_size, margin=cfg.crop_margin))

    @torch.inference_mode()
    def __call__(self, images: torch.Tensor) -> np.ndarray:
        check_images(images)
        device = next(self.net.parameters()).device
        return self.forward(images.to(device, torch.float32)).cpu().numpy().astype(np.float32)


def load_arcface(path: str | Path, framing: Framing) -> ArcFaceEmbedder:
    """Load a pSp/e4e-layout IR-SE state dict (e.g. model_ir_se50.pth), frozen, eval mode."""
    path = existing_file(path, "ArcFace checkpoint")
    state = torch_load(path, "ArcFace checkpoint")
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{path} is not a state dict of tensors (got {type(state).__name__})")
    check_tensors(state, path)  # a NaN weight would embed every face as NaN
    cfg = config_from_state(state)
    net = IRSEBackbone(cfg)
    want = {k for k in net.state_dict() if not k.endswith("num_batches_tracked")}
    have = {k for k in state if not k.endswith("num_batches_tracked")}
    if want != have:
        extra, missing = sorted(have - want), sorted(want - have)
        raise CheckpointError(f"{path} does not fit an IR-SE backbone {cfg.widths}x{cfg.units}: "
                              f"missing {missing[:3]}, unexpected {extra[:3]}")
    try:
        net.load_state_dict(state, strict=False)
    except RuntimeError as e:
        raise CheckpointError(f"{path}: {str(e).splitlines()[-1].strip()}") from None
    name = f"arcface-ir-se{2 * sum(cfg.units) + 2}"
    return ArcFaceEmbedder(net.eval().requires_grad_(False), framing, model_id(name, path))
