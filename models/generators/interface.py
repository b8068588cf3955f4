"""The generator interface every stage uses, whatever network is behind it."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch

from models.generators.framing import Framing

NOISE_MODES = ("const", "random", "none")  # stored noise buffers, fresh noise, none


@runtime_checkable
class Generator(Protocol):
    """A frozen image generator with a mapping to its edit space.

    `mapping(z, psi)` returns W latents of shape (N, w_dim); `synthesis` takes (N, w_dim) (W, broadcast
    to every layer) or (N, num_ws, w_dim) (W+), and returns float NCHW RGB images in about [-1, 1].
    """

    name: str
    generator_id: str  # name + weights hash, recorded in every output
    z_dim: int
    w_dim: int
    num_ws: int
    resolution: int
    framing: Framing

    def mapping(self, z: torch.Tensor, psi: float = 1.0) -> torch.Tensor: ...

    def synthesis(self, ws: torch.Tensor, noise_mode: str | None = None) -> torch.Tensor:
        """Images in [-1, 1]; noise_mode ("const", "random", "none") for generators with noise inputs, None = their default."""
        ...


def broadcast_ws(ws: torch.Tensor, num_ws: int, w_dim: int) -> torch.Tensor:
    """(N, w_dim) W or (N, num_ws, w_dim) W+ as W+; a wrong shape is a one-line error."""
    if ws.ndim == 2 and ws.shape[1] == w_dim:
        return ws.unsqueeze(1).expand(-1, num_ws, -1)
    if ws.ndim == 3 and ws.shape[1:] == (num_ws, w_dim):
        return ws
    raise ValueError(f"latents of shape {tuple(ws.shape)} fit neither W (N, {w_dim}) nor W+ (N, {num_ws}, {w_dim})")
