"""The dataset job's model stages on a CUDA GPU: StyleGAN2 with random weights in rosinality's file layout at
config-F widths (256 and 1024 px), images/s per stage in a bare loop on the same GPU against the whole job."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from models.generators.stylegan2_ckpt import save_rosinality
from pipeline.bench.dataset_bench import pipeline_run
from pipeline.bench.synthesis import bench_generator
from pipeline.config import DatasetConfig, StageResources
from stages.identity import EmbedIdentity
from stages.label import LabelAttributes
from stages.latents import SampleLatents
from stages.render import Render

NO_GPU = "no CUDA device here: nothing measured; the dataset and edit suites' CPU ratios stand"


def stage_rates(cfg: DatasetConfig, rows: int) -> dict[str, float]:
    """Images/s of each model stage alone, called in a loop in this process on cuda:0 (after one warm-up batch)."""
    from models.open import open_generator

    framing = open_generator(cfg.generator).framing
    stages = {"sample": SampleLatents(cfg.generator, cfg.psi, cfg.latent_space, "cuda"),
              "render": Render(cfg.generator, cfg.noise_mode, "cuda"),
              "label": LabelAttributes(cfg.labelers, framing, "cuda"), "embed": EmbedIdentity(cfg.embedder, framing, "cuda")}
    bs, rates = cfg.render.batch_size, {}
    batches = [{"seed": np.arange(lo, min(lo + bs, rows), dtype=np.int64)} for lo in range(0, rows, bs)]
    for name, stage in stages.items():
        stage(batches[0])  # warm-up: kernels, allocator
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        batches = [stage(b) for b in batches]
        torch.cuda.synchronize()
        rates[name] = rows / (time.perf_counter() - t0)
    rates["chain"] = 1.0 / sum(1.0 / r for r in rates.values())  # the stages one after another
    return rates


def bench_gpu(rows: int = 1024, resolutions: tuple[int, ...] = (256, 1024), out: str = "runs/bench/gpu") -> dict[str, Any]:
    if not torch.cuda.is_available():
        return {"available": False, "reason": NO_GPU}
    report: dict[str, Any] = {"available": True, "gpu": torch.cuda.get_device_name(0), "rows": rows, "resolutions": {}}
    for res in resolutions:
        ckpt = save_rosinality(bench_generator(res, 1.0), Path(out) / f"stylegan2-config-f-{res}.pt")
        quarter = StageResources(actors=1, num_cpus=1.0, num_gpus=0.25, batch_size=16)  # four pools share the GPU
        cfg = DatasetConfig(generator=str(ckpt), out=str(Path(out) / f"ds-{res}"), num_samples=rows, shard_size=256,
                            image_format="none", overwrite=True, one_pool=False, render=quarter, label=quarter, embed=quarter)
        bare = stage_rates(cfg, rows)
        job = pipeline_run(cfg)
        report["resolutions"][str(res)] = {"bare_images_per_s": bare, "job": job,
                                           "ratio_job_vs_bare_chain": job["rows_per_s"] / bare["chain"]}
    report["note"] = "image_format none: the model stages, not PNG encoding on the CPU; job rates include Ray's start-up"
    return report
