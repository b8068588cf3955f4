"""`python -m pipeline photos`: photos -> faces found and aligned -> inverted -> edited -> pasted back -> one Parquet row per
face, the edited photos and their sheets in WebDataset tars, the manifest last; sharded by photo and resumable."""

from __future__ import annotations

import dataclasses
import functools
import json
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from models.inversion.config import InvertConfig
from pipeline import names
from pipeline.budget import check_cpu_budget
from pipeline.manifest import PHOTOS_FORMAT
from pipeline.overwrite import clear_earlier
from pipeline.photos.config import PhotosConfig, PhotoSettings
from pipeline.photos.report import face_rows, report_lines, summarize
from pipeline.photos.sheet import photo_sheet
from pipeline.photos.source import PhotoFiles, list_photos
from pipeline.ray_env import init_ray, off_driver
from pipeline.runinfo import now, run_header
from pipeline.sharded_job import committed, earlier_output, run_to_end, shard_tasks
from pipeline.shards import fixed_list, table_bytes, tar_members
from pipeline.storage import Store, absolute
from stages.chain import Chain
from stages.faces import OK, FindFaces, decode_photos
from stages.invert import InvertFaces
from stages.photo_edit import EditPhotos
from stages.photo_read import FORMATS

DROPPED = ("data", "photo", "aligned", "recon", "edit", "tuned", "edited")  # in-memory columns: pixels, tensors, bytes


@dataclass(frozen=True)
class PhotoPlan:
    """What the mapper (or the flags, without one) decides, read once in the driver: every stage is built from it."""

    mapper: str | None
    generator: str | None
    labelers: tuple[str, ...]
    latent_shape: tuple[int, ...] | None
    framing: Any  # the generator's Framing
    resolution: int
    generator_id: str
    attributes: tuple[str, ...]
    latents: dict[tuple[str, int], Any] | None = None  # --invert encoder: {(photo name, face): latent}


def plan_photos(cfg: PhotoSettings) -> PhotoPlan:
    """Open the mapper's export and its generator once: bad input fails here, before any photo is read."""
    from models.editors.mapper import load_mapper
    from models.open import labeler_class, open_generator
    from pipeline.made_with import export_trained

    doc = load_mapper(cfg.mapper)[1] if cfg.mapper else {}
    if doc:
        from pipeline.edit.refine import check_refinable

        unknown = sorted(set(cfg.changes()) - set(doc["architecture"]["attributes"]))
        if unknown:
            raise ValueError(f"unknown attribute {unknown[0]!r} for this mapper (it edits: {', '.join(doc['architecture']['attributes'])})")
        if cfg.refine.steps:
            check_refinable(doc, cfg.refine.views)
    made = export_trained(doc).made if doc else None  # what the mapper's dataset was rendered and labelled with
    generator = made.generator if made else cfg.generator
    labelers = made.labelers if made else cfg.labelers
    gen = open_generator(generator)
    if not gen.framing.alignment:
        raise ValueError(f"{gen.name} does not say where it draws a face (its framing has no alignment): photos cannot be aligned to it")
    latent_shape = tuple(doc["architecture"]["latent_shape"]) if doc else None
    latents = None
    if cfg.invert == "encoder":
        from pipeline.photos.latents import read_latents
        from stages.invert import latent_size

        latents = read_latents(cfg.latents, latent_size(gen, latent_shape, cfg.project.space))
    return PhotoPlan(cfg.mapper, generator, labelers, latent_shape, gen.framing, gen.resolution, gen.generator_id,
                     tuple(a for n in labelers for a in labeler_class(n).attributes), latents)


def photo_stages(cfg: PhotoSettings, plan: PhotoPlan) -> list[tuple[Any, dict[str, Any]]]:
    """The per-photo steps in order, (stage, its keyword arguments): the job's actors and edit-photo run the same chain."""
    refiner = None
    if cfg.refine.steps and plan.mapper:
        from pipeline.edit.refine import open_refiner

        refiner = functools.partial(open_refiner, plan.mapper, cfg.refine, plan.generator)
    invert = InvertConfig(cfg.invert, cfg.project, cfg.tune)
    return [(decode_photos, dict(limits=cfg.limits)),
            (FindFaces, dict(framing=plan.framing, resolution=plan.resolution, cfg=cfg.find)),
            (InvertFaces, dict(generator=plan.generator, cfg=invert, labelers=plan.labelers, latent_shape=plan.latent_shape,
                               latents=plan.latents)),
            (EditPhotos, dict(generator=plan.generator, mapper=plan.mapper, changes=cfg.changes(), paste=cfg.paste, find=cfg.find,
                              labelers=plan.labelers, open_refiner=refiner, quality=cfg.quality))]


