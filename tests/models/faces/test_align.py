"""Alignment onto a generator's framing: the DCGAN's stored template is where it draws faces, a similarity is recovered
exactly, FFHQ's quad is a square, and the mask is a feathered face-sized blob."""

import cv2
import numpy as np
import pytest
import torch

from models.faces.align import (
    MaskConfig,
    align_matrix,
    aligned_crop,
    blend_mask,
    face_mask,
    ffhq_quad,
    scale_of,
    template_points,
)
from models.faces.yunet import YuNetConfig, YuNetDetector
from models.generators.framing import DIGIFACE, FFHQ, Framing
from models.open import open_generator
from stages.latents import seed_z
from stages.render import to_uint8


@pytest.fixture(scope="module")
def renders():
    gen = open_generator(None)
    with torch.no_grad():
        return to_uint8(gen.synthesis(gen.mapping(torch.from_numpy(seed_z(np.arange(1000, 1064), gen.z_dim)))))


def test_stored_template_is_where_the_dcgan_draws_faces(renders):
    """Re-measured on 64 other renders (seeds 1000-1063, not those it was measured on), every point within 1 px."""
    det, pts = YuNetDetector(YuNetConfig(min_face=8)), []
    for im in renders:
        faces = det(cv2.resize(im, (256, 256), interpolation=cv2.INTER_CUBIC))
        if faces:
            pts.append(faces[0].points / 4)
    assert len(pts) >= 60
    assert np.abs(np.mean(pts, 0) - template_points(DIGIFACE, 64)).max() < 1.0


def test_a_similarity_is_recovered_and_undone():
    """Template points moved by a known rotation, scale and shift align back onto the template exactly."""
    size, t = 64, template_points(DIGIFACE, 64)
    known = cv2.getRotationMatrix2D((32, 32), 17.0, 3.5) + [[0, 0, 140], [0, 0, 90]]
    photo_pts = np.c_[t, np.ones(5)] @ known.T
    m = align_matrix(photo_pts, DIGIFACE, size)
    back = np.c_[photo_pts, np.ones(5)] @ m.T
    assert np.abs(back - t).max() < 1e-4  # LMEDS' float32 solve
    assert scale_of(m) == pytest.approx(1 / 3.5, rel=1e-5)


def test_aligned_crop_of_a_warped_render_is_the_render(renders):
    """A render warped into a larger 'photo' and aligned back with the known transform matches the render."""
    img = renders[0]
    known = cv2.getRotationMatrix2D((32, 32), -9.0, 4.0) + [[0, 0, 200], [0, 0, 150]]
    photo = cv2.warpAffine(img, known, (640, 560), flags=cv2.INTER_CUBIC)
    crop = aligned_crop(photo, cv2.invertAffineTransform(known), 64)
    inner = (slice(6, 58), slice(6, 58))
    assert np.abs(crop[inner].astype(float) - img[inner].astype(float)).mean() < 6


def test_ffhq_quad_is_an_upright_square_for_an_upright_face():
    pts = np.float64([[100, 100], [160, 100], [130, 130], [105, 165], [155, 165]])
    q = ffhq_quad(pts)
    sides = np.linalg.norm(np.roll(q, -1, 0) - q, axis=1)
    assert np.allclose(sides, sides[0]) and sides[0] == pytest.approx(2 * max(2 * 60, 1.8 * 65))
    m = align_matrix(pts, FFHQ, 256)
    assert np.allclose(np.c_[q, np.ones(4)] @ m.T, [[0, 0], [0, 256], [256, 256], [256, 0]], atol=1e-6)


def test_a_framing_without_alignment_is_refused():
    with pytest.raises(ValueError, match="cannot be aligned"):
        align_matrix(np.zeros((5, 2)), Framing(), 64)
    with pytest.raises(ValueError, match="takes 5"):
        Framing(alignment="template")


def test_face_mask_covers_the_face_and_fades():
    m = face_mask(DIGIFACE, 64, MaskConfig())
    assert m.shape == (64, 64) and m.max() == pytest.approx(1.0, abs=1e-3)
    assert m[40, 32] > 0.99 and m[2, 2] == 0 and m[62, 62] == 0  # the nose is in, the corners out
    assert ((m > 0.02) & (m < 0.98)).sum() > 100  # a feathered edge, not a step


def test_the_change_region_takes_in_what_the_edit_changed_outside_the_face():
    recon = np.full((64, 64, 3), 100, np.uint8)
    edit = recon.copy()
    edit[8:16, 20:44] = 160  # the edit darkens/lightens the hair above the brows: outside the ellipse
    face = blend_mask(DIGIFACE, 64, MaskConfig(region="face"), edit, recon)
    change = blend_mask(DIGIFACE, 64, MaskConfig(region="change"), edit, recon)
    assert face[12, 32] < 0.05 and change[12, 32] > 0.95
    assert (change >= face - 1e-6).all()  # the ellipse is always in
    assert change[40, 5] == pytest.approx(0.0, abs=1e-3)  # an unchanged cheek-side pixel outside the ellipse stays out
    assert np.array_equal(blend_mask(DIGIFACE, 64, MaskConfig(region="change")), face_mask(DIGIFACE, 64, MaskConfig()))


def test_the_frame_region_is_the_square_less_its_border():
    m = blend_mask(DIGIFACE, 256, MaskConfig(region="frame", border=0.06))
    assert m[128, 128] > 0.99 and m[0, 128] < 0.01 and m[128, 255] < 0.01
    assert m[40, 128] > 0.5  # a hair row is in


def test_a_mask_region_that_does_not_exist_is_refused():
    with pytest.raises(ValueError, match="region must be one of"):
        MaskConfig(region="hull")
