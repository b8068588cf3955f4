"""Batch editing: the Ray Data edit job (mapper only, Parquet -> Parquet) vs a bare MLP forward loop."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch

from models.mapper import load_mapper
from pipeline.config import StageResources
from pipeline.edit_config import EditConfig

BATCH = 4096


def latents_file(mapper_dir: str, n: int, path: Path) -> Path:
    """n random latents with a label column per mapper attribute: Parquet input the job reads as is."""
    mapper, _ = load_mapper(mapper_dir)
    size = mapper.cfg.latent_size
    g = np.random.default_rng(0)
    cols = {"id": pa.array(np.arange(n)),
            "w": pa.FixedSizeListArray.from_arrays(pa.array(g.standard_normal(n * size, dtype=np.float32)), size)}
    cols.update({a: pa.array(g.random(n, dtype=np.float32)) for a in mapper.cfg.attributes})
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(cols), path)
    return path


def bare_mapper_loop(mapper_dir: str, n: int, batch: int) -> float:
    mapper, _ = load_mapper(mapper_dir)
    k = len(mapper.cfg.attributes)
    w, a, d = torch.randn(n, *mapper.cfg.latent_shape), torch.rand(n, k), torch.full((n, k), 0.1)
    t0 = time.perf_counter()
    with torch.inference_mode():
        for lo in range(0, n, batch):
            mapper(w[lo:lo + batch], a[lo:lo + batch], d[lo:lo + batch]).numpy()
    return n / (time.perf_counter() - t0)


def _job(cfg: EditConfig) -> float:
    from pipeline.edit import run_edit

    shutil.rmtree(cfg.out, ignore_errors=True)
    t0 = time.perf_counter()
    m = run_edit(cfg)
    return m["num_rows"] / (time.perf_counter() - t0)


def bench_edit(mapper_dir: str, dataset: str, n: int = 1_000_000, out: str = "runs/bench/edit") -> dict[str, Any]:
    src = latents_file(mapper_dir, n, Path(out) / "latents.parquet")
    fast = StageResources(actors=2, num_cpus=0.5, batch_size=BATCH)
    mapper_only = _job(EditConfig(mapper=mapper_dir, latents=str(src), delta=("young=0.2",), out=f"{out}/mapper_only",
                                  render=False, relabel=False, webdataset=False, shard_size=65536, mapper_stage=fast))
    rendered = _job(EditConfig(mapper=mapper_dir, dataset=dataset, delta=("young=0.2",), out=f"{out}/with_rendering",
                               relabel=False, max_rows=2048))
    bare = bare_mapper_loop(mapper_dir, n, BATCH)
    return {"latents": n, "batch": BATCH, "bare_mlp_latents_per_s": bare, "job_mapper_only_latents_per_s": mapper_only,
            "ratio_job_vs_bare_mapper_only": mapper_only / bare, "job_with_rendering_latents_per_s": rendered,
            "note": "job rates are end to end: Ray start-up, reading Parquet, the mapper actors, writing Parquet + manifest"}
