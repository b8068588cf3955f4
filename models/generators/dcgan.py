"""The embedded default generator: the 64x64 face DCGAN whose weights ship in `gan-face-generate`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from models.generators.framing import DIGIFACE, Framing
from models.generators.interface import NOISE_MODES
from models.weights import CheckpointError, existing_file, model_id, package_file, torch_load


@dataclass(frozen=True)
class DCGANConfig:
    """The PyTorch-tutorial DCGAN generator (five transposed convs, 4 -> 64 px)."""

    z_dim: int = 100  # latent size; z is also the edit space (w = z)
    ngf: int = 64  # feature maps at the last hidden layer
    channels: int = 3  # RGB


class DCGAN(nn.Module):
    """z in R^z_dim -> 64x64 RGB in [-1, 1]. Its latent is its only space: w = z, num_ws = 1."""

    name = "dcgan-digiface"
    resolution = 64
    num_ws = 1
    framing: Framing = DIGIFACE

    def __init__(self, cfg: DCGANConfig = DCGANConfig(), generator_id: str = "dcgan-untrained") -> None:
        super().__init__()
        self.cfg, self.generator_id = cfg, generator_id
        self.z_dim = self.w_dim = cfg.z_dim
        widths = [cfg.z_dim, cfg.ngf * 8, cfg.ngf * 4, cfg.ngf * 2, cfg.ngf]
        layers: list[nn.Module] = []
        for i, (cin, cout) in enumerate(zip(widths[:-1], widths[1:])):
            stride, pad = (1, 0) if i == 0 else (2, 1)
            layers += [nn.ConvTranspose2d(cin, cout, 4, stride, pad, bias=False), nn.BatchNorm2d(cout), nn.ReLU(True)]
        layers += [nn.ConvTranspose2d(cfg.ngf, cfg.channels, 4, 2, 1, bias=False), nn.Tanh()]
        self.main = nn.Sequential(*layers)  # same indices as the tutorial, so its state dict loads as is

    def mapping(self, z: torch.Tensor, psi: float = 1.0) -> torch.Tensor:
        """w = psi * z: truncation toward the prior mean (0), the DCGAN analogue of the W-average trick."""
        if z.ndim != 2 or z.shape[1] != self.z_dim:
            raise ValueError(f"expected z of shape (N, {self.z_dim}), got {tuple(z.shape)}")
        return z * psi

    def synthesis(self, ws: torch.Tensor, noise_mode: str | None = None) -> torch.Tensor:
        """The DCGAN has no noise inputs: every noise mode renders the same image (the mode is still checked)."""
        if noise_mode not in (None, *NOISE_MODES):
            raise ValueError(f"noise_mode must be one of {NOISE_MODES}, got {noise_mode!r}")
        if ws.ndim == 3 and ws.shape[1] == 1:
            ws = ws[:, 0]
        if ws.ndim != 2 or ws.shape[1] != self.w_dim:
            raise ValueError(f"expected latents of shape (N, {self.w_dim}) or (N, 1, {self.w_dim}), got {tuple(ws.shape)}")
        return self.main(ws[:, :, None, None])

    def forward(self, ws: torch.Tensor, noise_mode: str | None = None) -> torch.Tensor:
        return self.synthesis(ws, noise_mode)  # torch.func.functional_call renders through here (models/inversion/tuned.py)


def default_dcgan_path() -> Path:
    return package_file("gan_face_generate", "weights.tar")


def load_dcgan(path: str | Path | None = None) -> DCGAN:
    """Load the DCGAN from `gan-face-generate`'s weights (or a file in the same layout), frozen, eval mode."""
    path = existing_file(path, "DCGAN checkpoint") if path is not None else default_dcgan_path()
    ckpt = torch_load(path, "DCGAN checkpoint")
    state = ckpt.get("netG_state_dict") if isinstance(ckpt, dict) else None
    if state is None:
        raise CheckpointError(f"{path} is not a gan-face-generate checkpoint (no 'netG_state_dict')")
    cfg = DCGANConfig(z_dim=state["main.0.weight"].shape[0], ngf=state["main.12.weight"].shape[0])
    gen = DCGAN(cfg, generator_id=model_id(DCGAN.name, path))
    gen.load_state_dict(state)
    return gen.eval().requires_grad_(False)
