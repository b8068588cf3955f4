"""`--invert encoder`: the latents come from a table (a user's encoder, or an earlier run), keyed by photo name and face;
the chain renders exactly those latents, a face without one is a row with its own status, bad tables are one line."""

import os

import numpy as np
import pandas as pd
import pytest

from pipeline.photos.config import EditPhotoConfig
from pipeline.photos.job import photo_stages, plan_photos
from stages.faces import OK, photo_batch
from tests.cli import run_main
from tests.photos import ASTRONAUT, HOPPER


def chain(cfg: EditPhotoConfig, paths: list) -> dict:
    """Decode, find, invert (no edit): the rows the photos job writes, for these photos."""
    from models.inversion.config import ProjectConfig

    cfg = EditPhotoConfig(**{**cfg.__dict__, "project": ProjectConfig(steps=8, pool=32)})
    plan = plan_photos(cfg)
    batch = photo_batch([open(p, "rb").read() for p in paths], [os.path.basename(p) for p in paths])
    for stage, kwargs in photo_stages(cfg, plan)[:3]:
        batch = stage(**kwargs, device="cpu")(batch) if isinstance(stage, type) else stage(batch, **kwargs)
    return batch


def test_given_latents_render_as_the_inversion_that_made_them(tmp_path):
    first = chain(EditPhotoConfig(photo="x"), [str(ASTRONAUT), str(HOPPER)])
    ok = first["status"] == OK
    table = pd.DataFrame({"name": first["name"][ok], "face": first["face"][ok], "w": list(first["w"][ok])})
    table.iloc[:1].to_parquet(tmp_path / "latents.parquet")  # the astronaut's only: Grace Hopper has none
    again = chain(EditPhotoConfig(photo="x", invert="encoder", latents=str(tmp_path / "latents.parquet")), [str(ASTRONAUT), str(HOPPER)])
    assert list(again["status"]) == [OK, "no-latent"] and "has no latent for grace_hopper.jpg face 0" in again["message"][1]
    assert np.array_equal(again["w"][0], first["w"][0])
    assert np.abs(again["recon"][0].astype(int) - first["recon"][0].astype(int)).max() <= 1  # the same latent, rendered
    assert again["psnr"][0] == pytest.approx(first["psnr"][0], abs=0.1)


def test_a_table_that_does_not_fit_is_one_line_before_any_photo_is_read(tmp_path, capsys):
    pd.DataFrame({"name": ["astronaut.png"], "face": [0], "w": [np.zeros(7, np.float32)]}).to_parquet(tmp_path / "short.parquet")
    pd.DataFrame({"name": ["astronaut.png"], "latent": [np.zeros(100, np.float32)]}).to_parquet(tmp_path / "nocol.parquet")
    for table, said in (("short.parquet", "has 7 numbers, this generator and mapper take 100"), ("nocol.parquet", "no column face, w"),
                        ("missing.parquet", "no such file or photos output")):
        out = tmp_path / "out.png"
        rc, err = run_main(capsys, "edit-photo", str(ASTRONAUT), "--invert", "encoder", "--latents", str(tmp_path / table), "--out", str(out))
        assert rc == 2 and said in err and len(err.strip().splitlines()) == 1 and not out.exists(), err
    rc, err = run_main(capsys, "edit-photo", str(ASTRONAUT), "--invert", "encoder", "--out", str(tmp_path / "o.png"))
    assert rc == 2 and "--latents" in err
