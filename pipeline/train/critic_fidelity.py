"""How well a training critic reads the attributes, measured before any training step, and the floor below
which a requested attribute is refused (a blind critic's gradient moves identity, not the attribute)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from pipeline.eval.judge import Judge

FILE = "critic_fidelity.json"


def r2(pred: np.ndarray, label: np.ndarray) -> float:
    """1 - SSE / SST of `pred` against `label`: 1 is perfect, 0 is the label mean, below 0 is worse."""
    sst = float(np.sum((label - label.mean()) ** 2))
    return 1.0 - float(np.sum((label - pred) ** 2)) / sst if sst > 0 else float("nan")


@torch.no_grad()
def critic_fidelity(critic: Any, judge: Judge, w: torch.Tensor, labels: torch.Tensor, names: tuple[str, ...],
                    chunk: int = 32) -> dict[str, Any]:
    """Held-out R2 of each critic output against the dataset's labels, next to the noise ceiling: the R2 of
    the labeler's own reading of the mirrored image (the same face, another view) against the same labels."""
    pred = torch.cat([critic(w[i : i + chunk], 1)[0] for i in range(0, len(w), chunk)]).numpy()
    mirror, _ = judge.label(judge.render(w), views=("flip",))
    y = labels.numpy()
    out = {}
    for k, name in enumerate(names):
        fit, ceiling = r2(pred[:, k], y[:, k]), r2(mirror[name], y[:, k]) if name in mirror else float("nan")
        out[name] = {"r2": round(fit, 4), "mirror_r2": round(ceiling, 4), "of_ceiling": round(fit / ceiling, 3) if ceiling > 0 else None}
    return {"rows": len(w), "attributes": out}


def check_floor(report: dict[str, Any], requested: tuple[str, ...], floor: float, allow: bool) -> list[str]:
    """Requested attributes the critic reads too poorly: R2 <= 0 or below floor x the mirror ceiling.
    Raises a one-line error unless `allow`; returns the weak ones either way."""
    weak = []
    for name in requested:
        row = report["attributes"][name]
        ceiling = row["mirror_r2"] if np.isfinite(row["mirror_r2"]) else 0.0
        if not row["r2"] > 0 or row["r2"] < floor * ceiling:
            weak.append(f"{name} (R2 {row['r2']:.2f} vs mirror ceiling {row['mirror_r2']:.2f})")
    if weak and not allow:
        raise blind_critic(report, weak, floor)
    return weak


def blind_critic(report: dict[str, Any], weak: list[str], floor: float) -> ValueError:
    return ValueError(f"the critic is blind to {', '.join(weak)}: below the floor of {floor:g} x ceiling on "
                      f"{report['rows']} held-out faces; use --critic ported, or --allow-weak-critic to train anyway")


def fidelity_table(report: dict[str, Any]) -> str:
    rows = "".join(f"  {n:<9} R2 {r['r2']:+.3f}   mirror ceiling {r['mirror_r2']:+.3f}\n" for n, r in report["attributes"].items())
    return f"critic fidelity on {report['rows']} held-out faces (dataset labels as truth):\n{rows}"