@dataclass(frozen=True)
class PhotoLayout:
    """Shard i holds photos [i*size, (i+1)*size) of the sorted list; its rows are their faces (a photo without one: a row)."""

    size: int
    count: int  # photos

    def indices(self) -> range:
        return range(-(-self.count // self.size))

    def bounds(self, index: int) -> tuple[int, int]:
        return index * self.size, min((index + 1) * self.size, self.count)

    def expected(self, index: int) -> int:
        lo, hi = self.bounds(index)
        return hi - lo

    def units(self, rows: dict[str, np.ndarray]) -> int:
        return len(np.unique(rows["photo_id"])) if rows else 0


def face_lines(rows: dict[str, np.ndarray], i: int, attributes: tuple[str, ...], changes: dict[str, float]) -> list[str]:
    """What the sheet prints under a face: the inversion's figures, then each asked attribute photo -> render -> pasted."""
    lines = [f"reconstruction: PSNR {rows['psnr'][i]:.1f} dB, SFace {rows['sface'][i]:.3f}",
             f"  dlib distance {rows['dlib'][i]:.2f} (< 0.6: same person)",
             f"output photo vs original: SFace {rows['photo_sface'][i]:.3f},",
             f"  dlib {rows['photo_dlib'][i]:.2f}, seam {rows['seam'][i]:.1f} grey levels"]
    for a in (changes or {}):
        if a in attributes:
            lines += [f"{a} {changes[a]:+g}: photo {rows[f'photo_{a}'][i]:.2f}, reconstruction {rows[a][i]:.2f},",
                      f"  edit {rows[f'edit_{a}'][i]:.2f}; output photo {rows[f'pasted_{a}'][i]:.2f} (unedited {rows[f'base_{a}'][i]:.2f})"]
    return lines


def photo_files(rows: dict[str, np.ndarray], index: int, attributes: tuple[str, ...], changes: dict[str, float]) -> dict[str, bytes]:
    """Parquet: one row per face (pixels, tensors and bytes left out); tar: per photo its edited photo, sheet and record."""
    cols = {}
    for k, v in rows.items():
        if k in DROPPED:
            continue
        v = np.asarray(v)
        cols[k] = fixed_list(v, int(np.prod(v.shape[1:]))) if v.ndim > 1 else pa.array(v.tolist() if v.dtype == object else v)
    members = []
    for i in np.nonzero(np.asarray([e is not None for e in rows["edited"]]))[0]:
        members += _photo_members(rows, i, attributes, changes)
    for i in np.nonzero(rows["status"] != OK)[0]:
        if rows["face"][i] < 0:
            members.append((f"{int(rows['photo_id'][i]):012d}.json", json.dumps(_record(rows, [i])).encode()))
    return {"parquet": table_bytes(pa.table(cols)), "wds": tar_members(sorted(members))}


def _photo_members(rows: dict[str, np.ndarray], first: int, attributes: tuple[str, ...], changes: dict[str, float]) -> list[tuple[str, bytes]]:
    pid = rows["photo_id"][first]
    faces = [i for i in range(len(rows["photo_id"])) if rows["photo_id"][i] == pid]
    key, fmt = f"{int(pid):012d}", str(rows["format"][first])
    from stages.photo_read import decode_photo

    edited = decode_photo(rows["edited"][first])[0]
    shown = [dict(aligned=rows["aligned"][i], recon=rows["recon"][i], edit=rows["edit"][i], lines=face_lines(rows, i, attributes, changes))
             for i in faces if rows["status"][i] == OK]
    sheet = photo_sheet(rows["photo"][first], edited, shown, f"{rows['name'][first]}: {json.dumps(changes) if changes else 'reconstruction'}")
    return [(f"{key}.edited.{fmt}", rows["edited"][first]), (f"{key}.sheet.png", sheet), (f"{key}.json", json.dumps(_record(rows, faces)).encode())]


def _record(rows: dict[str, np.ndarray], faces: list[int]) -> dict[str, Any]:
    first = faces[0]
    return {"name": str(rows["name"][first]), "photo_id": int(rows["photo_id"][first]),
            "faces": [{"face": int(rows["face"][i]), "status": str(rows["status"][i]), "message": str(rows["message"][i])} for i in faces]}


def describe(cfg: PhotosConfig) -> tuple[PhotoPlan, list[tuple[str, str]]]:
    return plan_photos(cfg), list_photos(cfg.photos)


def for_workers(cfg: PhotosConfig) -> PhotosConfig:
    """Local paths absolute: Ray's workers run in other directories."""
    mapper = absolute(cfg.mapper) if cfg.mapper else None
    return dataclasses.replace(cfg, mapper=mapper, generator=absolute(cfg.generator), out=absolute(cfg.out))


def build_manifest(cfg: PhotosConfig, plan: PhotoPlan, entries: list[tuple[str, str]], shards: list[dict]) -> dict[str, Any]:
    from pipeline.config import to_jsonable

    return {"format": PHOTOS_FORMAT, "created": now(), "config": to_jsonable(cfg), "config_hash": cfg.identity_hash(),
            "num_rows": sum(s["rows"] for s in shards), "photos": len(entries), "names": [n for n, _ in entries],
            "latent_shape": list(plan.latent_shape or ()), "attributes": list(plan.attributes), "generator_id": plan.generator_id,
            "framing": dataclasses.asdict(plan.framing), "invert": cfg.invert, "paste": cfg.paste.mode, "changes": cfg.changes(),
            "shards": sorted(shards, key=lambda s: s["index"])}


def run_photos(cfg: PhotosConfig) -> dict[str, Any]:
    """Edit every photo at cfg.photos into cfg.out (or finish an earlier run of the same config); returns the manifest."""
    store = Store(cfg.out)
    store.check_writable()
    different = lambda old: f"{cfg.out} holds photos edited with a different config; pass --overwrite or another --out"  # noqa: E731
    finished = earlier_output(store, cfg.overwrite, cfg.identity_hash(), different, "photos")
    workers = for_workers(cfg)
    plan, entries = off_driver(describe, workers, address=cfg.ray_address, log_dir=cfg.out)
    listed = [n for n, _ in entries]
    if not cfg.overwrite and store.exists(names.CONFIG) and store.read_json(names.CONFIG).get("names", listed) != listed:
        # shards are by position in the sorted list: another list would resume into the wrong photos' shards
        raise ValueError(f"{cfg.out} holds photos edited from another list of photos (added, removed or renamed since); "
                         "pass --overwrite or another --out")
    if finished is not None:
        print(f"photos already edited: {finished['photos']} photos, {finished['num_rows']} face rows, manifest {store.path(names.MANIFEST)}")
        return finished
    removed = clear_earlier(store, "photos") if cfg.overwrite else 0  # only now: every input checked out
    store.write_json(names.CONFIG, run_header("photos", cfg, config_hash=cfg.identity_hash(), generator_id=plan.generator_id,
                                              names=listed))
    layout = PhotoLayout(cfg.shard_size, len(entries))
    done = committed(store, layout)
    todo = [i for i in layout.indices() if i not in done]
    store.append_text(names.LOG, f"{time.strftime('%F %T')} start: {len(entries)} photos, {len(todo)} shards to write"
                                 + (f" (--overwrite removed {removed} files)" if removed else ""))
    if todo:
        init_ray(cfg.ray_address, cfg.out, cfg.object_store_memory)
        check_cpu_budget([cfg.pool], cfg.ray_address, plain_tasks=False)
    encode = functools.partial(photo_files, attributes=plan.attributes, changes=cfg.changes())
    source = PhotoFiles(tuple(entries))
    t0 = time.time()
    run_to_end(lambda shards: shard_tasks(shards, cfg.pool, workers.out, layout, encode, source, Chain, parts=photo_stages(workers, plan)),
               layout, done, "photos")
    manifest = build_manifest(cfg, plan, entries, list(done.values()))
    store.write_json(names.MANIFEST, manifest)
    summary = write_report(store, manifest, cfg)
    line = (f"edited {len(entries)} photos ({manifest['num_rows']} face rows) in {time.time() - t0:.0f} s; "
            f"manifest {store.path(names.MANIFEST)}")
    store.append_text(names.LOG, f"{time.strftime('%F %T')} {line}")
    print(line)
    print("\n".join(report_lines(summary)))
    return manifest


def write_report(store: Store, manifest: dict[str, Any], cfg: PhotosConfig) -> dict[str, Any]:
    """report.json: every edited face's figures and the summary against the targets."""
    import pyarrow.parquet as pq

    paths, fs = store.readable([s["files"]["parquet"]["path"] for s in manifest["shards"]])
    table = pa.concat_tables([pq.read_table(p, filesystem=fs) for p in paths])
    rows = {c: table.column(c).to_numpy(zero_copy_only=False) for c in table.column_names}
    faces = face_rows(rows, cfg.changes())
    summary = summarize(faces, cfg.invert, cfg.paste.mode, cfg.changes())
    store.write_json(names.REPORT, {"summary": summary, "faces": faces})
    return summary


__all__ = ["FORMATS", "PhotoLayout", "PhotoPlan", "photo_stages", "plan_photos", "run_photos"]
