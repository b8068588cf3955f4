"""`python -m pipeline edit-photo me.jpg --mapper M --delta smiling=+0.3`: one photo, one call, no Ray: the photos job's
chain of stages on one photo, with a line per step, the edited photo written beside it in its own format and size."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

from pipeline.photos.config import EditPhotoConfig
from pipeline.photos.job import face_lines, photo_stages, plan_photos
from pipeline.photos.sheet import photo_sheet
from pipeline.photos.source import read_photo
from pipeline.storage import Store
from stages.faces import OK, photo_batch


def default_out(photo: str) -> str:
    stem, ext = os.path.splitext(os.path.basename(photo.split("?", 1)[0]))
    return f"{stem}-edited{ext or '.png'}"


def edit_photo(cfg: EditPhotoConfig) -> Path:
    import torch

    torch.set_num_threads(max(1, os.cpu_count() or 1))
    data = read_photo(cfg.photo)
    if data is None:
        raise FileNotFoundError(f"no photo at {cfg.photo}")
    t0 = time.perf_counter()
    plan = plan_photos(cfg)
    steps = photo_stages(cfg, plan)
    batch = photo_batch([data], [os.path.basename(cfg.photo)])
    print(f"models loaded in {time.perf_counter() - t0:.1f} s ({plan.generator_id}, {cfg.invert})", flush=True)
    for stage, kwargs in steps:
        t = time.perf_counter()
        part = stage(**kwargs, device="cpu") if isinstance(stage, type) else None
        batch = part(batch) if part is not None else stage(batch, **kwargs)
        print(f"{_step_name(stage)}: {_step_line(batch)} ({time.perf_counter() - t:.1f} s)", flush=True)
    ok = np.nonzero(batch["status"] == OK)[0]
    if not len(ok):
        raise ValueError(f"{cfg.photo}: {'; '.join(sorted(set(str(m) for m in batch['message'] if m))) or 'no face to edit'}")
    out = cfg.out or default_out(cfg.photo)
    _write(out, batch["edited"][0])
    if cfg.sheet:
        from stages.photo_read import decode_photo

        faces = [dict(aligned=batch["aligned"][i], recon=batch["recon"][i], edit=batch["edit"][i],
                      lines=face_lines(batch, i, plan.attributes, cfg.changes())) for i in ok]
        sheet = photo_sheet(batch["photo"][0], decode_photo(batch["edited"][0])[0], faces, f"{os.path.basename(cfg.photo)}: {cfg.changes()}")
        _write(os.path.splitext(out)[0] + ".sheet.png", sheet)
    for i in ok:
        print(f"face {batch['face'][i]}: " + " ".join(line.strip() for line in face_lines(batch, i, plan.attributes, cfg.changes())))
    for i in np.nonzero(batch["status"] != OK)[0]:
        print(f"face {batch['face'][i]} not edited ({batch['status'][i]}): {batch['message'][i]}")
    print(f"wrote {out} in {time.perf_counter() - t0:.1f} s")
    return Path(out)


def _write(path: str, data: bytes) -> None:
    """Atomically, at a local path or a URI."""
    parent, name = (path.rsplit("/", 1) if "/" in path else (".", path))
    Store(parent).write_atomic(name, data)


def _step_name(stage) -> str:
    return getattr(stage, "__name__", type(stage).__name__)


def _step_line(batch: dict) -> str:
    ok = int(np.sum(batch["status"] == OK))
    return f"{ok} face{'s' if ok != 1 else ''} ok" + (f", {len(batch['status']) - ok} not" if len(batch["status"]) > ok else "")
