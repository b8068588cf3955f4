"""`python -m pipeline edit`: a mapper over many latents as one Ray Data job, written as shards + manifest."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import ray

from models.editors.mapper import load_mapper
from models.open import labeler_class, open_generator
from models.weights import fetch, sha256_file
from pipeline import names
from pipeline.budget import check_cpu_budget
from pipeline.config import to_jsonable
from pipeline.edit.config import EditConfig, for_mapper, variants
from pipeline.latent_io import load_latents, nonfinite_rows, parquet_layout
from pipeline.made_with import KEY, MadeWith, TrainedWith, dataset_made, export_trained
from pipeline.manifest import EDITS_FORMAT, read_manifest
from pipeline.overwrite import clear_earlier
from pipeline.ray_env import init_ray, object_store_report, off_driver, one_machine, store_line
from pipeline.runinfo import run_header
from pipeline.sharded_job import (
    actor_stage,
    committed,
    earlier_output,
    run_to_end,
    shard_items,
    shard_tasks,
    task_stage,
    write_shards,
)
from pipeline.shards import EditLayout, edit_shard_files
from pipeline.storage import Store, absolute
from stages.edit import ApplyMapper, RefineEdits, identity_cosine, rename_labels
from stages.edit_source import DatasetRows, ParquetRows, StoredRows, shard_rows
from stages.encode import encode_images
from stages.identity import EmbedIdentity
from stages.label import LabelAttributes
from stages.render import Render
from stages.seeds import held_out

FORMAT = EDITS_FORMAT
READ_CHUNK = 1024  # input rows per block when stages follow the read (a shard can be larger)


def dataset_source(cfg: EditConfig, doc: dict[str, Any], attrs: tuple[str, ...], facts: Callable[[], tuple[str, Any]]
                   ) -> tuple[DatasetRows, np.ndarray, bool]:
    """Rows of a dataset, read by the workers from its shards: id = seed, position = seed - start; labels and
    identity come along."""
    m = read_manifest(cfg.dataset)
    if m["generator_id"] != doc["generator_id"]:
        raise ValueError(f"mapper was trained for generator {doc['generator_id']} but dataset {cfg.dataset} comes from {m['generator_id']}")
    if list(m["latent_shape"]) != list(doc["architecture"]["latent_shape"]):
        raise ValueError(f"mapper expects latents of shape {doc['architecture']['latent_shape']} but the dataset has {m['latent_shape']}")
    missing = [a for a in attrs if a not in m["attributes"]]
    if missing:
        raise ValueError(f"dataset {cfg.dataset} lacks the mapper's attributes {missing}")
    start, stop = m["seeds"]
    positions = np.arange(stop - start, dtype=np.int64)
    if cfg.held_out_only:  # cfg as for_mapper gives it: the export's rule
        positions = positions[held_out(positions + start, cfg.holdout_every)]
    positions = positions[: cfg.max_rows] if cfg.max_rows else positions
    shards = sorted(m["shards"], key=lambda s: s["index"])
    paths, fs = Store(cfg.dataset).readable([s["files"]["parquet"]["path"] for s in shards])
    files = tuple((p, s["seeds"][0] - start, s["seeds"][1] - start) for p, s in zip(paths, shards))
    source = DatasetRows(files, fs, start, attrs, tuple(m["latent_shape"]), cfg.holdout_every if cfg.held_out_only else None,
                         int(positions[-1]) + 1 if len(positions) else 0)
    if opens_generator(cfg, labeled=True):
        facts()
    init_ray(cfg.ray_address, cfg.out, cfg.object_store_memory)  # only once the request checked out
    return source, positions, True


def file_source(cfg: EditConfig, doc: dict[str, Any], facts: Callable[[], tuple[str, Any]]
                ) -> tuple[ParquetRows | StoredRows, np.ndarray, bool]:
    """Latents a user brings; labels come along when the file has a column per mapper attribute. A Parquet file that
    every worker can open (Ray runs on this machine alone), in row groups no larger than a shard, is read by the
    workers, row groups by shard; any other file is read by the driver (it need not be visible to the workers) and
    put in the object store."""
    shape, attrs = tuple(doc["architecture"]["latent_shape"]), tuple(doc["architecture"]["attributes"])
    layout = parquet_layout(cfg.latents) if Path(cfg.latents).suffix == ".parquet" and Path(cfg.latents).is_file() else None
    # variable lists and empty files: the driver's checks. A row group is read whole: with groups larger than a shard
    # every shard would decode its whole group (W+ shards of 2 048 rows from one 50 000-row group: 358 rows/s here)
    if layout is None or layout.size is None or layout.rows == 0 or layout.largest_group > cfg.shard_size:
        return driver_source(cfg, doc, facts)
    if layout.size != int(np.prod(shape)):
        raise ValueError(f"latents in {cfg.latents} have shape {(layout.size,)} per row but the mapper expects {shape}")
    refuse_nonfinite(cfg.latents, *nonfinite_rows(cfg.latents))
    labeled = all(a in layout.labels for a in attrs)
    check_latents_generator(cfg, doc, labeled, facts)
    init_ray(cfg.ray_address, cfg.out, cfg.object_store_memory)  # only once the request checked out
    if not one_machine():
        return driver_source(cfg, doc, facts)
    n = min(layout.rows, cfg.max_rows or layout.rows)
    source = ParquetRows(str(Path(cfg.latents).resolve()), layout.starts, shape, attrs if labeled else (), layout.ids, n)
    return source, np.arange(n, dtype=np.int64), labeled


def driver_source(cfg: EditConfig, doc: dict[str, Any], facts: Callable[[], tuple[str, Any]]) -> tuple[StoredRows, np.ndarray, bool]:
    """The driver reads the whole file, checks every latent (NaN, Inf) and puts the columns in the object store."""
    ids, lat, extra = load_latents(cfg.latents)
    shape = tuple(doc["architecture"]["latent_shape"])
    if lat.ndim == 2 and len(shape) == 2 and lat.shape[1] == int(np.prod(shape)):  # Parquet holds W+ rows flat
        lat = lat.reshape(len(lat), *shape)
    if tuple(lat.shape[1:]) != shape:
        raise ValueError(f"latents in {cfg.latents} have shape {tuple(lat.shape[1:])} per row but the mapper expects {shape}")
    bad = np.nonzero(~np.isfinite(lat.reshape(len(lat), -1)).all(axis=1))[0]
    refuse_nonfinite(cfg.latents, len(bad), bad[:10].tolist())
    attrs = tuple(doc["architecture"]["attributes"])
    labeled = all(a in extra for a in attrs)
    check_latents_generator(cfg, doc, labeled, facts)
    n = min(len(lat), cfg.max_rows or len(lat))
    cols = {"id": ids[:n], "w": lat[:n], **({f"src_{a}": extra[a][:n].astype(np.float32) for a in attrs} if labeled else {})}
    init_ray(cfg.ray_address, cfg.out, cfg.object_store_memory)  # only once the request checked out
    return StoredRows(ray.put(cols)), np.arange(n, dtype=np.int64), labeled  # one copy in the object store, sliced zero-copy


def refuse_nonfinite(path: str, count: int, rows: list[int]) -> None:
    """One message for NaN or Inf latents, whether the driver read the file or scanned it for the workers."""
    if count:
        raise ValueError(f"{count} latents in {path} contain NaN or Inf (rows {rows})")


def check_latents_generator(cfg: EditConfig, doc: dict[str, Any], labeled: bool, facts: Callable[[], tuple[str, Any]]) -> None:
    """A job that opens the generator checks it is the one the mapper was trained for."""
    if opens_generator(cfg, labeled) and facts()[0] != doc["generator_id"]:
        raise ValueError(f"mapper was trained for generator {doc['generator_id']} but the latents' generator is {facts()[0]}")


def build_edit(cfg: EditConfig, todo: list[int], source: DatasetRows | ParquetRows | StoredRows, labeled: bool, made: MadeWith,
               framing: Any, layout: EditLayout, meta: dict[str, Any]) -> ray.data.Dataset:
    """`made`: what the job renders, labels and embeds with (edit_made)."""
    encode = functools.partial(edit_shard_files, meta=meta)
    render = dict(generator=made.generator, noise_mode=made.noise_mode)
    label, embed = dict(labelers=made.labelers, framing=framing), dict(embedder=made.embedder, framing=framing)
    mapper = dict(mapper_dir=absolute(cfg.mapper), variants=meta["variants"])
    if mapper_only(cfg, labeled):  # each actor reads, maps and writes whole shards
        return shard_tasks(todo, cfg.mapper_stage, absolute(cfg.out), layout, encode, source, ApplyMapper, **mapper)
    ds = task_stage(shard_items(todo), shard_rows, cfg.mapper_stage.actors, batch_size=1, source=source, size=cfg.shard_size,
                    chunk=READ_CHUNK)
    if not labeled:  # imported latents: the mapper needs the originals' current attributes
        ds = actor_stage(ds, Render, cfg.render_stage, **render)
        ds = actor_stage(ds, LabelAttributes, cfg.label_stage, **label)
        ds = actor_stage(ds, EmbedIdentity, cfg.label_stage, **embed)
        ds = task_stage(ds, rename_labels, cfg.label_stage.actors, attributes=tuple(meta["all_attributes"]))
    elif embeds_originals(cfg, labeled):  # labels came with the latents, their identity did not
        ds = actor_stage(ds, Render, cfg.render_stage, **render)
        ds = actor_stage(ds, EmbedIdentity, cfg.label_stage, **embed)
        ds = task_stage(ds, rename_labels, cfg.label_stage.actors, attributes=())
    ds = actor_stage(ds, ApplyMapper, cfg.mapper_stage, **mapper, keep_source=cfg.refine.steps > 0)
    if cfg.refine.steps:  # the refiner opens its critic on the actor, on the device the stage's resources give
        from pipeline.edit.refine import open_refiner

        refiner = functools.partial(open_refiner, absolute(cfg.mapper), cfg.refine, made.generator)
        ds = actor_stage(ds, RefineEdits, cfg.refine_stage, open_refiner=refiner)
    if cfg.render:
        ds = actor_stage(ds, Render, cfg.render_stage, **render)
        if cfg.relabel:
            ds = actor_stage(ds, LabelAttributes, cfg.label_stage, **label)
            ds = actor_stage(ds, EmbedIdentity, cfg.label_stage, **embed)
            ds = task_stage(ds, identity_cosine, cfg.label_stage.actors)
        ds = task_stage(ds, encode_images, cfg.render_stage.actors, batch_size=64, num_cpus=0.25, fmt=cfg.image_format)
    return write_shards(ds, absolute(cfg.out), layout, encode)


def mapper_only(cfg: EditConfig, labeled: bool) -> bool:
    """Latents with their labels, edited and written without rendering or refining: the shard-task path."""
    return labeled and not cfg.render and not cfg.refine.steps


def embeds_originals(cfg: EditConfig, labeled: bool) -> bool:
    """Labeled latents from a file carry no identity embedding: the edit's identity cosine needs the original's."""
    return labeled and cfg.relabel and not cfg.dataset


def opens_generator(cfg: EditConfig, labeled: bool) -> bool:
    """Only a job that renders (the edits, or unlabeled originals to label them) or refines opens the generator:
    a mapper-only job on labeled latents never loads it."""
    return cfg.render or not labeled or cfg.refine.steps > 0


def generator_facts(generator: str | None) -> tuple[str, Any]:
    """The generator's id (checks imported latents) and framing (feeds the labelers): it is opened once for them."""
    gen = open_generator(generator)
    return gen.generator_id, gen.framing


