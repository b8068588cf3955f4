"""uint8 images -> encoded bytes for writing (PNG or JPEG); drops the raw pixels."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image


def encode_image(pixels: np.ndarray, fmt: str, quality: int = 95) -> bytes:
    buf = io.BytesIO()
    if fmt == "png":
        Image.fromarray(pixels).save(buf, format="PNG", compress_level=1)  # fast; PNG stays lossless
    elif fmt == "jpg":
        Image.fromarray(pixels).save(buf, format="JPEG", quality=quality)
    else:
        raise ValueError(f"unknown image format {fmt!r} (choose png or jpg)")
    return buf.getvalue()


def encode_images(batch: dict[str, np.ndarray], fmt: str, quality: int = 95) -> dict[str, np.ndarray]:
    """Replaces `image` with `image_bytes` (object array of bytes); fmt 'none' just drops the pixels."""
    out = {k: v for k, v in batch.items() if k != "image"}
    if fmt != "none":
        encoded = [encode_image(px, fmt, quality) for px in batch["image"]]
        out["image_bytes"] = np.array(encoded, dtype=object)
    return out
