"""Reading a manifest: one line naming the file for one cut short, of another kind, or without the fields readers
rely on (verify, edit --dataset); never a KeyError or a JSON parser's bare message."""

from __future__ import annotations

import json
import shutil

import pytest

from pipeline.manifest import read_manifest, verify_manifest
from tests.cli import run_main


@pytest.fixture()
def copy(tiny_data, tmp_path):
    out = tmp_path / "ds"
    shutil.copytree(tiny_data["dataset"], out)
    return out


def rewrite(ds, edit) -> dict:
    doc = json.loads((ds / "manifest.json").read_text())
    edit(doc)
    (ds / "manifest.json").write_text(json.dumps(doc))
    return doc


@pytest.mark.parametrize("damage, message", [
    (lambda d: d.pop("shards"), "manifest.json lacks 'shards': not a complete manifest"),
    (lambda d: d.pop("seeds"), "manifest.json lacks 'seeds'"),
    (lambda d: d["shards"][0].pop("files"), "manifest.json has malformed shard entries"),
    (lambda d: d.update(format="other/1"), "manifest.json is not a latent2latent-dataset/1"),
])
def test_an_incomplete_manifest_is_one_line_for_every_reader(damage, message, copy, tiny_mapper, tmp_path, capsys):
    rewrite(copy, damage)
    with pytest.raises(ValueError, match=message):
        read_manifest(str(copy))
    for argv in (["verify", str(copy)], ["edit", "--mapper", tiny_mapper, "--dataset", str(copy), "--delta", "young=0.1",
                                         "--out", str(tmp_path / "e")]):
        rc, err = run_main(capsys, *argv)
        assert rc == 2 and message in err and len(err.strip().splitlines()) == 1, err


def test_a_manifest_cut_short_names_its_file(copy, capsys):
    text = (copy / "manifest.json").read_text()
    (copy / "manifest.json").write_text(text[: len(text) // 2])
    rc, err = run_main(capsys, "verify", str(copy))
    assert rc == 2 and f"{copy}/manifest.json is not valid JSON" in err and len(err.strip().splitlines()) == 1, err


def test_verify_finds_nan_latents_even_where_the_bytes_match_the_manifest(copy, capsys):
    """A shard written by an older version (NaN w, black faces) whose manifest matches it: verify no longer says OK."""
    import hashlib

    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = copy / "parquet" / "shard-000000.parquet"
    table = pq.read_table(path)
    w = np.stack(table.column("w").to_numpy(zero_copy_only=False)).astype(np.float32)
    w[[1, 5], 0] = np.nan
    i = table.column_names.index("w")
    pq.write_table(table.set_column(i, "w", pa.array(list(w), type=table.schema.field("w").type)), path)
    data = path.read_bytes()
    rewrite(copy, lambda d: d["shards"][0]["files"]["parquet"].update(bytes=len(data), sha256=hashlib.sha256(data).hexdigest()))
    assert verify_manifest(str(copy)) == ["parquet/shard-000000.parquet: 2 rows hold NaN or Inf in 'w'"]
    assert run_main(capsys, "verify", str(copy))[0] == 1
