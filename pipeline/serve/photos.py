"""People's own photos in the editor: an upload's faces found at once, their inversion queued on one background thread
(2 cores gain nothing from two at a time) with its progress, edits of the held rows, the edited photo to download.
Photos live in memory only, the few most recent kept."""

from __future__ import annotations

import base64
import io
import queue
import re
import secrets
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image

from pipeline.serve.catalog import NotListed
from pipeline.serve.editor import LRU, Editor, png
from pipeline.serve.photo_chain import PhotoChain, Progress
from pipeline.serve.refine import check_steps
from stages.faces import OK

MEDIA = {"jpg": "image/jpeg", "png": "image/png", "webp": "image/webp"}
EDITS_KEPT = 4  # a photo's last edited photos: the download of what the page shows is not made again


class NotReady(RuntimeError):
    """An edit asked for before the photo's inversion finished."""


@dataclass
class Photo:
    """One upload: its face rows (found, then inverted), where the inversion is, and its last edits."""

    id: str
    export_id: str
    name: str  # a safe file stem for the download
    fmt: str
    rows: dict[str, np.ndarray]
    progress: Progress = field(default_factory=Progress)
    edits: LRU = field(default_factory=lambda: LRU(EDITS_KEPT))


class Photos:
    """The photos on the page: `upload` answers at once, `progress` says where the inversion is, `edit` and `download`
    work on the inverted rows."""

    def __init__(self, editor: Editor) -> None:
        self.editor, self.cfg = editor, editor.cfg.photo
        self._chains: dict[str, PhotoChain] = {}
        self._photos = LRU(self.cfg.kept)
        self._lock = threading.RLock()
        self._queue: queue.Queue[str] = queue.Queue()  # ids: a photo forgotten while it waits is freed at once
        threading.Thread(target=self._work, name="photo-inversion", daemon=True).start()  # daemon: Ctrl-C does not wait on it

    def chain(self, export_id: str) -> PhotoChain:
        m = self.editor.load(export_id)
        with self._lock:
            if export_id not in self._chains:
                self._chains[export_id] = PhotoChain(str(m.export.path), m.doc, self.cfg, self.editor.cfg.refine)
            return self._chains[export_id]

    def upload(self, export_id: str, data: bytes, filename: str = "") -> dict[str, Any]:
        """Decode, find the faces (one-line errors: not a photo, no face) and queue the inversion; the photo's id and preview."""
        chain = self.chain(export_id)
        rows = chain.find(data, filename)
        h, w = rows["photo"][0].shape[:2]
        photo = Photo(secrets.token_hex(8), export_id, safe_stem(filename), str(rows["format"][0]), rows)
        with self._lock:
            self._photos.put(photo.id, photo)
        self._queue.put(photo.id)
        ok = rows["status"] == OK
        return {"id": photo.id, "format": photo.fmt, "width": w, "height": h, "faces": int(ok.sum()),
                "skipped": [str(m) for m in rows["message"][~ok]], "image": preview(rows["photo"][0], self.cfg.preview)}

    def get(self, photo_id: str) -> Photo:
        with self._lock:
            photo = self._photos.get_recent(photo_id)
        if photo is None:
            raise NotListed(f"that photo is no longer kept (the server holds the {self.cfg.kept} most recent, --photo.kept); upload it again")
        return photo

    def progress(self, photo_id: str) -> dict[str, Any]:
        """Where the inversion is; once done, each face's crop, reconstruction and figures, and the sliders' start."""
        photo = self.get(photo_id)
        out = photo.progress.describe()
        if out["done"]:
            attrs = self.editor.load(photo.export_id).mapper.cfg.attributes
            faces = ok_faces(photo.rows)
            out["start"] = {a: float(photo.rows[a][faces[0]]) for a in attrs}  # the mapper's inputs: the reconstruction's readings
            out["faces"] = [inversion_json(photo.rows, i) for i in faces]
        return out

    def edit(self, photo_id: str, changes: dict[str, float], refine: int) -> dict[str, Any]:
        """The edited photo (a preview), each face's readings and the seconds the edit took."""
        photo = self.get(photo_id)
        out, seconds, steps = self._edited(photo, changes, refine)
        attrs = self.chain(photo.export_id).attributes
        return {"image": preview_bytes(out["edited"][0], self.cfg.preview), "seconds": round(seconds, 3), "refine": steps,
                "faces": [edit_json(out, i, attrs) for i in ok_faces(out)]}

    def download(self, photo_id: str, changes: dict[str, float], refine: int) -> tuple[bytes, str, str]:
        """(the edited photo in its own format and size, its media type, a file name)."""
        photo = self.get(photo_id)
        out, _, _ = self._edited(photo, changes, refine)
        return out["edited"][0], MEDIA[photo.fmt], f"{photo.name}-edited.{photo.fmt}"

    def _edited(self, photo: Photo, changes: dict[str, float], refine: int) -> tuple[dict[str, np.ndarray], float, int]:
        """(EditPhotos' rows, seconds, critic steps taken) of this edit: made once, then kept among the photo's last few."""
        check_ready(photo.progress)
        m = self.editor.load(photo.export_id)
        self.editor.changes(m, changes)  # out-of-range changes: one line, before any model runs
        check_steps(refine, self.editor.cfg.refine.steps)
        steps = refine if changes else 0  # no change: nothing to take steps towards
        key = (tuple(sorted(changes.items())), steps)
        with self._lock:
            hit = photo.edits.get_recent(key)
        if hit is None:
            t0 = time.perf_counter()
            out = self.chain(photo.export_id).edit(photo.rows, changes, steps)
            with self._lock:
                hit = photo.edits.put(key, (out, time.perf_counter() - t0))
        return hit[0], hit[1], steps

    def _work(self) -> None:
        while True:
            photo_id = self._queue.get()
            with self._lock:
                photo = self._photos.get(photo_id)  # not get_recent: waiting is no use
            if photo is None:  # forgotten while it waited: nobody can ask for it
                continue
            try:
                photo.rows = self.chain(photo.export_id).invert(photo.rows, photo.progress.report)
                photo.progress.report("done", 1, 1)
            except Exception as e:  # the page gets one line; the server log the whole story
                photo.progress.error = f"the inversion failed: {str(e).splitlines()[0] if str(e) else type(e).__name__}"
                photo.progress.stage = "failed"
                print(f"photo {photo.id}: {photo.progress.error}", file=sys.stderr, flush=True)
                traceback.print_exc()


