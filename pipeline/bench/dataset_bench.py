"""The dataset job against a bare single-process loop of the same models, batch size and cores."""

from __future__ import annotations

import dataclasses
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pipeline.bench.memory import PeakMemory
from pipeline.config import DatasetConfig
from stages.chain import Chain


def bare_loop(cfg: DatasetConfig, n: int) -> float:
    """Rows/s of the job's per-row steps called one after another in this process (all cores to torch)."""
    from models.open import open_generator
    from pipeline.dataset.job import row_stages

    steps = Chain(row_stages(cfg, open_generator(cfg.generator).framing))
    bs = cfg.pool.batch_size
    t0 = time.perf_counter()
    for lo in range(0, n, bs):
        steps({"seed": np.arange(lo, min(lo + bs, n), dtype=np.int64)})
    return n / (time.perf_counter() - t0)


def pipeline_run(cfg: DatasetConfig) -> dict[str, float]:
    """One dataset job on its own local Ray (one kept from the previous size would carry that run's workers into
    this one's memory): Ray's start-up is timed apart, the job from its first read to its manifest, as on a
    cluster where Ray is already up; peak memory covers both."""
    import ray

    from pipeline.bench.ray_up import start_ray
    from pipeline.dataset.job import run_dataset

    shutil.rmtree(cfg.out, ignore_errors=True)
    ray.shutdown()
    with PeakMemory() as mem:
        up = start_ray(Path(cfg.out).parent)
        t1 = time.perf_counter()
        run_dataset(cfg)
        wall = time.perf_counter() - t1
        ray.shutdown()
    return {"rows_per_s": cfg.num_samples / wall, "wall_s": wall, **up,
            "peak_rss_gib": mem.peak_bytes / 2**30, "peak_pss_gib": mem.peak_pss_bytes / 2**30}


def bench_dataset(n: int = 1024, out: str = "runs/bench/dataset") -> dict[str, Any]:
    """Job rows/s (actor start-up and shard writing included, Ray's start-up apart) vs the bare loop, for the default
    one pool and for a pool per stage, at N and 10N rows; peak memory at N and 10N."""
    torch.set_num_threads(2)
    cfg = DatasetConfig(out=str(Path(out) / "n"), num_samples=n, overwrite=True)
    bare = bare_loop(cfg, n)
    runs = {}
    for name, kw in (("", {}), ("per_stage_", {"one_pool": False})):
        for size, rows in (("n", n), ("10n", 10 * n)):
            runs[name + size] = pipeline_run(dataclasses.replace(cfg, out=str(Path(out) / (name + size)), num_samples=rows, **kw))
    return {"rows": {"n": n, "10n": 10 * n}, "bare_loop_rows_per_s": bare, **{f"pipeline_{k}": v for k, v in runs.items()},
            **{f"ratio_{k}_vs_bare": v["rows_per_s"] / bare for k, v in runs.items()},
            "peak_memory_ratio_10n_vs_n": runs["10n"]["peak_rss_gib"] / runs["n"]["peak_rss_gib"],
            "peak_pss_ratio_10n_vs_n": runs["10n"]["peak_pss_gib"] / runs["n"]["peak_pss_gib"],
            "note": "job wall time: actor start-up, every stage and shard writing up to the manifest, on a Ray started before it "
                    "with Ray Data's helper actors up (ray_start_s, ray_data_start_s: pipeline/bench/ray_up.py); the bare loop writes "
                    "nothing; the default: one pool of 2 actors, each holding every model and writing its shards; per_stage: "
                    "--no-one-pool, a pool per model stage and one writer"}
