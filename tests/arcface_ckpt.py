"""A tiny random IR-SE ArcFace state dict with pSp/e4e's real key names, written by hand (not via models.identity.arcface)."""

from __future__ import annotations

from pathlib import Path

import torch


def _bn(state: dict, prefix: str, c: int, g: torch.Generator, affine: bool = True) -> None:
    if affine:
        state[f"{prefix}.weight"] = 1 + 0.1 * torch.randn(c, generator=g)
        state[f"{prefix}.bias"] = 0.1 * torch.randn(c, generator=g)
    state[f"{prefix}.running_mean"] = 0.1 * torch.randn(c, generator=g)
    state[f"{prefix}.running_var"] = 0.5 + torch.rand(c, generator=g)
    state[f"{prefix}.num_batches_tracked"] = torch.tensor(7)


def _conv(cout: int, cin: int, k: int, g: torch.Generator) -> torch.Tensor:
    return torch.randn(cout, cin, k, k, generator=g) / (cin * k * k) ** 0.5


def tiny_arcface_state(widths=(8, 16, 32, 64), units=(1, 2, 1, 1), stem=8, reduction=4, embed=32, side=7,
                       seed: int = 0) -> dict[str, torch.Tensor]:
    """IR-SE state dict: `input_layer.{0,1,2}`, `body.{i}.{shortcut_layer,res_layer}`, `output_layer.{0,3,4}`."""
    g = torch.Generator().manual_seed(seed)
    state: dict[str, torch.Tensor] = {"input_layer.0.weight": _conv(stem, 3, 3, g)}
    _bn(state, "input_layer.1", stem, g)
    state["input_layer.2.weight"] = 0.25 + 0.05 * torch.rand(stem, generator=g)
    i, cin = 0, stem
    for width, count in zip(widths, units, strict=True):
        for _ in range(count):
            p = f"body.{i}"
            if cin != width:  # otherwise the shortcut is a parameter-free MaxPool2d(1, stride)
                state[f"{p}.shortcut_layer.0.weight"] = _conv(width, cin, 1, g)
                _bn(state, f"{p}.shortcut_layer.1", width, g)
            _bn(state, f"{p}.res_layer.0", cin, g)
            state[f"{p}.res_layer.1.weight"] = _conv(width, cin, 3, g)
            state[f"{p}.res_layer.2.weight"] = 0.25 + 0.05 * torch.rand(width, generator=g)
            state[f"{p}.res_layer.3.weight"] = _conv(width, width, 3, g)
            _bn(state, f"{p}.res_layer.4", width, g)
            state[f"{p}.res_layer.5.fc1.weight"] = _conv(width // reduction, width, 1, g)
            state[f"{p}.res_layer.5.fc2.weight"] = _conv(width, width // reduction, 1, g)
            i, cin = i + 1, width
    _bn(state, "output_layer.0", cin, g)
    state["output_layer.3.weight"] = torch.randn(embed, cin * side * side, generator=g) / (cin * side * side) ** 0.5
    state["output_layer.3.bias"] = 0.1 * torch.randn(embed, generator=g)
    _bn(state, "output_layer.4", embed, g)
    return state


def write_tiny_arcface(path: str | Path, **kwargs) -> Path:
    """Save `tiny_arcface_state(**kwargs)` with torch.save, as pSp ships model_ir_se50.pth; returns the path."""
    path = Path(path)
    torch.save(tiny_arcface_state(**kwargs), path)
    return path
