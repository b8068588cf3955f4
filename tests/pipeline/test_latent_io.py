"""Latents users bring: Parquet read row group by row group, fixed-size or plain lists, with or without ids."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.latent_io import load_latents


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
