"""The photos chain as the editor holds it, in-process over a hand-made export: the faces found at once, the inversion
telling each projection and tuning step, an edit that asks for its own change on the stage built once."""

from __future__ import annotations

import numpy as np
import pytest

from models.editors.mapper import load_mapper
from models.inversion.config import ProjectConfig, TuneConfig
from pipeline.edit.refine_config import RefineConfig
from pipeline.serve.config import PhotoEditorConfig
from pipeline.serve.photo_chain import NoFace, PhotoChain
from stages.photo_read import PhotoError
from tests.photos import ASTRONAUT, encoded
from tests.pipeline.serve.conftest import hand_export

pytestmark = pytest.mark.timeout(300)
STEPS, TUNE = 5, 3


@pytest.fixture(scope="module")
def chain(tmp_path_factory) -> PhotoChain:
    export = hand_export(tmp_path_factory.mktemp("hand") / "export", critic=True)
    cfg = PhotoEditorConfig(project=ProjectConfig(steps=STEPS, pool=32), tune=TuneConfig(steps=TUNE))
    return PhotoChain(str(export), load_mapper(export)[1], cfg, RefineConfig(steps=2))


def test_the_inversion_reports_every_step(chain):
    rows = chain.find(ASTRONAUT.read_bytes(), "astronaut.png")
    heard: list[tuple[str, int, int]] = []
    out = chain.invert(rows, lambda stage, step, steps: heard.append((stage, step, steps)))
    projecting = [(s, n) for stage, s, n in heard if stage == "projecting"]
    tuning = [(s, n) for stage, s, n in heard if stage == "tuning face 1/1"]
    assert projecting == [(k, STEPS) for k in range(1, STEPS + 1)]
    assert tuning == [(k, TUNE) for k in range(1, TUNE + 1)]
    assert heard.index(("tuning face 1/1", 1, TUNE)) > heard.index(("projecting", STEPS, STEPS)) and heard[-1] == ("reading", 0, 0)
    assert out["tuned"][0] and out["psnr"][0] > 0  # the face's own generator is held for its edits
    heard.clear()
    chain.invert(rows, lambda *a: None)  # the callback belongs to one photo: the next one is not told of it
    assert heard == []


def test_each_edit_asks_for_its_own_change(chain):
    rows = chain.invert(chain.find(ASTRONAUT.read_bytes(), "astronaut.png"), lambda *a: None)
    same = chain.edit(rows, {}, 0)
    up, up_again = chain.edit(rows, {"smiling": 0.3}, 0), chain.edit(rows, {"smiling": 0.3}, 0)
    assert np.array_equal(same["edit"][0], rows["recon"][0])  # no change: the reconstruction is pasted
    assert not np.array_equal(up["edit"][0], same["edit"][0]) and up["edited"][0] == up_again["edited"][0]
    refined = chain.edit(rows, {"smiling": 0.3}, 2)
    assert refined["edit_smiling"][0] > up["edit_smiling"][0]  # two critic steps further towards the request
    assert chain.edit(rows, {"smiling": 0.3}, 0)["edited"][0] == up["edited"][0]  # and no steps left behind for the next


@pytest.mark.parametrize("data, error, message", [
    (b"", PhotoError, "the file is empty"),
    (b"a text file, not a photo\n", PhotoError, "not an image"),
    (encoded(np.full((200, 300, 3), 90, np.uint8), "PNG"), NoFace, "no face found"),
])
def test_what_is_not_a_photo_with_a_face_is_refused(chain, data, error, message):
    with pytest.raises(error, match=message):
        chain.find(data, "x")
