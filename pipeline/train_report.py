"""What a training run writes as it goes: metrics.jsonl, TensorBoard, validation numbers and grids."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image


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


class Validation:
    """At each checkpoint (rank 0): held-out faces edited +-strength of each attribute's range, judged by the
    real labelers over views (pipeline/judge.py), and a before/after sheet in val/."""

    def __init__(self, plan: Any, w: torch.Tensor, log: RunLog, strength: float = 0.3, sheet_faces: int = 6) -> None:
        from pipeline.judge import Judge

        self.judge = Judge(plan.generator, tuple(plan.manifest["config"]["labelers"]), dlib=False)
        self.plan, self.log, self.strength, self.faces = plan, log, strength, sheet_faces
        self.before = self.judge.read(w)

    @torch.no_grad()
    def __call__(self, mapper: torch.nn.Module, step: int) -> dict[str, float]:
        from pipeline.judge import judge_strengths

        was = mapper.training
        mapper.eval()
        out, cols = {}, [self.before.images[: self.faces]]
        for name, sign, r in judge_strengths(self.judge, self.before, mapper, self.strength):
            tag = f"val/{name}{'+' if sign > 0 else '-'}"
            out.update({f"{tag}/attainable": r["attainable"][name], f"{tag}/achieved": r["achieved"][name],
                        f"{tag}/drift": r["drift"], f"{tag}/identity_cos": r["identity_cos"], f"{tag}/latent_dist": r["latent_dist"]})
            cols.append(r["after"].images[: self.faces])
        self.log.image(f"step-{step:06d}", image_grid(cols))
        mapper.train(was)
        return out
