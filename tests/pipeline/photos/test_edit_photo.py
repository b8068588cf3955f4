"""`edit-photo`: one photo in, the edited photo out in its own size and format, pixels away from the face untouched; bad
input is one line, a non-zero exit and nothing written."""

import numpy as np
import pytest
from PIL import Image

from tests.cli import run_main
from tests.photos import ASTRONAUT, HOPPER, encoded, rgb

QUICK = ["--project.steps", "8", "--project.pool", "32"]  # the path, not the quality (tests/models/inversion measure that)


def test_one_photo_reconstructed_and_pasted_without_a_mapper(tmp_path, capsys):
    out = tmp_path / "hopper-out.jpg"
    rc, err = run_main(capsys, "edit-photo", str(HOPPER), "--out", str(out), *QUICK)
    assert rc == 0, err
    before, after = Image.open(HOPPER), Image.open(out)
    assert after.format == "JPEG" and after.size == before.size
    a, b = np.asarray(before.convert("RGB"), np.int16), np.asarray(after.convert("RGB"), np.int16)
    assert np.abs(a[450:] - b[450:]).mean() < 2  # the uniform and the flag: only JPEG's re-encoding
    assert np.abs(a[170:300, 220:320] - b[170:300, 220:320]).mean() > 4  # the face: the generator's reconstruction
    assert (tmp_path / "hopper-out.sheet.png").exists()


def test_the_edit_is_applied_and_reported(tiny_mapper, tmp_path, capsys):
    out = tmp_path / "astronaut-smiling.png"
    rc, err = run_main(capsys, "edit-photo", str(ASTRONAUT), "--mapper", tiny_mapper, "--delta", "smiling=-0.3", "--out", str(out), *QUICK)
    assert rc == 0, err
    after = np.asarray(Image.open(out))
    assert after.shape == rgb(ASTRONAUT).shape and Image.open(out).format == "PNG"
    assert (after[320:] == rgb(ASTRONAUT)[320:]).all()  # below the face: the photo's own pixels, exactly
    assert (tmp_path / "astronaut-smiling.sheet.png").exists()


@pytest.mark.parametrize("case", ["missing", "text", "empty", "no-face", "too-small", "delta-without-mapper", "bad-attribute"])
def test_bad_input_is_one_line_and_writes_nothing(case, tmp_path, capsys, request):
    out = tmp_path / "out.png"
    photo = tmp_path / "in.jpg"
    extra: list[str] = []
    if case == "missing":
        photo = tmp_path / "nowhere.jpg"
    elif case == "text":
        photo.write_text("not a photo")
    elif case == "empty":
        photo.write_bytes(b"")
    elif case == "no-face":
        photo.write_bytes(encoded(np.full((300, 400, 3), 120, np.uint8), "JPEG"))
    elif case == "too-small":
        small = np.asarray(Image.open(ASTRONAUT).convert("RGB").resize((96, 96)))
        photo.write_bytes(encoded(small, "JPEG"))
    elif case == "delta-without-mapper":
        photo.write_bytes(encoded(rgb(ASTRONAUT), "JPEG"))
        extra = ["--delta", "smiling=+0.3"]
    elif case == "bad-attribute":
        photo.write_bytes(encoded(rgb(ASTRONAUT), "JPEG"))
        extra = ["--mapper", request.getfixturevalue("tiny_mapper"), "--delta", "wisdom=+0.3"]
    rc, err = run_main(capsys, "edit-photo", str(photo), "--out", str(out), *QUICK, *extra)
    assert rc != 0
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), err
    expected = {"missing": "no photo at", "text": "not an image", "empty": "empty", "no-face": "no face found",
                "too-small": "px apart", "delta-without-mapper": "--delta needs a --mapper",
                "bad-attribute": "unknown attribute 'wisdom'"}[case]
    assert expected in lines[0]
    assert not out.exists() and not (tmp_path / "out.sheet.png").exists()
