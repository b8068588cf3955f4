"""The edit job's input rows per output shard: from a dataset's Parquet shards and from columns in the object store."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from pipeline.shards import ShardSchema, parquet_bytes
from stages.edit_source import DatasetRows, ParquetRows, StoredRows, shard_rows

ATTRS = ("young", "smiling")


def _dataset(root: Path, start: int = 100, size: int = 16, n: int = 48) -> tuple[DatasetRows, dict[str, np.ndarray]]:
    """Three dataset shard files written by the dataset job's encoder; the source over them and every column."""
    g = np.random.default_rng(0)
    cols = {"seed": np.arange(start, start + n), "z": g.standard_normal((n, 8)), "w": g.standard_normal((n, 8)),
            "identity": g.standard_normal((n, 4)), **{a: g.random(n) for a in ATTRS}}
    schema = ShardSchema(ATTRS, 8, (8,), 4, "gen-test", "none")
    files = []
    for i in range(n // size):
        part = {k: v[i * size:(i + 1) * size][::-1] for k, v in cols.items()}  # the encoder sorts by seed
        path = root / f"shard-{i}.parquet"
        path.write_bytes(parquet_bytes(part, schema, i))
        files.append((str(path), i * size, (i + 1) * size))
    return DatasetRows(tuple(files), None, start, ATTRS, (8,), None, n), cols


def test_dataset_rows_span_shard_files_in_order_and_keep_only_the_edited_positions(tmp_path):
    """Output shards need not line up with the dataset's (16 rows a file here): positions 10..36 come from three
    files, in position order, with the labels and identity the dataset holds for each seed."""
    src, cols = _dataset(tmp_path)
    rows = src.rows(10, 37)
    assert rows["position"].tolist() == list(range(10, 37)) and rows["id"].tolist() == list(range(110, 137))
    np.testing.assert_array_equal(rows["w"], cols["w"][10:37].astype(np.float32))
    np.testing.assert_array_equal(rows["identity_src"], cols["identity"][10:37].astype(np.float32))
    np.testing.assert_array_equal(rows["src_smiling"], cols["smiling"][10:37].astype(np.float32))
    held = dataclasses.replace(src, holdout_every=10, stop=31).rows(0, 48)  # held-out seeds only, below the --max-rows stop
    assert held["id"].tolist() == [100, 110, 120, 130] and held["w"].shape == (4, 8)
    empty = src.rows(48, 64)
    assert len(empty["position"]) == 0 and empty["w"].shape == (0, 8)


def test_stored_rows_slice_by_position_and_shard_rows_cut_chunks():
    cols = {"id": np.arange(100, 137), "w": np.arange(37 * 4, dtype=np.float32).reshape(37, 4)}
    rows = StoredRows(cols).rows(32, 64)  # the last shard is short
    assert rows["position"].tolist() == list(range(32, 37)) and rows["id"].tolist() == list(range(132, 137))
    batches = list(shard_rows({"index": np.array([0, 1])}, StoredRows(cols), size=32, chunk=12))
    assert [len(b["position"]) for b in batches] == [12, 12, 8, 5]
    np.testing.assert_array_equal(np.concatenate([b["w"] for b in batches]), cols["w"])


def test_parquet_rows_read_only_the_row_groups_of_a_shard(tmp_path):
    """A user's Parquet file read by the workers: positions 10..36 span three 16-row groups; W+ rows kept flat in the
    file come back in the mapper's shape; ids from the file's column (or the position), labels as src_<attr>."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    g = np.random.default_rng(1)
    w, young = g.standard_normal((50, 2, 3)).astype(np.float32), g.random(50, dtype=np.float32)
    table = pa.table({"id": np.arange(50) + 1000, "w": pa.FixedSizeListArray.from_arrays(pa.array(w.reshape(-1)), 6), "young": young})
    pq.write_table(table, tmp_path / "w.parquet", row_group_size=16)
    src = ParquetRows(str(tmp_path / "w.parquet"), (0, 16, 32, 48, 50), (2, 3), ("young",), True, 50)
    rows = src.rows(10, 37)
    assert rows["position"].tolist() == list(range(10, 37)) and rows["id"].tolist() == list(range(1010, 1037))
    np.testing.assert_array_equal(rows["w"], w[10:37])
    np.testing.assert_array_equal(rows["src_young"], young[10:37])
    tail = dataclasses.replace(src, ids=False, attrs=(), stop=45).rows(40, 64)  # --max-rows 45
    assert tail["id"].tolist() == list(range(40, 45)) and tail["w"].shape == (5, 2, 3) and "src_young" not in tail
    assert len(src.rows(50, 64)["position"]) == 0 and src.rows(50, 64)["w"].shape == (0, 2, 3)
    batches = list(shard_rows({"index": np.array([0, 1])}, src, size=25, chunk=10))
    assert [len(b["position"]) for b in batches] == [10, 10, 5, 10, 10, 5]
