"""Uploaded latents: read without pickle, shape-checked against the mapper, refused beyond the generator's scale,
one-line errors that say what the file is."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch

from models.generators.dcgan import load_dcgan
from pipeline.serve.faces import latent_bound, parse_source, parse_upload
from stages.latents import seed_z
from tests.checkpoints import tiny_stylegan2

BOUND = 50.0  # a DCGAN's latent_bound is about 44


def npy(arr: np.ndarray, allow_pickle: bool = False) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=allow_pickle)
    return buf.getvalue()


def test_w_plus_and_w_and_a_batch_of_one_fit():
    w = np.random.default_rng(0).standard_normal((4, 8)).astype(np.float64)
    assert np.array_equal(parse_upload(npy(w), (4, 8), 1 << 20, BOUND), w.astype(np.float32))
    assert np.array_equal(parse_upload(npy(w[None]), (4, 8), 1 << 20, BOUND), w.astype(np.float32))
    broadcast = parse_upload(npy(w[0]), (4, 8), 1 << 20, BOUND)  # one W for every layer
    assert broadcast.shape == (4, 8) and (broadcast == w[0].astype(np.float32)).all()
    assert parse_upload(npy(w[0]), (8,), 1 << 20, BOUND).dtype == np.float32


@pytest.mark.parametrize("data, message", [
    (b"", "empty"),
    (npy(np.array([{"a": 1}], dtype=object), allow_pickle=True), "pickle"),
    (b"\x80\x04K\x01." + b"x" * 100, "not a .npy file: it is a pickle"),  # a bare pickle, not even a .npy
    (b"\x93NUMPY\x01\x00garbage" + b"x" * 100, "not a readable .npy"),
    (b"PK\x03\x04" + b"x" * 100, "the uploaded file is not a .npy file: it is a zip archive"),
    (b"0.1 0.2 0.3\n0.4 0.5 0.6\n", "the uploaded file is not a .npy file: it is a text file"),
    (npy(np.zeros((3, 8))), "has shape (3, 8); this mapper edits latents of shape (4, 8) or a W latent (8,)"),
    (npy(np.full((4, 8), np.nan)), "NaN"),
    (npy(np.full(8, 1e30)), "holds a value of 1e+30; this generator's latents are refused beyond +-50"),
    (npy(np.array(["a", "b"])), "must hold numbers"),
    (npy(np.zeros((4000, 8))), "limit is 4096"),
])
def test_bad_uploads_are_one_line_errors(data, message):
    with pytest.raises(ValueError) as e:
        parse_upload(data, (4, 8), 4096, BOUND)
    assert message in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("source", ["seed", "seed:", "seed:-1", "seed:1e3", "row:abc", "file:/etc/passwd", "seed:99999999999"])
def test_unknown_sources_are_refused(source):
    with pytest.raises(ValueError):
        parse_source(source)
    assert parse_source("upload:ab12") == ("upload", "ab12") and parse_source("seed:42") == ("seed", "42")


@pytest.mark.parametrize("gen", [load_dcgan(), tiny_stylegan2(resolution=8, w_dim=16, n_mlp=2)], ids=["dcgan", "stylegan2"])
def test_the_bound_lets_the_generators_own_latents_through_and_refuses_absurd_ones(gen):
    bound = latent_bound(gen)
    with torch.inference_mode():
        own = gen.mapping(torch.from_numpy(seed_z(np.arange(5000, 5100), gen.z_dim))).numpy()  # seeds the bound never saw
    assert 3 * np.abs(own).max() < bound < 100 * np.abs(own).max()
    shape = (gen.w_dim,)
    for w in own:
        parse_upload(npy(w), shape, 1 << 20, bound)
    parse_upload(npy(own[0] * 5), shape, 1 << 20, bound)  # an inversion may wander well past the prior
    with pytest.raises(ValueError, match="refused beyond"):
        parse_upload(npy(np.full(shape, 1e30)), shape, 1 << 20, bound)
    with pytest.raises(ValueError, match="refused beyond"):
        parse_upload(npy(own[0] + 1.01 * bound * np.eye(gen.w_dim)[0]), shape, 1 << 20, bound)
