"""Paste-back: the render lands where the face was (inverse of the alignment), only inside the feathered mask, colour
matched; 'delta' with no edit gives the photo back exactly."""

import cv2
import numpy as np
import pytest

from models.faces.align import MaskConfig, align_matrix, aligned_crop
from models.faces.yunet import YuNetDetector
from models.generators.framing import DIGIFACE
from stages.paste import PasteConfig, colour_fit, paste_face, photo_mask, region, seam_change, to_photo
from tests.photos import ASTRONAUT, rgb


@pytest.fixture(scope="module")
def face():
    photo = rgb(ASTRONAUT)
    m = align_matrix(YuNetDetector()(photo)[0].points, DIGIFACE, 64)
    return photo, m, aligned_crop(photo, m, 64)


def test_the_aligned_crop_goes_back_where_it_came_from(face):
    photo, m, crop = face
    box = region(m, 64, photo.shape)
    back = to_photo(crop, m, box)
    mask = photo_mask(DIGIFACE, 64, m, box, MaskConfig())
    x0, y0, x1, y1 = box
    err = np.abs(back - photo[y0:y1, x0:x1].astype(np.float32)).mean(2)
    assert err[mask > 0.9].mean() < 12  # a 64-px frame upsampled ~2.5x: blur, not misplacement
    shifted = np.abs(np.roll(back, 6, axis=1) - photo[y0:y1, x0:x1].astype(np.float32)).mean(2)
    assert shifted[mask > 0.9].mean() > err[mask > 0.9].mean() + 5


def test_delta_without_an_edit_is_the_photo(face):
    photo, m, crop = face
    out, mask, _ = paste_face(photo.astype(np.float32), crop, crop, m, DIGIFACE, PasteConfig(mode="delta"))
    assert (np.round(out).astype(np.uint8) == photo).all()


def test_replace_changes_only_inside_the_mask(face):
    photo, m, crop = face
    edit = np.full_like(crop, 30)  # a flat dark face: every pixel it reaches changes
    out, mask, (x0, y0, x1, y1) = paste_face(photo.astype(np.float32), edit, crop, m, DIGIFACE, PasteConfig(mode="replace", colour=False))
    out = np.round(out).astype(np.uint8)
    outside = np.ones(photo.shape[:2], bool)
    outside[y0:y1, x0:x1] = mask == 0
    assert (out[outside] == photo[outside]).all()
    assert np.abs(out[y0:y1, x0:x1][mask > 0.99].astype(int) - 30).max() <= 3  # 1 % of the photo left at mask 0.99
    assert seam_change(photo, out, mask, (x0, y0, x1, y1)) > 20


def test_colour_fit_recovers_a_gain_and_offset():
    rng = np.random.default_rng(0)
    src = rng.uniform(0, 200, (40, 40, 3)).astype(np.float32)
    dst = src * [1.2, 0.9, 1.0] + [5, -3, 10]
    gain, offset = colour_fit(src, dst, np.ones((40, 40), np.float32))
    assert np.allclose(gain, [1.2, 0.9, 1.0], atol=1e-3) and np.allclose(offset, [5, -3, 10], atol=0.5)


def test_a_face_at_the_photo_edge_is_clipped_not_wrapped():
    photo = np.full((100, 100, 3), 90, np.uint8)
    m = cv2.getRotationMatrix2D((0, 0), 0, 1.0) + [[0, 0, 30], [0, 0, 30]]  # the frame hangs off the top-left corner
    out, mask, box = paste_face(photo.astype(np.float32), np.full((64, 64, 3), 200, np.uint8), np.full((64, 64, 3), 90, np.uint8), m,
                                DIGIFACE, PasteConfig(mode="replace", colour=False))
    assert box[0] == 0 and box[1] == 0 and out.shape == photo.shape


@pytest.mark.parametrize("mode", ["replace", "delta"])
def test_an_edit_of_the_hair_reaches_the_photo_only_with_the_change_region(face, mode):
    photo, m, crop = face
    edit = crop.copy()
    edit[8:16, 16:48] = np.clip(edit[8:16, 16:48].astype(int) - 60, 0, 255)  # darker hair above the brows
    reached = {}
    for region_ in ("face", "change"):
        cfg = PasteConfig(mode=mode, colour=False, mask=MaskConfig(region=region_))
        out, _, (x0, y0, x1, y1) = paste_face(photo.astype(np.float32), edit, crop, m, DIGIFACE, cfg)
        back = aligned_crop(np.round(out).astype(np.uint8), m, 64).astype(np.float32)
        reached[region_] = float((aligned_crop(photo, m, 64).astype(np.float32) - back)[9:15, 18:46].mean())
    assert reached["change"] > 40 and reached["face"] < 10


def test_the_reconstruction_pasted_with_the_edit_s_mask_uses_the_same_region(face):
    photo, m, crop = face
    edit = crop.copy()
    edit[4:12, 16:48] = 0
    cfg = PasteConfig(colour=False)
    _, mask_edit, _ = paste_face(photo.astype(np.float32), edit, crop, m, DIGIFACE, cfg)
    _, mask_base, _ = paste_face(photo.astype(np.float32), crop, crop, m, DIGIFACE, cfg, mask_edit=edit)
    assert np.array_equal(mask_edit, mask_base)


def test_detail_without_an_edit_is_the_photo_and_keeps_what_the_frame_cannot_hold(face):
    photo, m, crop = face
    out, mask, (x0, y0, x1, y1) = paste_face(photo.astype(np.float32), crop, crop, m, DIGIFACE, PasteConfig(mode="detail"))
    inside = mask > 0.5
    err = np.abs(out[y0:y1, x0:x1] - photo[y0:y1, x0:x1].astype(np.float32)).mean(2)[inside]
    replaced = paste_face(photo.astype(np.float32), crop, crop, m, DIGIFACE, PasteConfig(mode="replace"))[0]
    blur = np.abs(replaced[y0:y1, x0:x1] - photo[y0:y1, x0:x1].astype(np.float32)).mean(2)[inside]
    assert err.mean() < 1.5 and blur.mean() > 3 * err.mean()  # replace loses the photo's fine detail, detail keeps it
