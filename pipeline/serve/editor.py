"""The editor's models, loaded once per export, and the three things a page asks of them: a face, an edit of it
(mapper + render + PNG: what a slider waits for; with the refine control, critic steps after the mapper) and the real
labelers' readings of that edit (pipeline/eval/judge.py)."""

from __future__ import annotations

import io
import math
import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from PIL import Image

from models.attributes import attribute
from models.editors.mapper import Mapper, load_mapper, request
from models.generators.interface import broadcast_ws
from models.open import embedder_title
from pipeline.edit.refine import Refiner
from pipeline.eval.judge import Judge, Reading
from pipeline.made_with import MadeWith, TrainedWith, export_trained
from pipeline.serve.catalog import Export, NotListed, find_exports, held_out_rows
from pipeline.serve.config import ServeConfig
from pipeline.serve.faces import latent_bound, parse_source, parse_upload
from pipeline.serve.refine import check_steps, refiner_on, with_steps
from stages.latents import seed_z
from stages.render import to_uint8

EDITS_CACHED = 16  # edited latents kept: the image and the readings that follow it ask for the same edit


class LRU(OrderedDict):
    """A dict that forgets its least recently used entries beyond `size`: caches stay bounded."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def put(self, key: Any, value: Any) -> Any:
        self[key] = value
        self.move_to_end(key)
        while len(self) > self.size:
            self.popitem(last=False)
        return value

    def get_recent(self, key: Any) -> Any:
        if key in self:
            self.move_to_end(key)
        return self.get(key)


@dataclass
class Loaded:
    export: Export
    mapper: Mapper
    doc: dict[str, Any]
    trained: TrainedWith  # what the export was made and trained with (pipeline/made_with.py)
    judge: Judge
    bound: float  # the largest |value| an uploaded latent may hold (faces.latent_bound of the judge's generator)
    refiner: Refiner | None = None  # the critic steps on the judge's generator, opened at the first refined edit

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.mapper.cfg.latent_shape)


@dataclass
class Face:
    w: torch.Tensor  # (1, *latent_shape)
    reading: Reading  # the original as the judge sees it
    a: torch.Tensor  # (1, k) the mapper's input: view-averaged readings of its attributes


class Editor:
    """Thread-safe: one lock around the models (2 cores gain nothing from running them at once)."""

    def __init__(self, cfg: ServeConfig) -> None:
        self.cfg = cfg
        self._loaded: dict[str, Loaded] = {}
        self._judges: dict[MadeWith, tuple[Judge, float]] = {}
        self._faces = LRU(cfg.faces_cached)
        self._uploads = LRU(cfg.uploads_kept)
        self._edits = LRU(EDITS_CACHED)
        self._rows: dict[tuple[str, int], tuple[np.ndarray, np.ndarray]] = {}
        self._lock = threading.RLock()
        if cfg.mapper:  # a named export must load: a typo is a one-line error before the server starts
            self.load(next(iter(self.exports())))

    def exports(self) -> dict[str, Export]:
        found = find_exports(self.cfg.runs, self.cfg.mapper)
        if not found:
            raise FileNotFoundError(f"no mapper export under {self.cfg.runs}/*/export: run `make train` first or pass --mapper")
        return found

    def load(self, export_id: str) -> Loaded:
        # models built outside inference mode whichever route asks first: weights made in it cannot take the critic steps
        with self._lock, torch.inference_mode(False):
            if export_id not in self._loaded:
                export = self.exports().get(export_id)
                if export is None:
                    raise NotListed(f"no mapper export {export_id!r} under {self.cfg.runs}")
                mapper, doc = load_mapper(export.path)
                trained = export_trained(doc, f"mapper export {export.path}")
                if trained.made not in self._judges:  # exports of one dataset share one judge
                    judge = Judge(trained.made, dlib=False)
                    self._judges[trained.made] = judge, latent_bound(judge.gen)
                judge, bound = self._judges[trained.made]
                self._loaded[export_id] = Loaded(export, mapper, doc, trained, judge, bound)
            return self._loaded[export_id]

    def dataset_of(self, m: Loaded) -> str:
        ds = self.cfg.dataset or m.export.dataset
        if not ds:
            raise ValueError(f"mapper {m.export.id} names no dataset; pass --dataset")
        return ds

    def rows(self, m: Loaded) -> tuple[np.ndarray, np.ndarray]:
        """(seeds, latents) of the rows the export's training held out, offered as faces."""
        key = (self.dataset_of(m), m.trained.holdout_every)
        with self._lock:
            if key not in self._rows:
                self._rows[key] = held_out_rows(*key, self.cfg.rows_listed)
            return self._rows[key]

    def upload(self, export_id: str, data: bytes) -> str:
        m = self.load(export_id)
        w = parse_upload(data, m.shape, self.cfg.max_upload_bytes, m.bound)
        token = secrets.token_hex(8)
        with self._lock:
            self._uploads.put(token, w)
        return f"upload:{token}"

    def latent(self, m: Loaded, source: str) -> torch.Tensor:
        kind, value = parse_source(source)
        if kind == "seed":
            z = torch.from_numpy(seed_z(np.array([int(value)]), m.judge.gen.z_dim))
            w = m.judge.gen.mapping(z, m.trained.made.psi)
            return broadcast_ws(w, *m.shape) if len(m.shape) == 2 else w
        if kind == "row":
            seeds, ws = self.rows(m)
            hit = np.nonzero(seeds == int(value))[0]
            if not len(hit):
                raise ValueError(f"row {value} is not among the {len(seeds)} held-out rows offered")
            return torch.from_numpy(ws[hit[0]].reshape(1, *m.shape))
        w = self._uploads.get_recent(value)
        if w is None:
            raise ValueError("that upload is no longer kept by the server; upload the file again")
        if tuple(w.shape) != m.shape:
            raise ValueError(f"the uploaded latent has shape {w.shape}; this mapper edits {m.shape}")
        return torch.from_numpy(w).unsqueeze(0)

    @torch.inference_mode()
    def face(self, export_id: str, source: str) -> Face:
        m = self.load(export_id)
        with self._lock:
            face = self._faces.get_recent((export_id, source))
            if face is None:
                w = self.latent(m, source)
                reading = m.judge.read(w)
                face = self._faces.put((export_id, source), Face(w, reading, m.judge.attrs(reading, m.mapper.cfg.attributes)))
            return face

    def changes(self, m: Loaded, changes: dict[str, float]) -> torch.Tensor:
        for name, v in changes.items():
            if not math.isfinite(v) or (name in m.mapper.cfg.attributes and abs(v) > _span(name)):
                raise ValueError(f"change {name}={v} is outside +-{_span(name):g} (the attribute's range)")
        return request(m.mapper, 1, changes)

    def edited(self, export_id: str, source: str, changes: dict[str, float], refine: int = 0) -> tuple[Loaded, Face, torch.Tensor]:
        """The edited latent (1, *shape): one mapper pass, then `refine` critic steps (0..--refine.steps). The last few
        are kept, so the readings that follow an image do not take the steps again."""
        m, face = self.load(export_id), self.face(export_id, source)
        d = self.changes(m, changes)
        check_steps(refine, self.cfg.refine.steps)
        key = (export_id, source, tuple(sorted(changes.items())), refine if changes else 0)
        with self._lock:
            w1 = self._edits.get_recent(key)
            if w1 is None:
                with torch.inference_mode():
                    w1 = m.mapper(face.w, face.a, d)
                if key[-1]:  # gradient steps: outside inference mode, on normal copies of its tensors
                    w1 = with_steps(self.refiner(m), refine)(face.w.clone(), w1.clone(), d.clone()).detach()
                w1 = self._edits.put(key, w1)
            return m, face, w1

    def refiner(self, m: Loaded) -> Refiner:
        with self._lock, torch.inference_mode(False):
            if m.refiner is None:
                m.refiner = refiner_on(m.doc, self.cfg.refine, m.judge.gen)
            return m.refiner

    @torch.inference_mode()
    def edit(self, export_id: str, source: str, changes: dict[str, float], refine: int = 0) -> tuple[torch.Tensor, np.ndarray]:
        """The edited latent (1, *shape) and its image (H, W, 3) uint8: one mapper pass (and the critic steps) and one render."""
        with torch.inference_mode(False):
            m, _, w1 = self.edited(export_id, source, changes, refine)
        with self._lock:
            return w1, to_uint8(m.judge.gen.synthesis(w1))[0]

    @torch.inference_mode()
    def readings(self, export_id: str, source: str, changes: dict[str, float], refine: int = 0) -> dict[str, Any]:
        """The real labelers over views, before and after, and under the judge's random resamplings; identity cosine
        (the dataset's embedder) and latent distance. The judge renders the edit itself, so the image the slider has is not rendered again."""
        with torch.inference_mode(False):
            m, face, w1 = self.edited(export_id, source, changes, refine)
        with self._lock:
            after = m.judge.read(w1)
            if face.reading.robust is None:
                face.reading.robust = m.judge.label_resampled(face.reading.images)
            robust = m.judge.label_resampled(after.images)  # what a resampled copy (scaling, JPEG...) of the edit reads
        names = list(face.reading.labels)
        return {"before": {n: float(face.reading.labels[n][0]) for n in names},
                "after": {n: float(after.labels[n][0]) for n in names},
                "robust": {"before": {n: float(face.reading.robust[n][0]) for n in names},
                           "after": {n: float(robust[n][0]) for n in names}},
                "identity_cos": float(np.sum(face.reading.identity[0] * after.identity[0])),
                "identity_embedder": embedder_title(m.trained.made.embedder),
                "latent_dist": float((w1 - face.w).norm()), "views": list(m.judge.views.names)}

    def sweep(self, export_id: str, source: str, name: str, changes: dict[str, float]) -> tuple[np.ndarray, list[float]]:
        """One attribute from -strength to +strength of its range (the other changes held): a strip of images, one mapper
        pass each (a strip of refined edits would cost the critic steps seven times)."""
        m = self.load(export_id)
        if name not in m.mapper.cfg.attributes:
            raise ValueError(f"unknown attribute {name!r} for this mapper (it edits: {', '.join(m.mapper.cfg.attributes)})")
        s = self.cfg.sweep_strength * _span(name)
        steps = [float(v) for v in np.linspace(-s, s, self.cfg.sweep_steps)]
        images = [self.edit(export_id, source, {**changes, name: v})[1] for v in steps]
        return np.concatenate(images, axis=1), steps


def _span(name: str) -> float:
    return attribute(name).high - attribute(name).low


def png(pixels: np.ndarray) -> bytes:
    """Fast lossless PNG (compression level 1: a 64x64 face encodes in well under a millisecond)."""
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()
