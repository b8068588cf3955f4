"""The editor in-process over hand-made exports (no training, no server): an upload is bounded by the scale of the
generator the export names, measured once when the export loads; the refine control's critic steps."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch

from models.editors.mapper import Mapper, MapperConfig, save_mapper
from pipeline.edit.refine_config import RefineConfig
from pipeline.serve.config import ServeConfig
from pipeline.serve.editor import Editor


def npy(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr)
    return buf.getvalue()


def test_uploads_are_bounded_by_the_exports_generator(tmp_path):
    save_mapper(Mapper(MapperConfig(latent_shape=(100,), attributes=("smiling",), hidden=8)), tmp_path / "runs/hand/export",
                {"generator": None, "generator_id": "dcgan", "labelers": ["emotion"]})
    ed = Editor(ServeConfig(runs=str(tmp_path / "runs")))
    m = ed.load("hand")
    assert 40 < m.bound < 50  # the embedded DCGAN: 10 x the largest |z| over 1000 seeds (about 4.4)
    z = np.random.default_rng(0).standard_normal(100).astype(np.float32)
    assert ed.upload("hand", npy(z)).startswith("upload:")
    with pytest.raises(ValueError, match=r"holds a value of 1e\+30; this generator's latents are refused beyond \+-4\d"):
        ed.upload("hand", npy(np.full(100, 1e30)))
    with pytest.raises(ValueError, match="the uploaded file is not a .npy file: it is a text file"):
        ed.upload("hand", b" ".join(str(v).encode() for v in z))


def test_refine_takes_critic_steps_and_its_readings_reuse_them(tmp_path):
    from tests.pipeline.serve.conftest import hand_export

    hand_export(tmp_path / "runs/hand/export", critic=True)
    hand_export(tmp_path / "runs/plain/export", critic=False)
    ed = Editor(ServeConfig(runs=str(tmp_path / "runs"), refine=RefineConfig(steps=3)))
    once, _ = ed.edit("hand", "seed:1", {"smiling": 0.3})
    refined, image = ed.edit("hand", "seed:1", {"smiling": 0.3}, refine=3)
    assert not torch.equal(once, refined) and image.shape == (64, 64, 3)
    read = ed.readings("hand", "seed:1", {"smiling": 0.3}, refine=3)
    assert read["latent_dist"] == pytest.approx(float((refined - ed.face("hand", "seed:1").w).norm()))  # the same latent, not steps again
    assert read["after"]["smiling"] > ed.readings("hand", "seed:1", {"smiling": 0.3})["after"]["smiling"]
    with pytest.raises(ValueError, match=r"refine takes 0\.\.3 critic steps"):
        ed.edit("hand", "seed:1", {"smiling": 0.3}, refine=4)
    with pytest.raises(ValueError, match="needs a mapper trained with the ported critic"):
        ed.edit("plain", "seed:1", {"smiling": 0.3}, refine=1)


def test_critic_steps_work_whichever_route_loaded_the_models_first(tmp_path):
    """The face route runs in inference mode: models it loads first must still take the critic steps' gradients (a fresh
    clone's suite once asked /api/face before any edit and the steps failed on inference-mode weights)."""
    from tests.pipeline.serve.conftest import hand_export

    hand_export(tmp_path / "runs/hand/export", critic=True)
    ed = Editor(ServeConfig(runs=str(tmp_path / "runs"), refine=RefineConfig(steps=2)))
    ed.face("hand", "seed:2")  # loads the export, its judge and generator inside the route's inference mode
    refined, _ = ed.edit("hand", "seed:2", {"smiling": 0.3}, refine=2)
    assert torch.isfinite(refined).all()
