"""Photos decoded safely: the formats and modes cameras write come out upright RGB; every bad file is a named status."""

import io

import numpy as np
import pytest
from PIL import Image

from stages.faces import decode_photos
from stages.photo_read import PhotoError, PhotoLimits, decode_photo, encode_photo
from tests.photos import ASTRONAUT, encoded, rgb


def _status(data: bytes, limits: PhotoLimits = PhotoLimits()) -> tuple[str, str]:
    with pytest.raises(PhotoError) as e:
        decode_photo(data, limits)
    assert "\n" not in str(e.value)
    return e.value.status, str(e.value)


def test_formats_and_modes_come_out_rgb():
    base = rgb(ASTRONAUT)[:200, :300]
    for fmt, ext in (("JPEG", "jpg"), ("PNG", "png"), ("WEBP", "webp")):
        px, got = decode_photo(encoded(base, fmt))
        assert got == ext and px.shape == (200, 300, 3) and px.dtype == np.uint8
    grey = Image.fromarray(base).convert("L")
    for img in (grey, grey.convert("LA"), Image.fromarray(base).convert("P"), Image.fromarray(base).convert("CMYK")):
        buf = io.BytesIO()
        img.save(buf, format="JPEG" if img.mode == "CMYK" else "PNG")
        assert decode_photo(buf.getvalue())[0].shape == (200, 300, 3)


def test_sixteen_bit_is_scaled_and_alpha_composited_on_white():
    deep = Image.fromarray(np.arange(256, dtype=np.uint16).reshape(16, 16) * 257)
    assert deep.mode == "I;16"
    buf = io.BytesIO()
    deep.save(buf, format="PNG")
    px = decode_photo(buf.getvalue())[0]
    assert px[0, 0, 0] == 0 and px[-1, -1, 0] == 255  # 65535 -> 255, not clipped to white everywhere
    clear = np.zeros((8, 8, 4), np.uint8)
    assert (decode_photo(encoded(clear))[0] == 255).all()


def test_exif_orientation_is_applied():
    base = rgb(ASTRONAUT)[:100, :200]
    img = Image.fromarray(base)
    exif = img.getexif()
    exif[0x0112] = 6  # rotate 90 clockwise to view
    buf = io.BytesIO()
    img.save(buf, format="JPEG", exif=exif)
    assert decode_photo(buf.getvalue())[0].shape == (200, 100, 3)


@pytest.mark.parametrize("case", ["empty", "text", "truncated", "bomb", "huge", "animated", "too-many-bytes", "tiff"])
def test_bad_photos_are_named(case):
    jpeg = encoded(rgb(ASTRONAUT), "JPEG")
    if case == "empty":
        assert _status(b"")[0] == "empty"
    elif case == "text":
        assert _status(b"hello, this is not a photo\n")[0] == "unreadable"
    elif case == "truncated":
        assert _status(jpeg[: len(jpeg) // 2])[0] == "unreadable"
    elif case == "bomb":  # a small PNG declaring more pixels than Pillow's guard allows
        big = Image.new("1", (20000, 10000))
        buf = io.BytesIO()
        big.save(buf, format="PNG")
        status, message = _status(buf.getvalue(), PhotoLimits(max_pixels=10**9))
        assert status == "too-large" and "decompression bomb" in message
    elif case == "huge":  # 12,000 px on a side: over the pixel limit, refused before decoding
        buf = io.BytesIO()
        Image.new("L", (12000, 6000)).save(buf, format="PNG")
        status, message = _status(buf.getvalue())
        assert status == "too-large" and "12000x6000" in message and "--limits.max-pixels" in message
    elif case == "animated":
        frames = [Image.new("RGB", (32, 32), c) for c in ("red", "blue")]
        buf = io.BytesIO()
        frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:])
        assert _status(buf.getvalue())[0] == "animated"
    elif case == "too-many-bytes":
        assert _status(jpeg, PhotoLimits(max_bytes=1000))[0] == "too-large"
    elif case == "tiff":
        buf = io.BytesIO()
        Image.new("RGB", (32, 32)).save(buf, format="TIFF")
        assert _status(buf.getvalue())[0] == "unsupported-format"


def test_a_batch_keeps_going_past_bad_photos():
    rows = {"photo_id": np.arange(3), "data": np.array([b"", encoded(rgb(ASTRONAUT)), b"nope"], dtype=object)}
    out = decode_photos(rows)
    assert out["status"].tolist() == ["empty", "ok", "unreadable"]
    assert out["photo"][1].shape == (512, 512, 3) and out["photo"][0] is None


def test_the_edited_photo_keeps_its_format_and_size():
    px = rgb(ASTRONAUT)
    for fmt in ("jpg", "png", "webp"):
        back, got = decode_photo(encode_photo(px, fmt))
        assert got == fmt and back.shape == px.shape
    assert (decode_photo(encode_photo(px, "png"))[0] == px).all()
