"""What a training run writes as it goes: metrics.jsonl, TensorBoard, validation numbers and grids."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from pipeline.losses import AttrSpace, Critic


class RunLog:
    """Append-only metrics.jsonl + TensorBoard under the run directory (rank 0 only)."""

    def __init__(self, run_dir: Path, enabled: bool) -> None:
        self.dir, self.enabled, self.tb = Path(run_dir), enabled, None
        if enabled:
            from torch.utils.tensorboard import SummaryWriter

            self.dir.mkdir(parents=True, exist_ok=True)
            self.tb = SummaryWriter(str(self.dir / "tb"))

    def metrics(self, metrics: dict[str, Any], step: int) -> None:
        if not self.enabled:
            return
        with open(self.dir / "metrics.jsonl", "a") as f:
            f.write(json.dumps({"step": step, **metrics}) + "\n")
        for k, v in metrics.items():
            if isinstance(v, (int, float)) and k != "step":
                self.tb.add_scalar(k, v, step)
        self.tb.flush()

    def image(self, name: str, grid: np.ndarray) -> Path:
        path = self.dir / "val" / f"{name}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(grid).save(path)
        return path

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()


def image_grid(rows: list[torch.Tensor]) -> np.ndarray:
    """rows[j] is (N,3,H,W) in [-1,1] for column j; returns an (N*H, cols*W, 3) uint8 sheet."""
    cols = [((r.clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).cpu().numpy() for r in rows]
    return np.concatenate([np.concatenate(list(c), axis=0) for c in cols], axis=1)


@torch.no_grad()
def validate(mapper: torch.nn.Module, critic: Critic, val: dict[str, torch.Tensor], space: AttrSpace, plan: Any,
             log: RunLog, step: int, device: torch.device, strength: float = 0.3) -> dict[str, float]:
    """Held-out faces, each trained attribute pushed +-strength of its range: requested vs achieved (by H)."""
    mapper.eval()
    w, attrs, e0 = (val[k].to(device) for k in ("w", "attrs", "identity"))
    a = attrs[:, space.index]
    base, _ = critic(w)
    out: dict[str, float] = {}
    for j, name in enumerate(plan.cfg.attributes):
        for sign in (1.0, -1.0):
            delta = torch.zeros_like(a)
            delta[:, j] = sign * strength * (space.high[j] - space.low[j])
            target = torch.minimum(torch.maximum(a + delta, space.low), space.high)
            w1 = mapper(w, a, delta)
            pred, emb = critic(w1)
            col = space.index[j]
            tag = f"val/{name}{'+' if sign > 0 else '-'}"
            out[f"{tag}/requested"] = float((target - a)[:, j].mean())
            out[f"{tag}/achieved"] = float(((pred - base)[:, col] * space.std[col]).mean())  # back to units
            out[f"{tag}/identity_cos"] = float(F.cosine_similarity(emb, e0, dim=1).mean())
            out[f"{tag}/latent_dist"] = float((w1 - w).reshape(len(w), -1).norm(dim=1).mean())
    _grid(mapper, val, space, plan, log, step, device, strength)
    mapper.train()
    return out


def _grid(mapper, val, space, plan, log, step, device, strength) -> None:
    """Before/after sheet: rows = held-out faces, columns = original, -strength, +strength per attribute."""
    from models.open import open_generator

    gen = open_generator(plan.generator, str(device))
    w, a = val["w"][:6].to(device), val["attrs"][:6].to(device)[:, space.index]
    cols = [gen.synthesis(w)]
    for j in range(len(plan.cfg.attributes)):
        for sign in (-1.0, 1.0):
            delta = torch.zeros_like(a)
            delta[:, j] = sign * strength * (space.high[j] - space.low[j])
            cols.append(gen.synthesis(mapper(w, a, delta)))
    log.image(f"step-{step:06d}", image_grid(cols))
