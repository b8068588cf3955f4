"""`python -m pipeline dataset`: seeds -> latents -> images -> labels -> identity -> Parquet + WebDataset shards."""

from __future__ import annotations

import dataclasses
import functools
import time
from typing import Any

import ray

from models.open import ARCFACE, open_embedder, open_generator, open_labeler
from pipeline import names
from pipeline.budget import check_cpu_budget
from pipeline.config import DatasetConfig, StageResources, to_jsonable
from pipeline.made_with import KEY, MadeWith, catalog_aliases, catalog_units
from pipeline.manifest import build_manifest
from pipeline.overwrite import clear_earlier
from pipeline.ray_env import init_ray, object_store_report, off_driver, store_line
from pipeline.runinfo import run_header
from pipeline.sharded_job import (
    actor_stage,
    committed,
    earlier_output,
    run_to_end,
    shard_tasks,
    task_stage,
    write_shards,
)
from pipeline.shards import ShardPlan, ShardSchema, dataset_shard_files
from pipeline.storage import Store, absolute
from stages.chain import Chain
from stages.encode import encode_images
from stages.identity import EmbedIdentity
from stages.label import LabelAttributes
from stages.latents import SampleLatents
from stages.render import Render
from stages.seeds import SeedRows, expand_seed_ranges


def for_workers(cfg: DatasetConfig) -> DatasetConfig:
    """The config as Ray's workers get it: local paths absolute (they run in other directories)."""
    embedder = ARCFACE + absolute(cfg.embedder[len(ARCFACE):]) if cfg.embedder.startswith(ARCFACE) else cfg.embedder
    return dataclasses.replace(cfg, generator=absolute(cfg.generator), out=absolute(cfg.out), embedder=embedder)


def row_stages(cfg: DatasetConfig, framing: Any) -> list[tuple[Any, dict[str, Any]]]:
    """The per-row steps in order, (stage class or function, its keyword arguments): the job's and the bench's bare loop's."""
    return [(SampleLatents, dict(generator=cfg.generator, psi=cfg.psi, latent_space=cfg.latent_space)),
            (Render, dict(generator=cfg.generator, noise_mode=cfg.noise_mode)),
            (LabelAttributes, dict(labelers=cfg.labelers, framing=framing)), (EmbedIdentity, dict(embedder=cfg.embedder, framing=framing)),
            (encode_images, dict(fmt=cfg.image_format, quality=cfg.jpeg_quality))]


def stage_pools(cfg: DatasetConfig) -> list[StageResources]:
    """The actor pools the model stages run in: one for all (the default), else one per model stage."""
    return [cfg.pool] if cfg.one_pool else [cfg.render, cfg.render, cfg.label, cfg.embed]


def build_dataset(cfg: DatasetConfig, shards: list[int], schema: ShardSchema, framing: Any) -> ray.data.Dataset:
    """The whole chain, lazy (`cfg` as for_workers gives it): one row per written shard comes out (of the shard tasks, or
    of the writer that ends the per-stage pools)."""
    plan = ShardPlan(cfg.seed_start, cfg.num_samples, cfg.shard_size)
    files = functools.partial(dataset_shard_files, schema=schema)
    if cfg.one_pool:  # each actor holds every model and writes the shards it makes: no writer actor, no read task
        return shard_tasks(shards, cfg.pool, cfg.out, plan, files, SeedRows(), Chain, parts=row_stages(cfg, framing))
    items = [dict(zip(("seed_lo", "seed_hi"), plan.seeds(i))) for i in shards]
    ds = ray.data.from_items(items, override_num_blocks=max(1, len(items)))
    ds = task_stage(ds, expand_seed_ranges, tasks=1)
    *models, (encode, encode_kwargs) = row_stages(cfg, framing)
    for (stage, kwargs), res in zip(models, stage_pools(cfg)):
        ds = actor_stage(ds, stage, res, **kwargs)
    ds = task_stage(ds, encode, tasks=cfg.embed.actors, batch_size=cfg.label.batch_size, num_cpus=0.25, **encode_kwargs)
    return write_shards(ds, cfg.out, plan, files)


