"""The dataset and edit jobs' shared skeleton without Ray: which shards count as written, what an earlier run
left, and that a finished output starts nothing (the Ray runs themselves: dataset/test_job.py, edit/test_job.py)."""

import numpy as np
import pytest

from pipeline import names
from pipeline.sharded_job import committed, earlier_output, run_to_end
from pipeline.shards import EditLayout, ShardPlan, ShardTask, write_shard
from pipeline.storage import Store


def _write(store: Store, layout, i: int) -> dict:
    return write_shard(store, i, {"parquet": b"p%d" % i, "wds": b"w%d" % i}, layout.expected(i), layout.bounds(i))


def test_committed_keeps_whole_shards_and_rewrites_a_grown_last_one(tmp_path):
    store, plan = Store(str(tmp_path)), ShardPlan(seed_start=0, num_samples=10, size=4)
    for i in plan.indices():
        _write(store, plan, i)
    assert sorted(committed(store, plan)) == [0, 1, 2]
    grown = ShardPlan(seed_start=0, num_samples=11, size=4)  # the last shard now holds seeds 8..10
    assert sorted(committed(store, grown)) == [0, 1]
    (tmp_path / names.tar_path(1)).unlink()  # a marker whose file is gone does not count
    assert sorted(committed(store, plan)) == [0, 2]


def test_committed_skips_empty_edit_shards_and_checks_row_counts(tmp_path):
    store, layout = Store(str(tmp_path)), EditLayout(size=8, counts=(3, 0, 5), variants=2)
    assert layout.indices() == [0, 2]
    for i in layout.indices():
        _write(store, layout, i)
    assert sorted(committed(store, layout)) == [0, 2]
    assert sorted(committed(store, EditLayout(size=8, counts=(3, 0, 5), variants=3))) == []  # other row counts


def test_earlier_output_resumes_refuses_or_leaves_overwrite_to_the_job(tmp_path):
    store = Store(str(tmp_path))
    different = lambda old: f"made with {old['config_hash']}"  # noqa: E731
    assert earlier_output(store, False, "abc", different, "dataset") is None  # nothing there
    store.write_json(names.CONFIG, {"kind": "dataset", "config_hash": "abc"})
    assert earlier_output(store, False, "abc", different, "dataset") is None  # started, not finished: resume
    with pytest.raises(ValueError, match="^made with abc$"):
        earlier_output(store, False, "xyz", different, "dataset")
    manifest = {"format": "latent2latent-dataset/1", "num_rows": 0, "shards": [], "seeds": [0, 0], "latent_shape": [1],
                "attributes": [], "generator_id": "g", "config_hash": "abc"}
    store.write_json(names.MANIFEST, manifest)
    assert earlier_output(store, False, "abc", different, "dataset") == manifest
    # --overwrite: only checked to be an earlier dataset here; the job removes it once its inputs checked out
    assert earlier_output(store, True, "xyz", different, "dataset") is None and store.exists(names.MANIFEST)
    with pytest.raises(ValueError, match="not an earlier `edit` output"):
        earlier_output(store, True, "xyz", different, "edit")


def test_run_to_end_builds_nothing_when_every_shard_is_written(tmp_path):
    store, plan = Store(str(tmp_path)), ShardPlan(seed_start=0, num_samples=8, size=4)
    done = {i: _write(store, plan, i) for i in plan.indices()}

    def build(todo):
        raise AssertionError(f"built a Ray chain for {todo} with nothing to write")

    assert run_to_end(build, plan, done, "dataset") == 0


class _Double:
    """A stage for ShardTask: doubles `x`, remembers the batch sizes it was given."""

    def __init__(self, device: str) -> None:
        self.sizes: list[int] = []

    def __call__(self, batch: dict) -> dict:
        self.sizes.append(len(batch["x"]))
        return {**batch, "x": batch["x"] * 2}


class _Rows:
    def __init__(self, n: int, drop: int = 0) -> None:
        self.n, self.drop = n, drop

    def rows(self, lo: int, hi: int) -> dict:
        pos = np.arange(lo, min(hi, self.n) - self.drop)
        return {"position": pos, "x": pos.astype(np.float32)}


def test_a_shard_task_reads_maps_in_batches_and_commits_each_shard_or_refuses_a_short_one(tmp_path):
    """ShardTask without Ray: rows from the source by the layout's bounds, the stage batch by batch, the shard written
    and its stats returned; a source that yields fewer rows than the layout expects commits nothing."""
    import json

    layout = EditLayout(size=8, counts=(8, 3), variants=1)
    encode = lambda rows, i: {"parquet": rows["x"].tobytes()}  # noqa: E731
    task = ShardTask(str(tmp_path), layout, encode, _Rows(11), _Double, {}, batch_size=3, device="cpu")
    out = task({"index": np.array([0, 1])})
    assert out["shard"].tolist() == [0, 1] and task.stage.sizes == [3, 3, 2, 3]
    assert [json.loads(s)["rows"] for s in out["stats"]] == [8, 3]
    assert np.frombuffer((tmp_path / names.parquet_path(1)).read_bytes(), np.float32).tolist() == [16, 18, 20]
    short = ShardTask(str(tmp_path / "short"), layout, encode, _Rows(11, drop=1), _Double, {}, batch_size=3, device="cpu")
    with pytest.raises(RuntimeError, match="shard 1: 2 rows from its input, 3 expected"):
        short({"index": np.array([1])})
    assert committed(Store(str(tmp_path / "short")), layout) == {}
