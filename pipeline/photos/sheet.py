"""A photo's before/after sheet: the original and the edited photo side by side, then per face its aligned crop, the
reconstruction and the edit (3x, nearest: every generated pixel visible) with the inversion's figures and the readings."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageDraw, ImageFont

PHOTO_HEIGHT = 384  # px of each photo on the sheet
CROP = 192  # px of each face crop (a 64-px frame at 3x)


def _fit(rgb: np.ndarray, height: int) -> Image.Image:
    img = Image.fromarray(rgb)
    return img.resize((max(1, round(img.width * height / img.height)), height), Image.LANCZOS)


def photo_sheet(photo: np.ndarray, edited: np.ndarray, faces: list[dict], title: str) -> bytes:
    """PNG bytes. `faces`: per face {aligned, recon, edit (frame uint8), lines (text under its crops)}."""
    before, after = _fit(photo, PHOTO_HEIGHT), _fit(edited, PHOTO_HEIGHT)
    font = ImageFont.load_default(size=13)
    line = 17
    face_h = max(CROP, line * (2 + max((len(f["lines"]) for f in faces), default=0))) + 8  # the text sits beside the crops
    width = max(before.width + after.width, 3 * CROP + 420)
    canvas = Image.new("RGB", (width, line + PHOTO_HEIGHT + 8 + face_h * len(faces)), "white")
    draw = ImageDraw.Draw(canvas)
    draw.text((4, 2), title, fill="black", font=font)
    canvas.paste(before, (0, line))
    canvas.paste(after, (before.width, line))
    y = line + PHOTO_HEIGHT + 8
    for k, face in enumerate(faces):
        for j, key in enumerate(("aligned", "recon", "edit")):
            canvas.paste(Image.fromarray(face[key]).resize((CROP, CROP), Image.NEAREST), (j * CROP, y))
        draw.text((3 * CROP + 8, y + 4), f"face {k}: photo | reconstruction | edit", fill="black", font=font)
        for i, text in enumerate(face["lines"]):
            draw.text((3 * CROP + 8, y + 4 + (i + 1) * line), text, fill="black", font=font)
        y += face_h
    buf = io.BytesIO()
    canvas.save(buf, format="PNG", compress_level=3)
    return buf.getvalue()
