"""Batch editing: the Ray Data edit job (mapper only, Parquet -> Parquet) vs a bare MLP forward loop."""

from __future__ import annotations

import shutil
import time
from typing import Any

import numpy as np
import torch

from models.mapper import load_mapper
from pipeline.edit_config import EditConfig


def bare_mapper_loop(mapper_dir: str, n: int, batch: int) -> float:
    mapper, _ = load_mapper(mapper_dir)
    k = len(mapper.cfg.attributes)
    w = torch.randn(n, *mapper.cfg.latent_shape)
    a, d = torch.rand(n, k), torch.full((n, k), 0.1)
    t0 = time.perf_counter()
    with torch.inference_mode():
        for lo in range(0, n, batch):
            mapper(w[lo:lo + batch], a[lo:lo + batch], d[lo:lo + batch]).numpy()
    return n / (time.perf_counter() - t0)


def bench_edit(mapper_dir: str, dataset: str, out: str = "runs/bench/edit") -> dict[str, Any]:
    from pipeline.edit import run_edit

    rates = {}
    for name, render in (("mapper_only", False), ("with_rendering", True)):
        shutil.rmtree(f"{out}/{name}", ignore_errors=True)
        cfg = EditConfig(mapper=mapper_dir, dataset=dataset, delta=("young=0.2",), out=f"{out}/{name}", render=render,
                         relabel=False, overwrite=True)
        t0 = time.perf_counter()
        m = run_edit(cfg)
        rates[name] = m["num_rows"] / (time.perf_counter() - t0)
    bare = bare_mapper_loop(mapper_dir, int(m["num_rows"]), EditConfig(mapper="x", latents="x").mapper_stage.batch_size)
    return {"bare_mlp_latents_per_s": bare, "job_mapper_only_latents_per_s": rates["mapper_only"],
            "job_with_rendering_latents_per_s": rates["with_rendering"],
            "ratio_job_vs_bare_mapper_only": rates["mapper_only"] / bare,
            "note": "job times include Ray start-up, reading the dataset and writing shards + manifest"}


_ = np
