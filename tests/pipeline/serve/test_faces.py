"""Uploaded latents: read without pickle, shape-checked against the mapper, one-line errors."""

from __future__ import annotations

import io

import numpy as np
import pytest

from pipeline.serve.faces import parse_source, parse_upload


def npy(arr: np.ndarray, allow_pickle: bool = False) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=allow_pickle)
    return buf.getvalue()


def test_w_plus_and_w_and_a_batch_of_one_fit():
    w = np.random.default_rng(0).standard_normal((4, 8)).astype(np.float64)
    assert np.array_equal(parse_upload(npy(w), (4, 8), 1 << 20), w.astype(np.float32))
    assert np.array_equal(parse_upload(npy(w[None]), (4, 8), 1 << 20), w.astype(np.float32))
    broadcast = parse_upload(npy(w[0]), (4, 8), 1 << 20)  # one W for every layer
    assert broadcast.shape == (4, 8) and (broadcast == w[0].astype(np.float32)).all()
    assert parse_upload(npy(w[0]), (8,), 1 << 20).dtype == np.float32


@pytest.mark.parametrize("data, message", [
    (b"", "empty"),
    (npy(np.array([{"a": 1}], dtype=object), allow_pickle=True), "pickle"),
    (b"\x80\x04K\x01." + b"x" * 100, "pickle"),  # a bare pickle, not even a .npy
    (b"\x93NUMPY\x01\x00garbage" + b"x" * 100, "not a readable .npy"),
    (b"PK\x03\x04" + b"x" * 100, "not a readable .npy"),
    (npy(np.zeros((3, 8))), "has shape (3, 8); this mapper edits latents of shape (4, 8) or a W latent (8,)"),
    (npy(np.full((4, 8), np.nan)), "NaN"),
    (npy(np.array(["a", "b"])), "must hold numbers"),
    (npy(np.zeros((4000, 8))), "limit is 4096"),
])
def test_bad_uploads_are_one_line_errors(data, message):
    with pytest.raises(ValueError) as e:
        parse_upload(data, (4, 8), 4096)
    assert message in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("source", ["seed", "seed:", "seed:-1", "seed:1e3", "row:abc", "file:/etc/passwd", "seed:99999999999"])
def test_unknown_sources_are_refused(source):
    with pytest.raises(ValueError):
        parse_source(source)
    assert parse_source("upload:ab12") == ("upload", "ab12") and parse_source("seed:42") == ("seed", "42")
