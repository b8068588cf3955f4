"""The photos job against a bare single-process loop of the same chain, settings and photos."""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
from pathlib import Path
from typing import Any

import torch

from models.inversion.config import ProjectConfig
from pipeline import names
from pipeline.bench.memory import PeakMemory
from pipeline.photos.config import PhotosConfig
from stages.chain import Chain

TEST_PHOTOS = Path(__file__).resolve().parents[2] / "tests" / "data" / "photos"  # the test photos (one a group), licences in SOURCES.md
CHANGE = ("smiling=+0.3",)  # the edit asked of a mapper (the suite's default export edits young, smiling, male)


def photo_folder(n: int, out: Path) -> Path:
    """n photos, the test photos copied in turn under numbered names: a fixed input that does not depend on the machine."""
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    sources = sorted(p for p in TEST_PHOTOS.iterdir() if p.suffix in (".png", ".jpg"))
    for i in range(n):
        src = sources[i % len(sources)]
        shutil.copyfile(src, out / f"{i:03d}-{src.name}")
    return out


def photos_config(folder: Path, out: Path, mapper: str | None, project: ProjectConfig) -> PhotosConfig:
    """The job's defaults but for the projection (`project`, small so a run takes minutes) and the edit asked."""
    return PhotosConfig(photos=(str(folder),), out=str(out), mapper=mapper, delta=CHANGE if mapper else (), project=project,
                        invert="optimize", overwrite=True)


def bare_loop(cfg: PhotosConfig) -> dict[str, float]:
    """Photos/s of the job's per-photo chain over its photos, `cfg.pool.batch_size` at a time in this process (all cores to
    torch); the models' loading (the projector's start pool rendered) and the shard encoding are timed apart, not in it."""
    from pipeline.photos.job import photo_files, photo_stages, plan_photos
    from pipeline.photos.source import PhotoFiles, list_photos

    plan = plan_photos(cfg)
    source = PhotoFiles(tuple(list_photos(cfg.photos)))
    t0 = time.perf_counter()
    steps = Chain(photo_stages(cfg, plan))
    t1 = time.perf_counter()
    n, bs, parts = len(source.entries), cfg.pool.batch_size, []
    for lo in range(0, n, bs):
        parts.append(steps(source.rows(lo, min(lo + bs, n))))
    t2 = time.perf_counter()
    for i, rows in enumerate(parts):
        photo_files(rows, i, plan.attributes, cfg.changes())
    t3 = time.perf_counter()
    ok = [p["seconds"][p["status"] == "ok"] for p in parts]
    return {"photos_per_s": n / (t2 - t1), "chain_s": t2 - t1, "load_s": t1 - t0, "encode_s": t3 - t2,
            "faces": float(sum(len(p["photo_id"]) for p in parts)), "invert_s": float(sum(x.sum() for x in ok))}


def job_run(cfg: PhotosConfig) -> dict[str, float]:
    """One photos job on its own fresh local Ray: Ray's start-up timed apart, the job from its first read to its manifest
    (its report included), as on a cluster where Ray is already up; peak memory covers both."""
    import ray

    from pipeline.bench.ray_up import start_ray
    from pipeline.photos.job import run_photos

    shutil.rmtree(cfg.out, ignore_errors=True)
    ray.shutdown()
    with PeakMemory() as mem:
        up = start_ray(Path(cfg.out).parent)
        t1 = time.perf_counter()
        manifest = run_photos(cfg)
        wall = time.perf_counter() - t1
        ray.shutdown()
    # the inversion's own seconds, as the stage measured them in the actor (report.json: one entry per inverted face)
    invert = sum(f["seconds"] for f in json.loads((Path(cfg.out) / names.REPORT).read_text())["faces"])
    return {"photos_per_s": manifest["photos"] / wall, "wall_s": wall, "faces": float(manifest["num_rows"]), "invert_s": invert,
            **up, "peak_rss_gib": mem.peak_bytes / 2**30, "peak_pss_gib": mem.peak_pss_bytes / 2**30}


def fixed_and_rate(job: dict[str, float], half: dict[str, float], n: int, bare: dict[str, float]) -> dict[str, float]:
    """The job's wall time as fixed + photos / rate, from its runs on n and n // 2 photos; the rate against the bare loop's."""
    rate = (n - n // 2) / (job["wall_s"] - half["wall_s"])
    return {"job_fixed_s": job["wall_s"] - n / rate, "job_rate_photos_per_s": rate, "ratio_job_rate_vs_bare": rate / bare["photos_per_s"]}


def bench_photos(mapper: str | None, n: int, project: ProjectConfig, out: str = "runs/bench/photos") -> dict[str, Any]:
    """Job photos/s (actor start-up, model loading and shard writing included, Ray's start-up apart) vs the bare loop, on
    the same n photos and settings; without a mapper both only invert and paste the reconstruction back."""
    torch.set_num_threads(2)
    folder, half = photo_folder(n, Path(out) / "in"), photo_folder(n // 2, Path(out) / "in-half")
    cfg = photos_config(folder, Path(out) / "job", mapper, project)
    bare = bare_loop(cfg)
    job = job_run(cfg)
    small = job_run(dataclasses.replace(cfg, photos=(str(half),), out=str(Path(out) / "job-half")))
    shutil.rmtree(folder)
    shutil.rmtree(half)
    return {"photos": n, "mapper": mapper, "changes": cfg.changes(), "project": {"steps": project.steps, "pool": project.pool},
            "pool": {"actors": cfg.pool.actors, "num_cpus": cfg.pool.num_cpus, "batch_size": cfg.pool.batch_size},
            "shard_size": cfg.shard_size, "bare_loop": bare, "job": job, "job_half": small,
            "ratio_job_vs_bare": job["photos_per_s"] / bare["photos_per_s"], **fixed_and_rate(job, small, n, bare),
            "note": "job wall time: the driver's plan (mapper and generator opened), actor start-up and its models' loading, the "
                    "chain, shard encoding and writing, manifest and report, on a Ray started before it with Ray Data's helper "
                    "actors up (ray_start_s, ray_data_start_s: pipeline/bench/ray_up.py); the bare loop's photos/s is the chain "
                    "alone on 2 torch threads, its load_s and encode_s measured apart; job_half: the same on the first n/2 photos, "
                    "which splits the job's wall time into a fixed cost (Ray workers, models, the projector's start pool) and a rate; "
                    "invert_s: the inversion's own seconds, on the actor's torch threads (Ray gives it floor(num_cpus)) in the job"
                    + ("" if mapper else "; no mapper under runs/: faces only inverted and pasted back")}