def describe(cfg: DatasetConfig) -> tuple[ShardSchema, dict[str, Any], Any]:
    """Open every network once in the driver: fails fast on bad input, and yields the ids to record."""
    gen = open_generator(cfg.generator)
    labelers = [open_labeler(n, gen.framing) for n in cfg.labelers]
    embedder = open_embedder(cfg.embedder, gen.framing)
    latent_shape = (gen.num_ws, gen.w_dim) if cfg.latent_space == "wplus" else (gen.w_dim,)
    attrs = tuple(a for lab in labelers for a in lab.attributes)
    schema = ShardSchema(attrs, gen.z_dim, latent_shape, embedder.dim, gen.generator_id, cfg.image_format)
    ids = {"generator_id": gen.generator_id, "generator_resolution": gen.resolution, "num_ws": gen.num_ws,
           "labeler_ids": {n: lab.labeler_id for n, lab in zip(cfg.labelers, labelers)},
           "embedder_id": embedder.embedder_id, "framing": dataclasses.asdict(gen.framing),
           KEY: to_jsonable(made_with(cfg, embedder.embedder_id, attrs).as_json())}
    return schema, ids, gen.framing


def made_with(cfg: DatasetConfig, embedder_id: str, attrs: tuple[str, ...]) -> MadeWith:
    """What every later job reads of how the rows were made (`cfg` as for_workers gives it: paths that reopen anywhere)."""
    return MadeWith(generator=cfg.generator, noise_mode=cfg.noise_mode, psi=cfg.psi, labelers=cfg.labelers, embedder=cfg.embedder,
                    embedder_id=embedder_id, units=catalog_units(attrs), aliases=catalog_aliases(attrs))


def finished_dataset(cfg: DatasetConfig, store: Store) -> dict[str, Any] | None:
    """The manifest if the same dataset is already complete (None if it is to be written, finished or grown); a
    one-line error if a different one, or a larger one, is there."""
    def different(old: dict[str, Any]) -> str:
        diff = {k: (old["config"].get(k), v) for k, v in cfg.identity().items() if old["config"].get(k) != _plain(v)}
        return f"{cfg.out} holds a dataset written with a different config {diff}; pass --overwrite or another --out"

    manifest = earlier_output(store, cfg.overwrite, cfg.identity_hash(), different, "dataset")
    if manifest is None:
        return None
    if manifest["num_rows"] > cfg.num_samples:
        raise ValueError(f"{cfg.out} already holds {manifest['num_rows']} rows, more than --num-samples {cfg.num_samples}; pass --overwrite to shrink it")
    return manifest if manifest["num_rows"] == cfg.num_samples else None


def _plain(v: Any) -> Any:
    return list(v) if isinstance(v, tuple) else v


def run_dataset(cfg: DatasetConfig) -> dict[str, Any]:
    """Write (or finish, or grow) the dataset at cfg.out; returns the manifest."""
    store = Store(cfg.out)
    store.check_writable()
    finished = finished_dataset(cfg, store)
    if finished is not None:
        print(f"dataset already complete: {finished['num_rows']} rows, manifest {store.path(names.MANIFEST)}")
        return finished
    workers = for_workers(cfg)
    schema, ids, framing = off_driver(describe, workers, address=cfg.ray_address, log_dir=cfg.out)
    removed = clear_earlier(store, "dataset") if cfg.overwrite else 0  # only now: every input checked out
    store.write_json(names.CONFIG, run_header("dataset", cfg, config_hash=cfg.identity_hash(), **ids))
    plan = ShardPlan(cfg.seed_start, cfg.num_samples, cfg.shard_size)
    done = committed(store, plan)
    todo = [i for i in plan.indices() if i not in done]
    cleared = f" (--overwrite removed {removed} files of an earlier dataset)" if removed else ""
    store.append_text(names.LOG, f"{time.strftime('%F %T')} start: {len(todo)} of {plan.count} shards to write{cleared}")
    t0 = time.time()
    if todo:
        init_ray(cfg.ray_address, cfg.out, cfg.object_store_memory)
        check_cpu_budget(stage_pools(cfg), cfg.ray_address, plain_tasks=not cfg.one_pool)
    written = run_to_end(lambda shards: build_dataset(workers, shards, schema, framing), plan, done, "dataset")
    manifest = build_manifest(cfg, schema, ids, list(done.values()))
    store.write_json(names.MANIFEST, manifest)
    rate = written / max(time.time() - t0, 1e-9)
    line = f"wrote {written} rows ({len(todo)} shards) at {rate:.1f} rows/s; {manifest['num_rows']} rows in all; manifest {store.path(names.MANIFEST)}"
    store_report = store_line(object_store_report()) if todo else "no Ray run"  # read once: log and console agree
    store.append_text(names.LOG, f"{time.strftime('%F %T')} {line}; {store_report}")
    print(line)
    if todo:
        print(store_report)
    return manifest
