"""Inverted faces -> the edited photo: the mapper's edit (and critic steps) on each face's latent, rendered by that
face's generator, pasted back into the full-resolution photo, then read again as a viewer would get it: the face
re-detected and re-aligned in the output photo and labelled, its identity against the original photo (SFace, dlib)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from models.editors.mapper import load_mapper, request
from models.faces.align import align_matrix, aligned_crop
from models.faces.yunet import YuNetDetector
from models.identity.dlib_face import DlibFaceEmbedder, photo_descriptor
from models.identity.sface import SFacePhoto
from models.inversion.tuned import Overridden
from models.open import open_generator, open_labeler
from stages.faces import OK, FindConfig
from stages.paste import PasteConfig, paste_face, seam_change
from stages.photo_read import encode_photo
from stages.render import from_uint8, to_uint8


class EditPhotos:
    """Face rows (from InvertFaces) -> `edit` (R, R, 3) uint8, `w_edit`, and per face what the output photo shows:
    `edit_<attr>` (the render's readings), `pasted_<attr>` (re-detected, re-aligned, labelled; `refound` False and zeros where the face is not found again), `base_<attr>` (the same with the reconstruction pasted, no
    edit: the edit's change in the output photo is pasted - base), `photo_sface` and `photo_dlib`
    (the output photo's face against the original's), `seam` (grey levels), and on each photo's first row `edited` (the
    photo's bytes in its format; None where no face of it was edited). `changes` is {attribute: change}; no mapper: the reconstruction is pasted."""

    def __init__(self, generator: str | None, mapper: str | None, changes: dict[str, float], paste: PasteConfig, find: FindConfig,
                 labelers: tuple[str, ...], open_refiner: Callable[[str], Any] | None = None, quality: int = 95,
                 device: str = "cpu") -> None:
        self.gen = open_generator(generator, device)
        self.mapper = load_mapper(mapper)[0].to(device) if mapper else None
        self.changes, self.paste, self.quality, self.device = changes, paste, quality, device
        self.refiner = open_refiner(device) if open_refiner is not None else None
        self.detector = YuNetDetector(find.detector)
        self.labelers = [open_labeler(n, self.gen.framing) for n in labelers]
        self.attributes = tuple(a for lab in self.labelers for a in lab.attributes)
        self.sface, self.dlib = SFacePhoto(), DlibFaceEmbedder(self.gen.framing)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        n = len(batch["status"])
        out = {**batch, "edit": batch["recon"].copy(), "w_edit": batch["w"].copy(), "photo_sface": np.zeros(n, np.float32),
               "photo_dlib": np.zeros(n, np.float32), "seam": np.zeros(n, np.float32), "edited": np.empty(n, dtype=object)}
        out.update({f"{p}{a}": np.zeros(n, np.float32) for p in ("pasted_", "base_") for a in self.attributes})
        out["refound"] = np.zeros(n, bool)
        out.update({f"edit_{a}": np.zeros(n, np.float32) for a in self.attributes})
        ok = np.nonzero(batch["status"] == OK)[0]
        for i in ok:
            out["w_edit"][i], out["edit"][i] = self.edit_face(batch, i)
        if len(ok):  # the edit as rendered, read by the same labelers as the photo and the reconstruction
            images = from_uint8(out["edit"][ok], self.device)
            for lab in self.labelers:
                for a, v in lab(images).items():
                    out[f"edit_{a}"][ok] = v
        for rows in _photos(batch["photo_id"]):
            self._paste_photo(out, rows)
        return out

    def edit_face(self, batch: dict[str, np.ndarray], i: int) -> tuple[np.ndarray, np.ndarray]:
        """One face's edited latent (flattened) and render, through its own generator."""
        gen = Overridden(self.gen, batch["tuned"][i]) if batch["tuned"][i] else self.gen
        w = torch.from_numpy(np.array(batch["w"][i], np.float32))
        if self.mapper is None or not self.changes:
            return batch["w"][i], batch["recon"][i]
        shape = self.mapper.cfg.latent_shape
        w0 = w.reshape(1, *shape).to(self.device)
        names = self.mapper.cfg.attributes
        a = torch.tensor([[float(batch[n][i]) for n in names]], dtype=torch.float32, device=self.device)
        d = request(self.mapper, 1, self.changes).to(self.device)
        with torch.no_grad():
            w1 = self.mapper(w0, a, d)
        if self.refiner is not None:
            base, self.refiner.critic.gen = self.refiner.critic.gen, gen  # the critic steps see this face's generator
            try:
                w1 = self.refiner(w0, w1, d)
            finally:
                self.refiner.critic.gen = base
        with torch.no_grad():
            image = to_uint8(gen.synthesis(w1, noise_mode="const"))[0]
        return w1.reshape(-1).cpu().numpy(), image

    def _paste_photo(self, out: dict[str, np.ndarray], rows: list[int]) -> None:
        first = rows[0]
        photo = out["photo"][first]
        if photo is None or not any(out["status"][i] == OK for i in rows):
            return  # nothing to paste: the photo's rows say why
        edited, masks = self._composite(out, rows, photo, "edit")
        out["edited"][first] = encode_photo(edited, str(out["format"][first]), self.quality)
        edits = self.mapper is not None and bool(self.changes)
        # the same photo with each face's reconstruction pasted and no edit: what the edit's change is read against
        base = self._composite(out, rows, photo, "recon")[0] if edits else edited
        found, found_base = self.detector(edited), (self.detector(base) if edits else None)
        for i, (mask, box) in masks.items():
            out["seam"][i] = seam_change(photo, edited, mask, box)
            b, points = tuple(out["box"][i]), out["points"][i]
            out["photo_sface"][i] = float(self.sface(photo, b, points) @ self.sface(edited, b, points))
            out["photo_dlib"][i] = float(np.linalg.norm(photo_descriptor(self.dlib, photo, b) - photo_descriptor(self.dlib, edited, b)))
            out["refound"][i] = self._read_again(out, i, edited, found, "pasted_")
            self._read_again(out, i, base, found_base if edits else found, "base_")

    def _composite(self, out: dict[str, np.ndarray], rows: list[int], photo: np.ndarray, key: str) -> tuple[np.ndarray, dict]:
        """The photo with every edited face's `key` image (edit or recon) pasted in, and each face's mask and region."""
        canvas, masks = photo.astype(np.float32), {}
        for i in rows:
            if out["status"][i] == OK:
                canvas, mask, box = paste_face(canvas, out[key][i], out["recon"][i], out["transform"][i], self.gen.framing, self.paste,
                                               mask_edit=out["edit"][i])
                masks[i] = (mask, box)
        return np.clip(np.round(canvas), 0, 255).astype(np.uint8), masks

    def _read_again(self, out: dict[str, np.ndarray], i: int, image: np.ndarray, found: list, prefix: str) -> bool:
        """Face i as a viewer of `image` gets it: found again near its box, re-aligned and labelled into `<prefix><attr>`;
        False (the columns left at 0) where it is not found again."""
        box = out["box"][i]
        centre = box[:2] + box[2:] / 2
        near = [f for f in found if np.linalg.norm(np.float32(f.box[:2]) + np.float32(f.box[2:]) / 2 - centre) < box[2] / 2]
        if not near:
            return False
        size = self.gen.resolution
        images = from_uint8(aligned_crop(image, align_matrix(near[0].points, self.gen.framing, size), size)[None], self.device)
        for lab in self.labelers:
            for a, v in lab(images).items():
                out[f"{prefix}{a}"][i] = float(v[0])
        return True


def _photos(ids: np.ndarray) -> list[list[int]]:
    """Row indices grouped by photo, in order (a photo's faces are consecutive rows)."""
    groups: list[list[int]] = []
    for i, pid in enumerate(ids.tolist()):
        if groups and ids[groups[-1][0]] == pid:
            groups[-1].append(i)
        else:
            groups.append([i])
    return groups
