import io

import numpy as np
import pytest
import torch
from PIL import Image

from stages.encode import encode_image, encode_images
from stages.render import Render, from_uint8, to_uint8


def test_uint8_round_trip():
    x = torch.linspace(-1, 1, 3 * 8 * 8).reshape(1, 3, 8, 8)
    back = from_uint8(to_uint8(x))
    assert (back - x).abs().max() <= 1 / 127.5


def test_nan_or_inf_pixels_are_refused_by_row_not_cast_to_black():
    x = torch.zeros(4, 3, 8, 8)
    x[1, 0, 2, 2], x[3, 2, 0, 0] = float("nan"), float("inf")
    with pytest.raises(ValueError, match=r"NaN or Inf for 2 rows \(ids \[11, 13\]\)"):
        to_uint8(x, np.array([10, 11, 12, 13]))
    assert to_uint8(torch.full((1, 3, 2, 2), 1e30)).max() == 255  # huge but finite: clamped, as before


def test_from_uint8_rejects_wrong_shape():
    with pytest.raises(ValueError, match="uint8 images of shape"):
        from_uint8(np.zeros((2, 3, 8, 8), np.uint8))


def test_render_dcgan_faces():
    out = Render(None)({"w": np.random.default_rng(0).standard_normal((3, 100), dtype=np.float32)})
    assert out["image"].shape == (3, 64, 64, 3) and out["image"].dtype == np.uint8
    assert out["image"].std() > 10  # a face, not a flat image


def test_render_honours_the_noise_mode(tmp_path):
    from tests.checkpoints import write_tiny_rosinality

    ckpt = str(write_tiny_rosinality(tmp_path / "g.pt", resolution=8))
    w = {"w": np.random.default_rng(0).standard_normal((2, 64), dtype=np.float32)}
    const, again = Render(ckpt, "const")(w)["image"], Render(ckpt, "const")(w)["image"]
    np.testing.assert_array_equal(const, again)
    assert (Render(ckpt, "none")(w)["image"] != const).any()  # the stored noise buffers are really left out
    with pytest.raises(ValueError, match="noise_mode must be one of"):
        Render(None, "fuzzy")(w | {"w": np.zeros((1, 100), np.float32)})


@pytest.mark.parametrize("fmt", ["png", "jpg"])
def test_encode_decodes_back(fmt):
    px = np.random.default_rng(1).integers(0, 255, (2, 16, 16, 3), dtype=np.uint8)
    out = encode_images({"image": px, "seed": np.arange(2)}, fmt)
    assert "image" not in out and len(out["image_bytes"]) == 2
    back = np.asarray(Image.open(io.BytesIO(out["image_bytes"][0])))
    assert back.shape == (16, 16, 3)
    if fmt == "png":
        np.testing.assert_array_equal(back, px[0])


def test_encode_none_drops_pixels_and_unknown_format_fails():
    assert "image_bytes" not in encode_images({"image": np.zeros((1, 8, 8, 3), np.uint8)}, "none")
    with pytest.raises(ValueError, match="unknown image format"):
        encode_image(np.zeros((8, 8, 3), np.uint8), "bmp")
