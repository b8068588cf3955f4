"""People's photos held by the editor, in-process over a hand-made export: the most recent few kept in memory, edits
refused until the inversion is done, download names that are only a name."""

from __future__ import annotations

import base64
import io
import time

import numpy as np
import pytest
from PIL import Image

from models.inversion.config import ProjectConfig, TuneConfig
from pipeline.serve.catalog import NotListed
from pipeline.serve.config import PhotoEditorConfig, ServeConfig
from pipeline.serve.editor import Editor
from pipeline.serve.photo_chain import Progress
from pipeline.serve.photos import NotReady, Photos, check_ready, preview, safe_stem
from tests.photos import ASTRONAUT
from tests.pipeline.serve.conftest import hand_export

pytestmark = pytest.mark.timeout(300)


def test_the_oldest_photo_is_forgotten_and_edits_wait_for_the_inversion(tmp_path):
    hand_export(tmp_path / "runs/hand/export", critic=False)
    quick = PhotoEditorConfig(invert="optimize", project=ProjectConfig(steps=3, pool=16), tune=TuneConfig(steps=0), kept=1)
    photos = Photos(Editor(ServeConfig(runs=str(tmp_path / "runs"), photo=quick)))
    first = photos.upload("hand", ASTRONAUT.read_bytes(), "first.png")
    second = photos.upload("hand", ASTRONAUT.read_bytes(), "second.png")
    with pytest.raises(NotListed, match=r"no longer kept \(the server holds the 1 most recent, --photo.kept\)"):
        photos.progress(first["id"])
    t0 = time.monotonic()
    while not photos.progress(second["id"])["done"]:  # the forgotten first is skipped, not inverted
        assert photos.progress(second["id"])["error"] is None and time.monotonic() - t0 < 120
        time.sleep(0.05)
    data, media, name = photos.download(second["id"], {"smiling": 0.2}, 0)
    assert media == "image/png" and name == "second-edited.png" and Image.open(io.BytesIO(data)).size == (512, 512)


def test_an_edit_waits_for_the_inversion():
    p = Progress()
    with pytest.raises(NotReady, match=r"still being inverted \(queued\): wait for the progress bar"):
        check_ready(p)
    p.report("projecting", 40, 100)
    with pytest.raises(NotReady, match=r"\(projecting 40/100\)"):
        check_ready(p)
    p.error = "the inversion failed: out of memory"
    with pytest.raises(NotReady, match="out of memory"):
        check_ready(p)
    p.error = None
    p.report("done", 1, 1)
    check_ready(p)


@pytest.mark.parametrize("filename, stem", [("me.jpg", "me"), ("../../etc/passwd", "passwd"), ('a"b; c.png', "a_b_c"),
                                            ("", "photo"), (".jpg", "photo"), ("x" * 100 + ".png", "x" * 64)])
def test_download_names_are_only_a_name(filename, stem):
    assert safe_stem(filename) == stem


def test_the_preview_is_bounded_and_keeps_the_aspect():
    url = preview(np.zeros((600, 1200, 3), np.uint8), 300)
    assert url.startswith("data:image/jpeg;base64,")
    assert Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).size == (300, 150)
