"""Trainer throughput: samples/s with 1 and 2 Ray Train workers, per objective, in one run."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from pipeline.train.config import TrainConfig


def _rate(run: Path) -> float:
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines() if "samples_per_s" in x]
    return float(rows[-1]["samples_per_s"])  # the last window: start-up is behind it


def bench_train(dataset: str, steps: int = 24, out: str = "runs/bench/train", objectives: tuple[str, ...] = ("latent", "image"),
                **overrides: Any) -> dict[str, Any]:
    """Samples/s with 1 and 2 workers for each objective; `overrides` are TrainConfig fields (a small dataset's
    held-out sizes, in the test)."""
    from pipeline.train.job import run_train

    result: dict[str, Any] = {}
    for objective in objectives:
        rates = {}
        for workers in (1, 2):
            run = Path(out) / f"{objective}-{workers}"
            shutil.rmtree(run, ignore_errors=True)
            # a speed figure: the latent surrogate is below the fidelity floor for the default attribute (young),
            # which refuses training unless allowed; the samples/s do not depend on what the critic reads
            run_train(TrainConfig(dataset=dataset, objective=objective, num_workers=workers, allow_weak_critic=True,
                                  steps=steps, checkpoint_every=steps // 2, out=str(run), **overrides))
            rates[workers] = _rate(run)
        result[objective] = {"samples_per_s_1_worker": rates[1], "samples_per_s_2_workers": rates[2],
                             "ratio_2_vs_1": rates[2] / rates[1]}
    return result
