"""Weights and exports from object storage (a real S3-compatible server): copied once, by content, never by
credentials; a missing object is a one-line error. Weight files are read without running code: a refused global is
named in one line whatever opcode or layout imports it; non-finite, integer or sparse tensors are refused by name."""

from __future__ import annotations

import argparse
import io
import pickle
import pickletools
import subprocess
from collections import OrderedDict

import pyarrow.fs as pafs
import pytest
import torch

from models.open import open_generator
from models.weights import CheckpointError, check_tensors, fetch, pickle_globals, torch_load
from tests.checkpoints import write_tiny_rosinality
from tests.payloads import TORCH_PAYLOADS, appeared, assert_one_clean_line, zip_with_pickle


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


@pytest.mark.parametrize("kind", sorted(TORCH_PAYLOADS))
def test_every_refused_payload_is_named_in_one_line_and_never_runs(kind, tmp_path):
    marker = tmp_path / "pwned"
    path, name = TORCH_PAYLOADS[kind](tmp_path, marker)
    with pytest.raises(CheckpointError) as err:
        torch_load(path, "weights")
    assert str(err.value).startswith(f"refusing to load {name}") and str(path) in str(err.value)
    assert str(err.value).endswith("weights files may only contain tensors and plain data")
    assert_one_clean_line(str(err.value))
    assert not appeared(marker, 0.2)


@pytest.mark.parametrize("kind", sorted(set(TORCH_PAYLOADS) - {"extension-code-zip"}))  # code 240 is registered nowhere
def test_the_payloads_run_code_when_torch_is_told_to_trust_them(kind, tmp_path):
    """Without the weights-only reading each payload runs (torch.load raises only after the code ran, for some): the
    refusals above guard against something real."""
    marker = tmp_path / "pwned"
    path, _ = TORCH_PAYLOADS[kind](tmp_path, marker)
    try:
        torch.load(path, map_location="cpu", weights_only=False)
    except Exception:
        pass
    assert appeared(marker, 5.0)


@pytest.mark.parametrize("data_pkl, reason", [
    (pickle.dumps({"a": 1}, protocol=4), "Unsupported operand 149"),  # FRAME: torch reads protocol 2 only
    (b"\x80\x02X\x01\x00\x00\x00xQ.", "persistent_load id must be tuple or int"),  # BINPERSID of a str
], ids=["protocol-4", "persistent-id-str"])
def test_what_torch_refuses_without_a_global_is_its_reason_in_one_clean_line(tmp_path, data_pkl, reason):
    path = zip_with_pickle(tmp_path / "odd.pt", data_pkl)
    with pytest.raises(CheckpointError) as err:
        torch_load(path, "weights")
    assert str(err.value).startswith(f"cannot read weights {path}: {reason}")
    assert_one_clean_line(str(err.value))


def test_stack_global_names_are_followed_through_the_memo():
    data = pickle.dumps([subprocess.Popen, subprocess.call, OrderedDict()], protocol=4)
    assert "BINGET" in {op.name for op, _, _ in pickletools.genops(data)}  # 'subprocess' the second time is a memo copy
    assert pickle_globals(io.BytesIO(data)) == ["subprocess.Popen", "subprocess.call", "collections.OrderedDict"]
    assert pickle_globals(io.BytesIO(pickle.dumps(set(), protocol=2))) == ["builtins.set"]  # __builtin__ read as Python 3 does


def test_a_class_loads_only_where_the_loader_allows_it(tmp_path):
    torch.save({"w": torch.ones(2), "args": argparse.Namespace(size=8)}, tmp_path / "ok.pt")
    with pytest.raises(CheckpointError, match="refusing to load argparse.Namespace"):
        torch_load(tmp_path / "ok.pt", "weights")
    got = torch_load(tmp_path / "ok.pt", "weights", safe=(argparse.Namespace,))
    assert torch.equal(got["w"], torch.ones(2)) and got["args"].size == 8


@pytest.mark.parametrize("value, problem", [
    (torch.tensor([1.0, float("nan")]), "holds NaN or Inf"),
    (torch.tensor([float("-inf")], dtype=torch.float16), "holds NaN or Inf"),
    (torch.tensor([1, 2]), "has dtype int64; weights must be floating point"),
    (torch.tensor([True]), "has dtype bool"),
    (torch.eye(3).to_sparse(), "is a sparse_coo tensor"),
    (torch.empty(3, device="meta"), "is a meta tensor"),
    ([1.0, 2.0], "is a list, not a tensor"),
])
def test_tensors_that_would_render_wrong_are_refused_by_name(value, problem):
    with pytest.raises(CheckpointError) as err:
        check_tensors({"ok": torch.zeros(2), "layer.weight": value}, "f.pt")
    assert str(err.value).startswith(f"f.pt: tensor 'layer.weight' {problem}") and "\n" not in str(err.value)
    check_tensors({"w": torch.zeros(2, dtype=torch.bfloat16), "bn.num_batches_tracked": torch.tensor(7)}, "f.pt")  # fine
