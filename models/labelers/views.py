"""A fixed set of views of an image batch (mirror, small shifts): labels averaged over views are what an
edit must change, so a critic or judge that averages over them cannot be fooled by one view's quirks."""

from __future__ import annotations

import re
from dataclasses import dataclass

import torch
import torch.nn.functional as F

# "id", "flip", "dx+1", "flipdy-2", "dxy+2": mirror, then shift by k pixels of a 64-px image (scaled to the resolution)
_VIEW = re.compile(r"^(id|flip)?(?:(dx|dy|dxy)([+-]\d+))?$")


def parse_view(name: str) -> tuple[bool, int, int]:
    """'flipdx+1' -> (flip, dy, dx) in 64-px pixels; an unknown name is a one-line error."""
    m = _VIEW.match(name)
    if not name or m is None:
        raise ValueError(f"unknown view {name!r} (use id, flip, dx+K, dy-K, dxy+K, optionally prefixed by flip)")
    flip, axis, k = m.group(1) == "flip", m.group(2), int(m.group(3) or 0)
    return flip, k if axis in ("dy", "dxy") else 0, k if axis in ("dx", "dxy") else 0


@dataclass(frozen=True)
class Views:
    """Named views; `apply` stacks them view-major, `mean` averages a per-image value back over views."""

    names: tuple[str, ...] = ("id",)

    def __post_init__(self) -> None:
        if not self.names:
            raise ValueError("at least one view is needed (e.g. id)")
        for n in self.names:
            parse_view(n)

    def apply(self, images: torch.Tensor) -> torch.Tensor:
        """(N,3,H,W) -> (V*N,3,H,W); shifts pad by replicating the border so no black edge appears."""
        scale = images.shape[-1] / 64.0
        out = []
        for name in self.names:
            flip, dy, dx = parse_view(name)
            x = images.flip(3) if flip else images
            out.append(shift(x, round(dy * scale), round(dx * scale)))
        return torch.cat(out)

    def mean(self, values: torch.Tensor) -> torch.Tensor:
        """(V*N, ...) -> (N, ...), the average over views."""
        return values.reshape(len(self.names), -1, *values.shape[1:]).mean(0)


def shift(images: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """Content moved down by dy and right by dx pixels, border replicated; differentiable."""
    if dy == 0 and dx == 0:
        return images
    h, w = images.shape[-2:]
    padded = F.pad(images, (max(dx, 0), max(-dx, 0), max(dy, 0), max(-dy, 0)), mode="replicate")
    y0, x0 = max(-dy, 0), max(-dx, 0)
    return padded[..., y0 : y0 + h, x0 : x0 + w]
