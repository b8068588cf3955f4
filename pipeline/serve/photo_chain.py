"""The photos chain (pipeline/photos/job.py photo_stages) for one mapper export, its models loaded once: the faces found
while the upload waits, the inversion in the background with its steps reported, EditPhotos per slider move."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pipeline.edit.refine import Refiner
from pipeline.edit.refine_config import RefineConfig
from pipeline.photos.config import PhotoSettings
from pipeline.photos.job import photo_stages, plan_photos
from pipeline.serve.config import PhotoEditorConfig
from pipeline.serve.refine import refiner_on, with_steps
from stages.faces import OK, FindFaces, decode_photos, photo_batch
from stages.invert import InvertFaces
from stages.photo_edit import EditPhotos
from stages.photo_read import PhotoError

Report = Callable[[str, int, int], None]  # (stage, step, steps)


class NoFace(ValueError):
    """A photo in which no face can be edited: the message says why (no face found, too small, a profile)."""


@dataclass
class Progress:
    """Where a photo's inversion is, written by the worker thread and read by the progress route."""

    stage: str = "queued"  # queued | loading models | projecting | tuning face i/n | reading | done | failed
    step: int = 0
    steps: int = 0
    started: float = field(default_factory=time.perf_counter)
    error: str | None = None

    def report(self, stage: str, step: int, steps: int) -> None:
        self.stage, self.step, self.steps = stage, step, steps

    def describe(self) -> dict[str, Any]:
        return {"stage": self.stage, "step": self.step, "steps": self.steps, "seconds": round(time.perf_counter() - self.started, 1),
                "done": self.stage == "done", "error": self.error}


class PhotoChain:
    """One export's photo models: FindFaces opened at once (an upload waits on it), the inversion and the edit when first
    needed. `find` and `edit` may be called from any thread; `invert` from one worker thread at a time."""

    def __init__(self, export_path: str, doc: dict[str, Any], cfg: PhotoEditorConfig, refine: RefineConfig) -> None:
        settings = PhotoSettings(mapper=export_path, invert=cfg.invert, project=cfg.project, tune=cfg.tune, paste=cfg.paste,
                                 find=cfg.find, limits=cfg.limits, quality=cfg.quality)
        self.plan = plan_photos(settings)
        steps = photo_stages(settings, self.plan)
        assert [s for s, _ in steps] == [decode_photos, FindFaces, InvertFaces, EditPhotos], steps  # the chain this file follows
        self.limits = cfg.limits
        self._find = FindFaces(**steps[1][1])
        self._invert_args, self._edit_args = steps[2][1], steps[3][1]
        self.doc, self.refine_cfg = doc, refine
        self._inverter: InvertFaces | None = None
        self._editor: EditPhotos | None = None
        self._refiner: Refiner | None = None
        self.lock = threading.RLock()  # YuNet's input size and EditPhotos' changes are state: one caller at a time

    @property
    def attributes(self) -> tuple[str, ...]:
        return self.plan.attributes

    def find(self, data: bytes, name: str) -> dict[str, np.ndarray]:
        """Photo bytes -> face rows (decoded and aligned); a PhotoError for a file that is no photo, NoFace for one
        without a face to edit."""
        batch = photo_batch([data], [name])
        rows = decode_photos(batch, self.limits)
        if rows["status"][0] != OK:
            raise PhotoError(str(rows["status"][0]), str(rows["message"][0]))
        with self.lock:
            rows = self._find(rows)
        if not (rows["status"] == OK).any():
            raise NoFace("; ".join(sorted({str(m) for m in rows["message"] if m})) or "no face to edit")
        return rows

    def invert(self, rows: dict[str, np.ndarray], report: Report) -> dict[str, np.ndarray]:
        """Face rows -> the same with latents, reconstructions, tuned weights and readings (stages/invert.py)."""
        if self._inverter is None:
            report("loading models", 0, 0)
            self._inverter = InvertFaces(**self._invert_args)
        self._inverter.report = report
        try:
            return self._inverter(rows)
        finally:
            self._inverter.report = lambda stage, step, steps: None

    def edit(self, rows: dict[str, np.ndarray], changes: dict[str, float], refine: int) -> dict[str, np.ndarray]:
        """Inverted rows -> the edited photo (on the first row's `edited`) and each face's readings (stages/photo_edit.py),
        with `refine` critic steps after the mapper (0: its one pass)."""
        with self.lock:
            if self._editor is None:
                self._editor = EditPhotos(**self._edit_args)
            stage = self._editor
            stage.changes = changes  # the stage is built once per export; each call asks for its own change
            stage.refiner = with_steps(self.refiner(stage), refine) if refine else None
            return stage(rows)

    def refiner(self, stage: EditPhotos) -> Refiner:
        """The export's critic on the edit's generator (EditPhotos points it at each face's tuned generator in turn)."""
        if self._refiner is None:
            self._refiner = refiner_on(self.doc, self.refine_cfg, stage.gen)
        return self._refiner

