"""Photo bytes -> RGB pixels, safely: the formats a camera or phone writes, EXIF orientation applied, grey, palette,
CMYK, 16-bit and alpha converted, Pillow's decompression-bomb guard kept and a pixel limit of our own; anything else a
named status, never an exception that stops the batch."""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps

FORMATS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}  # Pillow's name -> the extension an output keeps


@dataclass(frozen=True)
class PhotoLimits:
    """What a photo may be before it is decoded."""

    max_bytes: int = 50_000_000  # file size
    max_pixels: int = 50_000_000  # width x height (a 12,000 x 6,000 photo is 72 MP): the full photo is held as float during the paste

    def __post_init__(self) -> None:
        if self.max_bytes < 1 or self.max_pixels < 64 * 64:
            raise ValueError(f"photo limits must allow at least one byte and 64x64 pixels, got {self}")


class PhotoError(ValueError):
    """A photo that cannot be edited: `status` names why (a row's status), the message says it for a person."""

    def __init__(self, status: str, message: str) -> None:
        super().__init__(message)
        self.status = status


def decode_photo(data: bytes, limits: PhotoLimits = PhotoLimits()) -> tuple[np.ndarray, str]:
    """(H, W, 3) uint8 RGB, upright, and its format's extension (jpg, png, webp); a PhotoError naming what is wrong."""
    if not data:
        raise PhotoError("empty", "the file is empty")
    if len(data) > limits.max_bytes:
        raise PhotoError("too-large", f"the file is {len(data) / 1e6:.1f} MB, over the {limits.max_bytes / 1e6:.0f} MB limit")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)  # Pillow's guard, as an error here
            img = Image.open(io.BytesIO(data))
            if getattr(img, "n_frames", 1) > 1:  # before the format: an animated GIF or WebP is named as what it is
                raise PhotoError("animated", f"an animated image ({img.n_frames} frames): give a still photo")
            fmt = FORMATS.get(img.format or "")
            if fmt is None:
                raise PhotoError("unsupported-format", f"{img.format or 'this'} images are not read (JPEG, PNG or WebP)")
            w, h = img.size
            if w * h > limits.max_pixels:
                raise PhotoError("too-large", f"the photo is {w}x{h} ({w * h / 1e6:.0f} MP), over the "
                                              f"{limits.max_pixels / 1e6:.0f} MP limit (--limits.max-pixels)")
            img.load()
    except PhotoError:
        raise
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as e:
        raise PhotoError("too-large", f"refused as a decompression bomb: {e}") from None
    except Image.UnidentifiedImageError:
        raise PhotoError("unreadable", "not an image Pillow can read (a text file, or the wrong extension?)") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise PhotoError("unreadable", f"the image data is broken ({str(e).splitlines()[0] if str(e) else type(e).__name__})") from None
    return to_rgb(ImageOps.exif_transpose(img)), fmt


def to_rgb(img: Image.Image) -> np.ndarray:
    """Any mode -> (H, W, 3) uint8: 16-bit and 32-bit grey scaled to 8 bits, alpha composited on white, CMYK and palettes
    through Pillow's conversions."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        a = np.asarray(img, np.float64)
        top = 65535.0 if img.mode.startswith("I;16") or a.max() > 255 else 255.0
        grey = np.clip(np.round(a / top * 255), 0, 255).astype(np.uint8)
        return np.repeat(grey[:, :, None], 3, axis=2)
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return np.asarray(Image.alpha_composite(white, rgba).convert("RGB"))
    return np.asarray(img.convert("RGB"))


def encode_photo(rgb: np.ndarray, fmt: str, quality: int = 95) -> bytes:
    """The edited photo in the format it came in (JPEG and WebP at `quality`)."""
    buf = io.BytesIO()
    img = Image.fromarray(rgb)
    if fmt == "jpg":
        img.save(buf, format="JPEG", quality=quality)
    elif fmt == "webp":
        img.save(buf, format="WEBP", quality=quality)
    elif fmt == "png":
        img.save(buf, format="PNG", compress_level=3)
    else:
        raise ValueError(f"unknown photo format {fmt!r} (jpg, png or webp)")
    return buf.getvalue()
