"""models/open.py: what a stage on a GPU runs. Off the CPU the labelers and the embedder are the exact torch
ports; `port=True` runs that path here, on the CPU, where it must agree with the black boxes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from models.open import open_embedder, open_generator, open_labeler
from tests.faces import dcgan_faces

FRAMING = open_generator(None).framing


@pytest.mark.parametrize("name, atol", [("age-gender", {"age": 0.05, "young": 1e-3, "male": 1e-3}), ("emotion", None)])
def test_a_gpu_labeler_is_the_port_and_reads_like_the_black_box(name, atol):
    faces = dcgan_faces(16, 3)
    black, port = open_labeler(name, FRAMING), open_labeler(name, FRAMING, port=True)
    assert port.labeler_id == black.labeler_id and tuple(port.attributes) == tuple(black.attributes)
    ref, ours = black(faces), port(faces)
    for k in black.attributes:
        assert ours[k].dtype == np.float32 and ours[k].shape == (16,)
        np.testing.assert_allclose(ours[k], ref[k], atol=(atol or {}).get(k, 1e-4), err_msg=k)


def test_a_gpu_embedder_is_the_port_and_embeds_like_the_black_box():
    faces = dcgan_faces(8, 5)
    black, port = open_embedder("sface", FRAMING), open_embedder("sface", FRAMING, port=True)
    assert port.embedder_id == black.embedder_id and port.dim == black.dim
    assert np.all(np.sum(port(faces) * black(faces), axis=1) > 0.99)


def test_arcface_opens_from_a_user_checkpoint_and_bad_names_are_one_line(tmp_path):
    from tests.arcface_ckpt import write_tiny_arcface

    path = write_tiny_arcface(tmp_path / "model_ir_se.pth")
    emb = open_embedder(f"arcface:{path}", FRAMING)
    out = emb(dcgan_faces(3, 2))
    assert out.shape == (3, emb.dim) and np.allclose(np.linalg.norm(out, axis=1), 1, atol=1e-5)
    for bad in ("arcface:", "facenet"):
        with pytest.raises(ValueError, match="unknown identity embedder"):
            open_embedder(bad, FRAMING)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_gpu_stages_put_their_models_on_cuda():
    faces = dcgan_faces(4, 1).cuda()
    assert next(open_labeler("age-gender", FRAMING, "cuda").net.parameters()).is_cuda
    assert next(open_labeler("emotion", FRAMING, "cuda").net.parameters()).is_cuda
    assert open_embedder("sface", FRAMING, "cuda")(faces).shape == (4, 128)


def test_a_generator_opened_with_a_noise_mode_renders_with_it_where_a_call_names_none(tmp_path):
    """The dataset's noise mode travels (pipeline/made_with.py): the judge and the critic render with it without naming it."""
    from tests.checkpoints import write_tiny_rosinality

    path = str(write_tiny_rosinality(tmp_path / "g.pt"))
    w = open_generator(path).mapping(torch.randn(2, 64, generator=torch.Generator().manual_seed(0)))
    plain, none = open_generator(path), open_generator(path, noise_mode="none")
    assert torch.equal(none.synthesis(w), plain.synthesis(w, noise_mode="none"))
    assert not torch.allclose(none.synthesis(w), plain.synthesis(w))  # the default stays const
    with pytest.raises(ValueError, match="unknown noise mode 'loud'"):
        open_generator(None, noise_mode="loud")