def edit_made(cfg: EditConfig, trained: TrainedWith, generator: str | None) -> MadeWith:
    """What the job renders, labels and embeds with: the input's noise mode and identity embedder (a dataset's, whose
    identity column is the originals'; else the export's), the mapper's labelers, `generator` (the resolved one)."""
    made = dataset_made(read_manifest(cfg.dataset), f"dataset {cfg.dataset}") if cfg.dataset else trained.made
    return replace(made, generator=generator, labelers=trained.made.labelers)


def run_edit(cfg: EditConfig) -> dict[str, Any]:
    _, doc = load_mapper(cfg.mapper)
    trained = export_trained(doc, f"mapper export {cfg.mapper}")
    cfg = for_mapper(cfg, doc, trained)
    attrs = tuple(doc["architecture"]["attributes"])
    vs = variants(cfg)
    unknown = sorted({a for v in vs for a in v} - set(attrs))
    if unknown:
        raise ValueError(f"unknown attribute {unknown[0]!r} for this mapper (it edits: {', '.join(attrs)})")
    if cfg.refine.steps:
        from pipeline.edit.refine import check_refinable

        check_refinable(doc, cfg.refine.views)
    store = Store(cfg.out)
    store.check_writable()
    finished = earlier_output(store, cfg.overwrite, cfg.identity_hash(),
                              lambda _: f"{cfg.out} holds edits made with a different config; pass --overwrite or another --out", "edit")
    if finished is not None:
        print(f"edits already complete: {finished['num_rows']} rows, manifest {store.path(names.MANIFEST)}")
        return finished
    generator = absolute(cfg.generator if cfg.generator is not None else trained.made.generator)
    facts = functools.cache(lambda: off_driver(generator_facts, generator, address=cfg.ray_address, log_dir=cfg.out))
    made = edit_made(cfg, trained, generator)
    if cfg.dataset:
        source, positions, labeled = dataset_source(cfg, doc, attrs, facts)
    else:
        source, positions, labeled = file_source(cfg, doc, facts)
    framing = facts()[1] if opens_generator(cfg, labeled) else None
    all_attrs = tuple(a for name in made.labelers for a in labeler_class(name).attributes)  # class attributes: no weights loaded
    meta = {"mapper_id": f"mapper-{sha256_file(fetch(cfg.mapper) / 'mapper.safetensors')[:12]}", "variants": vs,
            "webdataset": cfg.webdataset,
            "image_format": cfg.image_format, "all_attributes": all_attrs}
    counts = np.bincount(positions // cfg.shard_size, minlength=int(positions.max() // cfg.shard_size + 1) if len(positions) else 0)
    layout = EditLayout(cfg.shard_size, tuple(int(c) for c in counts), len(vs))
    if cfg.overwrite:  # only now: the mapper, the latents and the generator checked out
        clear_earlier(store, "edit")
    store.write_json(names.CONFIG, run_header("edit", cfg, config_hash=cfg.identity_hash(), **{k: v for k, v in meta.items() if k != "all_attributes"}))
    done = committed(store, layout)
    todo = [i for i in layout.indices() if i not in done]
    t0 = time.time()
    pools = [cfg.mapper_stage] + ([cfg.refine_stage] if cfg.refine.steps else []) + ([cfg.render_stage, cfg.label_stage, cfg.label_stage] if not labeled else [])
    pools += [cfg.render_stage, cfg.label_stage] if embeds_originals(cfg, labeled) else []
    pools += ([cfg.render_stage] if cfg.render else []) + ([cfg.label_stage, cfg.label_stage] if cfg.relabel else [])
    check_cpu_budget(pools, cfg.ray_address, plain_tasks=not mapper_only(cfg, labeled))
    written = run_to_end(lambda todo: build_edit(cfg, todo, source, labeled, made, framing, layout, meta), layout, done, "edit")
    manifest = edit_manifest(cfg, doc, meta, store, list(done.values()), made)
    store.write_json(names.MANIFEST, manifest)
    print(f"edited {written} rows at {written / max(time.time() - t0, 1e-9):.1f} rows/s; {manifest['num_rows']} rows in all; manifest {store.path(names.MANIFEST)}")
    if todo:
        print(store_line(object_store_report()))
    return manifest


def edit_manifest(cfg: EditConfig, doc: dict[str, Any], meta: dict[str, Any], store: Store, shards: list[dict], made: MadeWith
                  ) -> dict[str, Any]:
    import io

    import pyarrow.parquet as pq

    shards = sorted(shards, key=lambda s: s["index"])
    schema = pq.read_schema(io.BytesIO(store.read_bytes(shards[0]["files"]["parquet"]["path"]))) if shards else pa.schema([])
    return {"format": FORMAT, "config": to_jsonable(cfg), "config_hash": cfg.identity_hash(),
            "mapper_id": meta["mapper_id"], "generator_id": doc["generator_id"], "variants": meta["variants"],
            KEY: to_jsonable(made.as_json()),
            "attributes": doc["architecture"]["attributes"], "latent_shape": doc["architecture"]["latent_shape"],
            "num_rows": sum(s["rows"] for s in shards), "schema": [{"name": f.name, "type": str(f.type)} for f in schema],
            "shards": shards}

