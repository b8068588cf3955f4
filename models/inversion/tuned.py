"""A generator with some of its tensors replaced for one face (tuned weights, optimised noise maps): the same interface,
so the critic steps, renders and labelers use it as they use the generator it wraps."""

from __future__ import annotations

import torch
from torch.func import functional_call

from models.generators.interface import Generator


class Overridden:
    """`gen` rendering with `tensors` ({parameter or buffer name: tensor}) in place of its own; mapping unchanged."""

    def __init__(self, gen: Generator, tensors: dict[str, torch.Tensor]) -> None:
        self.base, self.tensors = gen, tensors
        for name in ("name", "generator_id", "z_dim", "w_dim", "num_ws", "resolution", "framing"):
            setattr(self, name, getattr(gen, name))

    def mapping(self, z: torch.Tensor, psi: float = 1.0) -> torch.Tensor:
        return self.base.mapping(z, psi)

    def synthesis(self, ws: torch.Tensor, noise_mode: str | None = None) -> torch.Tensor:
        return functional_call(self.base, self.tensors, (ws,), {"noise_mode": noise_mode}, strict=False)

    def __call__(self, ws: torch.Tensor, noise_mode: str | None = None) -> torch.Tensor:
        return self.synthesis(ws, noise_mode)


def noise_buffers(gen: Generator) -> dict[str, torch.Tensor]:
    """The generator's stored noise maps by name (StyleGAN2's `noise_const`; none for the DCGAN)."""
    return {n: b for n, b in gen.named_buffers() if n.endswith("noise_const")} if isinstance(gen, torch.nn.Module) else {}
