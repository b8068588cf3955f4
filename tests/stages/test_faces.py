"""Finding faces: each face's alignment reports how far its own points sit from the template after the similarity
(fit_err, what no similarity removes) beside the re-detected error (landmark_err)."""

import cv2
import numpy as np
import pytest

from models.faces.align import template_points
from models.generators.framing import DIGIFACE
from pipeline.photos.report import summarize
from stages.faces import OK, FindFaces, decode_photos, photo_batch
from tests.photos import ASTRONAUT


def test_points_that_are_a_similarity_of_the_template_fit_exactly():
    find = FindFaces(DIGIFACE, 64)
    sim = cv2.getRotationMatrix2D((30, 30), 12, 0.4)  # a frame -> photo similarity
    points = np.c_[template_points(DIGIFACE, 64), np.ones(5)] @ sim.T
    m = cv2.invertAffineTransform(sim)
    assert find.fit_error(points, m) == pytest.approx(0, abs=1e-4)
    bent = points.copy()
    bent[3:] += [0, 4]  # a longer face than the generator draws: a similarity cannot take it onto the template
    assert find.fit_error(bent, m) > 0.3


def test_a_real_face_reports_its_fit_and_the_summary_shows_it_without_a_target():
    rows = FindFaces(DIGIFACE, 64)(decode_photos(photo_batch([ASTRONAUT.read_bytes()], ["astronaut.png"])))
    assert rows["status"][0] == OK and 0 < rows["fit_err"][0] < 3
    face = {k: 1.0 for k in ("landmark_err", "psnr", "sface", "dlib", "floor_sface", "seconds", "photo_sface", "photo_dlib", "seam")}
    summary = summarize([{**face, "fit_err": float(rows["fit_err"][0])}], "tune", "detail", {})
    assert summary["figures"]["fit_err_max"] == {"value": pytest.approx(float(rows["fit_err"][0]))}
