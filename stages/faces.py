"""Photos -> one row per face: decoded, every face found with its five landmarks, aligned to the generator's framing
(the transform kept for the paste). A photo without a usable face is one row whose status says why."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import cv2
import numpy as np

from models.faces.align import align_matrix, aligned_crop, template_points
from models.faces.yunet import Face, YuNetConfig, YuNetDetector
from stages.photo_read import PhotoError, PhotoLimits, decode_photo

if TYPE_CHECKING:  # the type only: FindConfig is read by the CLI before torch loads
    from models.generators.framing import Framing

OK = "ok"
EMPTY_FACE = dict(face=-1, box=np.zeros(4, np.float32), points=np.zeros((5, 2), np.float32), transform=np.zeros((2, 3), np.float64),
                  landmark_err=np.float32(0), fit_err=np.float32(0))
RECHECK = 4  # the aligned crop is upsampled this much for YuNet to find its points again (the template was measured so)


@dataclass(frozen=True)
class FindConfig:
    """Which detections are faces to edit."""

    detector: YuNetConfig = field(default_factory=YuNetConfig)
    frontal: float = 0.2  # the nose's place between the eyes (0 = on one, 0.5 = midway) must be within [f, 1 - f]: else a profile
    max_faces: int = 16  # faces edited per photo, largest first (the rest: a row each, status too-many)

    def __post_init__(self) -> None:
        if not 0 <= self.frontal < 0.5 or self.max_faces < 1:
            raise ValueError(f"--find.frontal must be in [0, 0.5) and --find.max-faces >= 1, got {self.frontal}, {self.max_faces}")


def photo_batch(photos: list[bytes], names: list[str]) -> dict[str, np.ndarray]:
    """Photos held in memory as decode_photos' input rows (edit-photo's one photo, the editor's upload)."""
    return {"photo_id": np.arange(len(photos), dtype=np.int64), "name": np.array(names, dtype=object), "data": objects(photos),
            "status": np.array([OK] * len(photos), dtype=object)}


def decode_photos(batch: dict[str, np.ndarray], limits: PhotoLimits = PhotoLimits()) -> dict[str, np.ndarray]:
    """`data` (bytes) -> `photo` ((H, W, 3) uint8, or None), `format`, `status`, `message`; rows that fail keep a status."""
    photos, formats, statuses, messages = [], [], [], []
    for data, status in zip(batch["data"], batch.get("status", [OK] * len(batch["data"]))):
        pixels, fmt, message = None, "", ""
        if status == OK:
            try:
                pixels, fmt = decode_photo(bytes(data), limits)
            except PhotoError as e:
                status, message = e.status, str(e)
        else:
            message = "the photo was not there when it was read (moved or deleted after it was listed)"
        photos.append(pixels)
        formats.append(fmt)
        statuses.append(status)
        messages.append(message)
    out = {k: v for k, v in batch.items() if k not in ("data", "status")}
    return {**out, "photo": objects(photos), "format": np.array(formats), "status": np.array(statuses), "message": _strings(messages)}


def face_status(face: Face, cfg: FindConfig) -> tuple[str, str]:
    """ok, or why this detection is not edited (too small for the detail a frame needs, a profile)."""
    min_eyes = cfg.detector.min_face / 3
    if face.eye_distance < min_eyes:
        return "too-small", f"the face's eyes are {face.eye_distance:.0f} px apart; at least {min_eyes:.0f} px are needed (--find.detector.min-face)"
    eyes = face.points[1] - face.points[0]
    t = float(np.dot(face.points[2] - face.points[0], eyes) / max(np.dot(eyes, eyes), 1e-9))
    if not cfg.frontal <= t <= 1 - cfg.frontal:
        return "profile", f"a profile face (nose at {t:.2f} of the way between the eyes; frontal faces only, --find.frontal)"
    return OK, ""


class FindFaces:
    """Decoded photo rows -> face rows: face index, box, points, transform (photo -> frame px), aligned (R, R, 3) uint8.
    Every other column of the photo is repeated on each of its faces (the photo's pixels by reference)."""

    def __init__(self, framing: Framing, resolution: int, cfg: FindConfig = FindConfig(), device: str = "cpu") -> None:
        self.framing, self.resolution, self.cfg = framing, resolution, cfg
        self.detector = YuNetDetector(cfg.detector)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        rows: list[dict] = []
        for i in range(len(batch["photo_id"])):
            base = {k: v[i] for k, v in batch.items()}
            rows += self._faces(base)
        return _columns(rows, self.resolution)

    def _faces(self, row: dict) -> list[dict]:
        if row["status"] != OK:
            return [{**row, **EMPTY_FACE, "aligned": None}]
        faces = self.detector(row["photo"])
        if not faces:
            return [{**row, **EMPTY_FACE, "aligned": None, "status": "no-face", "message": "no face found"}]
        out = []
        for k, face in enumerate(faces):
            status, message = face_status(face, self.cfg)
            if status == OK and k >= self.cfg.max_faces:
                status, message = "too-many", f"only the {self.cfg.max_faces} largest faces are edited (--find.max-faces)"
            m = align_matrix(face.points, self.framing, self.resolution)
            aligned = aligned_crop(row["photo"], m, self.resolution) if status == OK else None
            out.append({**row, "face": k, "box": np.float32(face.box), "points": face.points, "transform": m, "aligned": aligned,
                        "landmark_err": self.landmark_error(aligned), "fit_err": self.fit_error(face.points, m), "status": status,
                        "message": message})
        return out

    def fit_error(self, points: np.ndarray, m: np.ndarray) -> np.float32:
        """Mean distance (frame px) of the photo's own five points, through the similarity, from the template: what no
        similarity removes (this face's shape against the generator's), the floor under landmark_err."""
        if not self.framing.landmarks:
            return np.float32(0)
        moved = np.c_[np.asarray(points, np.float64), np.ones(len(points))] @ m.T
        return np.float32(np.linalg.norm(moved - template_points(self.framing, self.resolution), axis=1).mean())

    def landmark_error(self, aligned: np.ndarray | None) -> np.float32:
        """Mean distance (frame px) of YuNet's five points, found again on the aligned crop, from where the generator draws
        them: how well the alignment put this face into the generator's framing (NaN-free: -1 where none is found)."""
        if aligned is None or not self.framing.landmarks:
            return np.float32(0)
        size = self.resolution * RECHECK
        found = self.detector(cv2.resize(aligned, (size, size), interpolation=cv2.INTER_CUBIC))
        if not found:
            return np.float32(-1)
        return np.float32(np.linalg.norm(found[0].points / RECHECK - template_points(self.framing, self.resolution), axis=1).mean())


def _columns(rows: list[dict], resolution: int) -> dict[str, np.ndarray]:
    """Face rows -> columns; a row without an aligned face gets black pixels (its status says why)."""
    blank = np.zeros((resolution, resolution, 3), np.uint8)
    out: dict[str, np.ndarray] = {}
    for k in rows[0]:
        values = [r[k] for r in rows]
        if k == "aligned":
            out[k] = np.stack([blank if v is None else v for v in values])
        elif k == "photo":
            out[k] = objects(values)
        elif isinstance(values[0], np.ndarray):
            out[k] = np.stack(values)
        else:
            out[k] = np.array(values)
    return out


def objects(values: list) -> np.ndarray:
    """A 1-d object array of `values` as they are (numpy would stack equal-shaped arrays or split bytes)."""
    arr = np.empty(len(values), dtype=object)
    arr[:] = values
    return arr


def _strings(values: list[str]) -> np.ndarray:
    return np.array(values, dtype=object)
