"""Weights and exports from object storage (a real S3-compatible server): copied once, by content, never by
credentials; a missing object is a one-line error."""

from __future__ import annotations

import pyarrow.fs as pafs
import pytest
import torch

from models.open import open_generator
from models.weights import CheckpointError, fetch
from tests.checkpoints import write_tiny_rosinality


@pytest.fixture()
def bucket(s3_server):
    uri = lambda key: f"s3://key:secret@bucket/{key}?{s3_server}"  # noqa: E731
    s3, _ = pafs.FileSystem.from_uri(uri("x"))
    s3.create_dir("bucket")
    return uri, s3


def test_generator_from_s3_renders_as_the_local_file(bucket, tmp_path, monkeypatch):
    monkeypatch.setattr("models.weights.CACHE", tmp_path / "cache")
    uri, s3 = bucket
    local = write_tiny_rosinality(tmp_path / "g.pt")
    pafs.copy_files(str(local), "bucket/models/g.pt", destination_filesystem=s3)
    remote = open_generator(uri("models/g.pt"))
    w = torch.randn(2, remote.w_dim)
    assert torch.equal(remote.synthesis(w), open_generator(str(local)).synthesis(w))
    assert remote.generator_id == open_generator(str(local)).generator_id
    copies = list((tmp_path / "cache").rglob("g.pt"))
    assert len(copies) == 1 and "secret" not in str(copies[0])
    assert fetch(uri("models/g.pt")) == copies[0]  # reused, not copied again


def test_a_directory_is_copied_whole_and_a_missing_one_is_one_line(bucket, tmp_path, monkeypatch):
    monkeypatch.setattr("models.weights.CACHE", tmp_path / "cache")
    uri, s3 = bucket
    for name in ("export/mapper.json", "export/sub/extra.bin"):
        with s3.open_output_stream(f"bucket/run/{name}") as f:
            f.write(name.encode())
    got = fetch(uri("run/export"))
    assert (got / "mapper.json").read_bytes() == b"export/mapper.json" and (got / "sub/extra.bin").is_file()
    with pytest.raises(CheckpointError) as e:
        fetch(uri("run/nothing"), "mapper export")
    assert "mapper export not found: s3://bucket/run/nothing" == str(e.value)
