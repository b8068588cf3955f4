"""The test photos the repository ships (tests/data/photos/SOURCES.md: public domain and CC0) and photos made from them."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

PHOTOS = Path(__file__).resolve().parent / "data" / "photos"
ASTRONAUT, CAMERA, HOPPER = PHOTOS / "astronaut.png", PHOTOS / "camera.png", PHOTOS / "grace_hopper.jpg"


def rgb(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def group_photo() -> np.ndarray:
    """Three people side by side on one canvas (the astronaut, Grace Hopper, the astronaut mirrored): 3 frontal faces."""
    a, h = Image.open(ASTRONAUT).convert("RGB"), Image.open(HOPPER).convert("RGB").resize((512, 600))
    canvas = Image.new("RGB", (1536, 600), (200, 200, 200))
    canvas.paste(a, (0, 44))
    canvas.paste(h, (512, 0))
    canvas.paste(a.transpose(Image.FLIP_LEFT_RIGHT), (1024, 44))
    return np.asarray(canvas)


def encoded(pixels: np.ndarray, fmt: str = "PNG", **kwargs) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format=fmt, **kwargs)
    return buf.getvalue()