def check_ready(p: Progress) -> None:
    """NotReady, in one line, until the inversion is done."""
    if p.error or p.stage != "done":
        steps = f" {p.step}/{p.steps}" if p.steps else ""
        raise NotReady(p.error or f"the photo is still being inverted ({p.stage}{steps}): wait for the progress bar")


def ok_faces(rows: dict[str, np.ndarray]) -> list[int]:
    return [int(i) for i in np.nonzero(rows["status"] == OK)[0]]


def inversion_json(rows: dict[str, np.ndarray], i: int) -> dict[str, Any]:
    """What the inversion made of face i: its aligned crop and reconstruction, and how close they are."""
    return {"face": int(rows["face"][i]), "aligned": data_url(png(rows["aligned"][i]), "png"), "recon": data_url(png(rows["recon"][i]), "png"),
            "psnr": float(rows["psnr"][i]), "sface": float(rows["sface"][i]), "dlib": float(rows["dlib"][i])}


def edit_json(out: dict[str, np.ndarray], i: int, attributes: tuple[str, ...]) -> dict[str, Any]:
    """Face i of an edit: each attribute read on the photo, the reconstruction, the edit's render and the output photo
    (re-detected there; `refound` False: not found again), identity against the original photo, the seam."""
    readings = {a: {"photo": float(out[f"photo_{a}"][i]), "reconstruction": float(out[a][i]), "render": float(out[f"edit_{a}"][i]),
                    "output": float(out[f"pasted_{a}"][i])} for a in attributes}
    return {"face": int(out["face"][i]), "edit": data_url(png(out["edit"][i]), "png"), "readings": readings, "refound": bool(out["refound"][i]),
            "photo_sface": float(out["photo_sface"][i]), "photo_dlib": float(out["photo_dlib"][i]), "seam": float(out["seam"][i])}


def preview(pixels: np.ndarray, side: int) -> str:
    """A JPEG data URL at most `side` px on its long side: what the page shows (the download is the photo itself)."""
    img = Image.fromarray(pixels)
    img.thumbnail((side, side), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=90)
    return data_url(buf.getvalue(), "jpg")


def preview_bytes(data: bytes, side: int) -> str:
    return preview(np.asarray(Image.open(io.BytesIO(data)).convert("RGB")), side)


def data_url(data: bytes, fmt: str) -> str:
    return f"data:{MEDIA[fmt]};base64," + base64.b64encode(data).decode()


def safe_stem(filename: str) -> str:
    """The uploaded file's name without its extension, as a download name: letters, digits, dot, dash, underscore."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", filename.rsplit("/", 1)[-1].rsplit(".", 1)[0]).strip("._")[:64]
    return stem or "photo"
