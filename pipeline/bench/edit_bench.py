"""Batch editing: the Ray Data edit job (mapper only, Parquet -> Parquet) vs a bare MLP forward loop, for the
DCGAN's 100-d mapper and a StyleGAN2 W+ (18x512) mapper; and the job with rendering, for a trained export."""

from __future__ import annotations

import dataclasses
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch

from models.editors.mapper import Mapper, MapperConfig, load_mapper, save_mapper
from pipeline.config import StageResources
from pipeline.edit.config import EditConfig

BATCH = 4096
ATTRS = ("young", "smiling", "male")
SHAPES = {"dcgan_z100": (100,), "stylegan2_wplus_18x512": (18, 512)}  # name -> latent shape
# equal shards, 8 per actor (4 in the quarter-size job): 65 536-row shards left 1 M latents a 16 960-row last shard, and
# one actor ran a shard more than the other, ~1.3 s of the job's 18 s with the other core idle
SHARDS = 16
BUFFER = 16  # batches of latents the bare loop holds and cycles through: 1 M W+ latents would be 37 GB
SMALL = 4  # the second job edits 1/SMALL of the latents: two sizes split the job's fixed cost from its rate


def synthetic_export(shape: tuple[int, ...], out: Path) -> str:
    """A mapper of the default architecture with random weights: its speed does not depend on training."""
    torch.manual_seed(0)
    mapper = Mapper(MapperConfig(latent_shape=shape, attributes=ATTRS))
    torch.nn.init.normal_(mapper.net[-1].weight, std=1e-3)  # the trained last layer is not zero
    doc = {"generator_id": f"bench-{'x'.join(map(str, shape))}", "generator": None, "labelers": [],
           "note": "random weights, for throughput only: no generator is opened by a mapper-only job"}
    return str(save_mapper(mapper, out, doc))


def latents_file(mapper_dir: str, n: int, path: Path, group: int) -> Path:
    """n random latents with a label column per mapper attribute, in row groups of `group` rows (a shard's, as this
    project's shard writers write them): Parquet input the job's workers read where it lies."""
    mapper, _ = load_mapper(mapper_dir)
    size = mapper.cfg.latent_size
    g = np.random.default_rng(0)
    cols = {"id": pa.array(np.arange(n)),
            "w": pa.FixedSizeListArray.from_arrays(pa.array(g.standard_normal(n * size, dtype=np.float32)), size)}
    cols.update({a: pa.array(g.random(n, dtype=np.float32)) for a in mapper.cfg.attributes})
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(cols), path, row_group_size=group)
    return path


def bare_mapper_loop(mapper_dir: str, n: int, batch: int) -> float:
    """Latents/s of the mapper alone over n latents already in memory (BUFFER batches, cycled), all cores to torch."""
    mapper, _ = load_mapper(mapper_dir)
    k, held = len(mapper.cfg.attributes), min(n, BUFFER * batch)
    w, a, d = torch.randn(held, *mapper.cfg.latent_shape), torch.rand(held, k), torch.full((held, k), 0.1)
    t0 = time.perf_counter()
    with torch.inference_mode():
        for lo in range(0, n, batch):
            i, m = lo % held, min(batch, n - lo)
            mapper(w[i:i + m], a[i:i + m], d[i:i + m]).numpy()
    return n / (time.perf_counter() - t0)


def _job(cfg: EditConfig) -> tuple[int, float]:
    """(rows, seconds) of one edit job from its first read to its manifest, on the Ray already started."""
    from pipeline.edit.job import run_edit

    shutil.rmtree(cfg.out, ignore_errors=True)
    t0 = time.perf_counter()
    m = run_edit(cfg)
    return m["num_rows"], time.perf_counter() - t0


def mapper_only(name: str, n: int, out: Path) -> dict[str, Any]:
    shape, shard = SHAPES[name], -(-n // SHARDS)
    export = synthetic_export(shape, out / name / "export")
    src = latents_file(export, n, out / name / "latents.parquet", shard)
    fast = StageResources(actors=2, num_cpus=0.5, batch_size=BATCH)
    cfg = EditConfig(mapper=export, latents=str(src), delta=("young=0.2",), out=str(out / name / "edits"), render=False,
                     relabel=False, webdataset=False, shard_size=shard, mapper_stage=fast)
    rows, secs = _job(cfg)
    small, small_secs = _job(dataclasses.replace(cfg, max_rows=n // SMALL))
    marginal = (rows - small) / max(secs - small_secs, 1e-9)  # rows/s once started: the slope between the two sizes
    bare = bare_mapper_loop(export, n, BATCH)
    shutil.rmtree(out / name, ignore_errors=True)  # 50 000 W+ latents: 1.8 GB in and 1.8 GB out
    return {"latents": n, "bare_mlp_latents_per_s": bare, "job_latents_per_s": rows / secs, "ratio_job_vs_bare": rows / secs / bare,
            "job_fixed_s": secs - rows / marginal, "job_marginal_latents_per_s": marginal, "ratio_marginal_vs_bare": marginal / bare}


def bench_edit(mapper_dir: str | None, dataset: str, latents: dict[str, int], out: str = "runs/bench/edit") -> dict[str, Any]:
    """Mapper-only jobs on `latents[name]` latents of each shape in SHAPES; with a trained export, also the job that
    renders its edits."""
    import ray

    from pipeline.bench.ray_up import start_ray

    root, ours = Path(out), not ray.is_initialized()  # a Ray already up (a test session's) is used and left up
    up = start_ray(root)
    result: dict[str, Any] = {**up, "ray_start_s": up["ray_start_s"] if ours else None, "batch": BATCH}
    try:
        result.update({name: mapper_only(name, n, root) for name, n in latents.items()})
        if mapper_dir is not None:
            rows, secs = _job(EditConfig(mapper=mapper_dir, dataset=dataset, delta=("young=0.2",), out=str(root / "with_rendering"),
                                         relabel=False, max_rows=2048))
            result["job_with_rendering_latents_per_s"] = rows / secs
    finally:
        if ours:
            ray.shutdown()
    result["note"] = ("job rates from the first read to the manifest (the driver reading the latents file or its footer, the mapper "
                      "actors starting, reading, mapping and writing Parquet), on a Ray started before them with Ray Data's helper actors "
                      "up (ray_start_s, ray_data_start_s: pipeline/bench/ray_up.py); "
                      f"the bare loop reads and writes nothing; a second job on 1/{SMALL} of the latents splits the job's "
                      "time into a fixed part (job_fixed_s) and a marginal rate (the slope between the two sizes)")
    return result
