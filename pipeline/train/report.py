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

    def __init__(self, run_dir: Path, enabled: bool, resumed_from: int = 0) -> None:
        self.dir, self.enabled, self.tb = Path(run_dir), enabled, None
        if enabled:
            from torch.utils.tensorboard import SummaryWriter

            self.dir.mkdir(parents=True, exist_ok=True)
            self._forget_after(resumed_from)
            self.tb = SummaryWriter(str(self.dir / "tb"), purge_step=resumed_from + 1 if resumed_from else None)

    def _forget_after(self, step: int) -> None:
        """Steps logged after the checkpoint a run resumes from were lost with the failure and are trained again:
        their lines go (atomically), so every step appears once."""
        path = self.dir / "metrics.jsonl"
        if not path.exists():
            return
        kept = []
        for line in path.read_text().splitlines():
            try:
                if json.loads(line)["step"] <= step:
                    kept.append(line)
            except (ValueError, KeyError, TypeError):  # a line cut short by the failure
                continue
        tmp = path.with_suffix(".jsonl.tmp")
        tmp.write_text("".join(f"{x}\n" for x in kept))
        tmp.replace(path)

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
    real labelers over views (pipeline/eval/judge.py), and a before/after sheet in val/."""

    def __init__(self, plan: Any, w: torch.Tensor, log: RunLog, strength: float = 0.3, sheet_faces: int = 6) -> None:
        from pipeline.eval.judge import Judge

        self.judge = Judge(plan.made, dlib=False)
        self.plan, self.log, self.strength, self.faces = plan, log, strength, sheet_faces
        self.before = self.judge.read(w)

    @torch.no_grad()
    def __call__(self, mapper: torch.nn.Module, step: int) -> dict[str, float]:
        from pipeline.eval.judge import judge_strengths

        was = mapper.training
        mapper.eval()
        out, cols = {}, [self.before.images[: self.faces]]
        for name, sign, r in judge_strengths(self.judge, self.before, mapper, self.strength):
            tag = f"val/{name}{'+' if sign > 0 else '-'}"
            out.update({f"{tag}/attainable": r["attainable"][name], f"{tag}/achieved": r["achieved"][name],
                        f"{tag}/drift": r["drift"], f"{tag}/identity_cos": r["identity_cos"], f"{tag}/latent_dist": r["latent_dist"],
                        f"{tag}/ratio_check": r["ratio_check"][name], f"{tag}/ratio_robust": r["ratio_robust"][name]})
            cols.append(r["after"].images[: self.faces])
        self.log.image(f"step-{step:06d}", image_grid(cols))
        mapper.train(was)
        return out


def validation_ratio(metrics: dict[str, Any]) -> float | None:
    """Mean achieved / attainable over the validation requests in `metrics` (None when it has none)."""
    tags = {k.rsplit("/", 1)[0] for k in metrics if k.startswith("val/") and k.endswith("/achieved")}
    ratios = [metrics[f"{t}/achieved"] / metrics[f"{t}/attainable"] for t in tags if abs(metrics[f"{t}/attainable"]) > 1e-6]
    return float(np.mean(ratios)) if ratios else None


class TrainProgress:
    """The driver's live training line: rank 0 puts one small dict per step on a Ray queue (so it works across
    nodes); a thread here turns them into pipeline/progress.py updates while trainer.fit() blocks."""

    def __init__(self, total: int) -> None:
        from ray.util.queue import Queue

        self.queue = Queue(maxsize=10_000, actor_options={"num_cpus": 0})
        self.total, self.stop, self.thread = total, None, None

    def __enter__(self) -> TrainProgress:
        import threading

        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._follow, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=10)
        self.queue.shutdown()

    def _follow(self) -> None:
        from pipeline.progress import Progress

        done, val = 0, None
        with Progress(self.total, "train", "step") as bar:
            while not self.stop.is_set() or not self.queue.empty():
                try:
                    item = self.queue.get(timeout=1.0)
                except Exception:  # noqa: BLE001 - Empty waits on; a closed queue ends the line, never the run
                    if self.stop.is_set():
                        break
                    continue
                val = item.get("val", val)
                shown = {"loss": f"{item['loss']:.3f}", "critic": f"{item['critic_fraction']:.2f}",
                         "samples/s": f"{item['samples_per_s']:.1f}"}
                bar.update(item["step"] - done, **shown, **({"val": f"{val:.2f}"} if val is not None else {}))
                done = item["step"]


def put_progress(queue: Any, step: int, parts: dict[str, torch.Tensor], samples_per_s: float, metrics: dict[str, Any] | None) -> None:
    """Rank 0, every step: never blocks or fails the run (a full or gone queue drops the update)."""
    if queue is None:
        return
    item = {"step": step, "loss": float(parts["total"]), "critic_fraction": float(parts["critic_fraction"]), "samples_per_s": samples_per_s}
    val = validation_ratio(metrics) if metrics else None
    if val is not None:
        item["val"] = val
    try:
        queue.put_nowait(item)
    except Exception:  # noqa: BLE001
        pass
