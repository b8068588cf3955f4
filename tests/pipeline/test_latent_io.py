"""Latents users bring: Parquet read row group by row group, fixed-size or plain lists, with or without ids; .pt files
read with weights only (a payload is refused by name), files of the wrong kind named as what they are, in one line."""

from __future__ import annotations

import pickle

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from pipeline.latent_io import load_latents
from tests.cli import run_main
from tests.payloads import TORCH_PAYLOADS, appeared, assert_one_clean_line


def test_parquet_row_groups_fill_one_array_with_ids_and_label_columns(tmp_path):
    w = np.random.default_rng(0).standard_normal((50, 6)).astype(np.float32)
    table = pa.table({"id": np.arange(50) + 7, "w": pa.FixedSizeListArray.from_arrays(pa.array(w.reshape(-1)), 6),
                      "young": pa.array(np.linspace(0, 1, 50, dtype=np.float32)), "name": [f"f{i}" for i in range(50)]})
    pq.write_table(table, tmp_path / "a.parquet", row_group_size=16)  # 4 row groups, the last one short
    ids, lat, extra = load_latents(str(tmp_path / "a.parquet"))
    np.testing.assert_array_equal(lat, w)
    assert ids.tolist() == list(range(7, 57)) and set(extra) == {"young"} and np.allclose(extra["young"], np.linspace(0, 1, 50))


def test_parquet_plain_lists_without_ids_and_a_missing_column(tmp_path):
    w = np.random.default_rng(1).standard_normal((5, 3)).astype(np.float32)
    pq.write_table(pa.table({"w": pa.array(w.tolist(), pa.list_(pa.float32()))}), tmp_path / "b.parquet", row_group_size=2)
    ids, lat, _ = load_latents(str(tmp_path / "b.parquet"))
    assert ids.tolist() == [0, 1, 2, 3, 4]
    np.testing.assert_array_equal(lat, w)
    pq.write_table(pa.table({"z": [1.0]}), tmp_path / "c.parquet")
    with pytest.raises(ValueError, match="has no 'w' column"):
        load_latents(str(tmp_path / "c.parquet"))


def test_the_footer_says_what_the_file_holds_and_a_scan_finds_every_nonfinite_latent(tmp_path):
    """What the edit job learns before its workers read the rows: row groups, latent size, ids, label columns;
    then NaN and Inf rows, found one row group at a time (a row of huge finite values is not one of them)."""
    from pipeline.latent_io import nonfinite_rows, parquet_layout

    w = np.random.default_rng(2).standard_normal((40, 4)).astype(np.float32)
    w[3, 1], w[17, 0], w[39, 3] = np.nan, np.inf, -np.inf
    w[20] = 3e38  # finite, but its sum overflows
    table = pa.table({"w": pa.FixedSizeListArray.from_arrays(pa.array(w.reshape(-1)), 4), "male": pa.array(np.zeros(40, np.float32)),
                      "tag": pa.array(np.arange(40))})
    pq.write_table(table, tmp_path / "a.parquet", row_group_size=16)
    layout = parquet_layout(tmp_path / "a.parquet")
    assert layout.starts == (0, 16, 32, 40) and layout.rows == 40 and layout.size == 4
    assert not layout.ids and layout.labels == ("male",)  # integer columns are not labels
    assert nonfinite_rows(tmp_path / "a.parquet") == (3, [3, 17, 39])
    assert nonfinite_rows(tmp_path / "a.parquet", limit=2) == (3, [3, 17])
    pq.write_table(pa.table({"w": pa.array([[1.0, 2.0]], pa.list_(pa.float32()))}), tmp_path / "b.parquet")
    assert parquet_layout(tmp_path / "b.parquet").size is None  # plain lists: the driver reads them
    (tmp_path / "c.parquet").write_bytes(b"not parquet")
    with pytest.raises(ValueError, match="cannot read latents from"):
        parquet_layout(tmp_path / "c.parquet")


@pytest.mark.parametrize("kind", sorted(TORCH_PAYLOADS))
def test_latents_that_import_code_are_refused_by_name_and_never_run(tmp_path, kind):
    marker = tmp_path / "pwned"
    path, name = TORCH_PAYLOADS[kind](tmp_path, marker)
    with pytest.raises(ValueError) as err:
        load_latents(str(path))
    assert str(err.value).startswith(f"refusing to load {name} from {path}")
    assert_one_clean_line(str(err.value))
    assert not appeared(marker, 0.2)


def write(path, obj):
    """Save a latents file: numpy's or torch's format, as the suffix says; bytes as they are."""
    if isinstance(obj, bytes):
        path.write_bytes(obj)
    elif path.suffix == ".npy":
        np.save(path, obj, allow_pickle=True)
    else:
        torch.save(obj, path)
    return str(path)


@pytest.mark.parametrize("name, obj, message", [
    ("strings.pt", {"a": "x", "b": "y"}, "holds a dict whose entry 'a' is a str, not a latent tensor"),
    ("empty.pt", {}, "holds an empty dict, not latents"),
    ("list.pt", [1.0, 2.0], "holds a list, not a latent tensor or a dict of them"),
    ("sparse.pt", torch.eye(4).to_sparse(), "holds a sparse, quantized, nested or meta tensor"),
    ("bool.pt", torch.ones(2, 4, dtype=torch.bool), "got bool (2, 4)"),
    ("text.npy", b"0.1 0.2 0.3\n0.4 0.5 0.6\n", "is not a .npy file: it is a text file"),
    ("pickled.npy", pickle.dumps(np.zeros((2, 4))), "is not a .npy file: it is a pickle"),
    ("objects.npy", np.array([{"a": 1}], dtype=object), "holds Python objects"),
    ("archive.npy", b"PK\x03\x04" + b"x" * 60, "is not a .npy file: it is a zip archive"),
])
def test_latent_files_of_the_wrong_kind_say_what_they_hold(tmp_path, name, obj, message):
    path = write(tmp_path / name, obj)
    with pytest.raises(ValueError) as err:
        load_latents(path)
    assert message in str(err.value) and path in str(err.value) and "\n" not in str(err.value)


def test_the_edit_command_refuses_them_in_one_line_and_writes_nothing(tmp_path, capsys):
    """Through the CLI's entry point: exit code 2 and one line naming the file, before Ray starts or --out exists."""
    from models.editors.mapper import Mapper, MapperConfig, save_mapper

    export = save_mapper(Mapper(MapperConfig(latent_shape=(4,), attributes=("young",), hidden=8)), tmp_path / "export",
                         {"generator_id": "g", "dataset": "d"})
    nan = np.zeros((3, 4), np.float32)
    nan[1, 2] = np.nan
    cases = {TORCH_PAYLOADS["popen-zip"](tmp_path, tmp_path / "pwned")[0]: "refusing to load subprocess.Popen from",
             write(tmp_path / "strings.pt", {"a": "x"}): "holds a dict whose entry 'a' is a str",
             write(tmp_path / "nan.pt", torch.from_numpy(nan)): "1 latents in",
             write(tmp_path / "notes.npy", b"hello\n"): "is not a .npy file: it is a text file"}
    for path, message in cases.items():
        rc, err = run_main(capsys, "edit", "--mapper", str(export), "--latents", str(path), "--delta", "young=0.1",
                           "--out", str(tmp_path / "out"))
        assert rc == 2 and message in err, err
        assert err.count("\n") == 1 and str(path) in err and "Traceback" not in err
    assert not (tmp_path / "out").exists() and not (tmp_path / "pwned").exists()
