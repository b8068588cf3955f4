"""YuNet on the photos the repository ships: every face found, nothing found where there is none."""

import numpy as np

from models.faces.yunet import YuNetDetector
from tests.photos import ASTRONAUT, CAMERA, HOPPER, group_photo, rgb


def test_every_face_found_and_no_false_positive():
    det = YuNetDetector()
    for path in (ASTRONAUT, CAMERA, HOPPER):
        faces = det(rgb(path))
        assert len(faces) == 1, path.name
        assert faces[0].score > 0.8
    group = det(group_photo())
    assert len(group) == 3
    assert sorted(round(f.box[0] / 512) for f in group) == [0, 1, 2]  # one per person
    assert det(np.full((480, 640, 3), 128, np.uint8)) == []


def test_points_are_in_the_box_and_the_detection_is_scaled_back():
    """A photo read for detection at a smaller size gives its points in the photo's own pixels."""
    photo = rgb(ASTRONAUT)
    big = np.kron(photo, np.ones((4, 4, 1), np.uint8))  # 2048 px: read at 1280 and scaled back
    a, b = YuNetDetector()(photo)[0], YuNetDetector()(big)[0]
    assert np.abs(b.points / 4 - a.points).max() < 0.1 * a.eye_distance  # YuNet's own spread between scales
    x, y, w, h = a.box
    assert ((a.points >= [x, y]) & (a.points <= [x + w, y + h])).all()
