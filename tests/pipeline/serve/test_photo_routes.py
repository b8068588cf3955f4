"""The photo routes against a real server: a photo uploaded, its inversion's progress followed to the end, edited and
downloaded in its own size and format; bad uploads are one line and a 4xx, and the server keeps serving."""

from __future__ import annotations

import base64
import io
import time
import urllib.parse

import numpy as np
import pytest
from PIL import Image

from tests.photos import ASTRONAUT, encoded, rgb
from tests.pipeline.serve.conftest import PHOTO_LIMIT, call

pytestmark = pytest.mark.timeout(600)


def upload(server, data: bytes, name: str = "astronaut.png") -> tuple[int, dict]:
    return call(server["url"] + "/api/photo?" + urllib.parse.urlencode({"mapper": server["mapper"], "name": name}), data)


def finished(server, photo_id: str, timeout: float = 300) -> dict:
    """The progress route polled until the inversion is done (its stages must only move forward in steps)."""
    t0, last = time.monotonic(), None
    while time.monotonic() - t0 < timeout:
        status, p = call(f"{server['url']}/api/photo/{photo_id}/progress")
        assert status == 200 and set(p) >= {"stage", "step", "steps", "seconds", "done"}, p
        assert 0 <= p["step"] <= p["steps"] or p["steps"] == 0
        if last and last["stage"] == p["stage"]:
            assert p["step"] >= last["step"] and p["seconds"] >= last["seconds"]
        if p["done"]:
            return p
        last = p
        time.sleep(0.05)
    raise AssertionError(f"the inversion did not finish in {timeout} s: {last}")


def edit_query(refine: int = 0, **changes: float) -> str:
    return urllib.parse.urlencode({"change": [f"{k}={v:+.4f}" for k, v in changes.items()], "refine": refine}, doseq=True)


def pixels(data_url: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(data_url.split(",", 1)[1]))))


def test_upload_progress_edit_and_download(quick_server):
    url = quick_server["url"]
    status, up = upload(quick_server, ASTRONAUT.read_bytes())
    assert status == 200 and up["faces"] == 1 and (up["width"], up["height"], up["format"]) == (512, 512, "png"), up
    done = finished(quick_server, up["id"])
    assert set(done["start"]) == {"young", "smiling"} and done["faces"][0]["face"] == 0 and done["faces"][0]["psnr"] > 0
    same = call(f"{url}/api/photo/{up['id']}/edit?{edit_query()}")[1]
    status, edited = call(f"{url}/api/photo/{up['id']}/edit?{edit_query(smiling=-0.3)}")
    assert status == 200 and edited["refine"] == 0 and edited["seconds"] > 0, edited
    face = edited["faces"][0]
    assert set(face["readings"]["smiling"]) == {"photo", "reconstruction", "render", "output"}
    assert 0 < face["photo_sface"] <= 1 and face["readings"]["smiling"]["reconstruction"] == pytest.approx(done["start"]["smiling"])
    assert not np.array_equal(pixels(edited["image"]), pixels(same["image"])), "the edit did not change the photo"
    status, data = call(f"{url}/api/photo/{up['id']}/download?{edit_query(smiling=-0.3)}")
    out = Image.open(io.BytesIO(data))
    assert status == 200 and out.format == "PNG" and out.size == (512, 512)
    assert (np.asarray(out.convert("RGB"))[320:] == rgb(ASTRONAUT)[320:]).all()  # below the face: the photo's own pixels


def test_a_jpeg_comes_back_a_jpeg_of_its_size(quick_server):
    photo = encoded(np.asarray(Image.open(ASTRONAUT).convert("RGB").resize((400, 400))), "JPEG", quality=90)
    status, up = upload(quick_server, photo, "me.jpg")
    assert status == 200, up
    finished(quick_server, up["id"])
    status, data = call(f"{quick_server['url']}/api/photo/{up['id']}/download?{edit_query(smiling=0.2)}")
    assert status == 200 and Image.open(io.BytesIO(data)).format == "JPEG" and Image.open(io.BytesIO(data)).size == (400, 400)


def bad_photos() -> dict[str, tuple[bytes, int, str]]:
    grey = encoded(np.full((300, 400, 3), 120, np.uint8), "JPEG")
    small = encoded(np.asarray(Image.open(ASTRONAUT).convert("RGB").resize((96, 96))), "JPEG")
    return {"over the limit": (b"\xff" * (PHOTO_LIMIT + 1), 413, "larger than the limit of"),
            "a text file": (b"this is not a photo\n" * 20, 400, "not an image Pillow can read"),
            "an empty file": (b"", 400, "the file is empty"),
            "no face": (grey, 422, "no face found"),
            "a face too small": (small, 422, "px apart")}


@pytest.mark.parametrize("case", list(bad_photos()))
def test_a_bad_upload_is_one_line_and_the_server_keeps_serving(quick_server, case):
    data, code, message = bad_photos()[case]
    status, body = upload(quick_server, data)
    assert status == code and list(body) == ["error"] and message in body["error"] and "\n" not in body["error"], body
    assert call(quick_server["url"] + "/api/mappers")[0] == 200


def test_unknown_photos_and_bad_edits_are_one_line(quick_server):
    url = quick_server["url"]
    status, body = call(f"{url}/api/photo/0123456789abcdef/progress")
    assert status == 404 and "no longer kept" in body["error"]
    status, up = upload(quick_server, ASTRONAUT.read_bytes())
    finished(quick_server, up["id"])
    for query, message in ((edit_query(smiling=5.0), "smiling"), (edit_query(99, smiling=0.1), "refine takes 0..6 critic steps")):
        status, body = call(f"{url}/api/photo/{up['id']}/edit?{query}")
        assert status == 400 and message in body["error"] and "\n" not in body["error"], (query, body)


def test_refine_takes_critic_steps_on_a_photo(quick_server):
    """`hand` records the ported critic: its refine control moves the edit further than the mapper's one pass."""
    url = quick_server["url"]
    offered = {m["id"]: m["refine_max"] for m in call(url + "/api/mappers")[1]}
    assert offered == {"hand": 6, "plain": 0}  # plain: the page's control is off
    status, up = upload(quick_server, ASTRONAUT.read_bytes())
    finished(quick_server, up["id"])
    once = call(f"{url}/api/photo/{up['id']}/edit?{edit_query(0, smiling=0.3)}")[1]
    refined = call(f"{url}/api/photo/{up['id']}/edit?{edit_query(4, smiling=0.3)}")[1]
    before, after = (e["faces"][0]["readings"]["smiling"]["render"] for e in (once, refined))
    assert refined["refine"] == 4 and after > before + 0.05, (before, after)
    assert not np.array_equal(pixels(refined["image"]), pixels(once["image"]))


def test_refine_is_refused_without_the_ported_critic(quick_server):
    status, up = upload({**quick_server, "mapper": quick_server["plain"]}, ASTRONAUT.read_bytes())
    finished(quick_server, up["id"])
    status, body = call(f"{quick_server['url']}/api/photo/{up['id']}/edit?{edit_query(2, smiling=0.1)}")
    assert status == 400 and "needs a mapper trained with the ported critic" in body["error"], body
