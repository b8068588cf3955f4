"""Real faces for tests: the packaged DCGAN, seeded."""

from __future__ import annotations

import functools

import torch

from models.generators.dcgan import load_dcgan


@functools.cache
def _gen():
    return load_dcgan()


def dcgan_faces(n: int, seed: int) -> torch.Tensor:
    """n 64x64 faces in [-1, 1] from fixed seeds."""
    with torch.no_grad():
        return _gen()(torch.randn(n, 100, generator=torch.Generator().manual_seed(seed)))
