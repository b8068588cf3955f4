"""The batch editing job on a real local Ray: determinism, sweeps, bad input, S3 round trip (moto server)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.config import StageResources
from pipeline.edit.config import EditConfig, variants
from pipeline.edit.refine_config import RefineConfig
from tests.cli import run_main

pytestmark = pytest.mark.timeout(600)
REPO = Path(__file__).resolve().parents[3]


def edits(out: str, filesystem=None) -> pd.DataFrame:
    """An edit job's rows in (id, variant) order; `filesystem`: the pyarrow one of an object-store `out`."""
    from pipeline.storage import Store

    return pd.read_parquet(Store(out).path("parquet"), filesystem=filesystem).sort_values(["id", "variant"]).reset_index(drop=True)


def test_sweep_rows_on_s3(tiny_data, tiny_mapper, s3_server):
    """Dataset, mapper export and edits all on object storage (a real S3 server, moto), as jobs/ submit them."""
    import pyarrow.fs as pafs

    from pipeline.edit.job import run_edit
    from pipeline.manifest import verify_manifest
    from pipeline.storage import Store

    src = f"s3://key:secret@bucket/datasets/tiny?{s3_server}"
    s3, root = pafs.FileSystem.from_uri(src)
    s3.create_dir("bucket")
    pafs.copy_files(tiny_data["dataset"], root, destination_filesystem=s3)
    mapper = f"s3://key:secret@bucket/runs/tiny/export?{s3_server}"
    pafs.copy_files(tiny_mapper, "bucket/runs/tiny/export", destination_filesystem=s3)
    out = f"s3://key:secret@bucket/edits/sweep?{s3_server}"
    m = run_edit(EditConfig(mapper=mapper, dataset=src, sweep="young=-0.2:0.2:3", delta=("smiling=0.1",), out=out, max_rows=8,
                            shard_size=3, relabel=True))
    assert verify_manifest(out) == [] and Store(out).read_json("manifest.json")["num_rows"] == 24
    df = edits(out, s3)
    assert m["num_rows"] == 24 and len(df) == 24 and len(m["shards"]) == 3
    assert sorted(df["variant"].unique()) == [0, 1, 2] and np.allclose(sorted(df["delta_young"].unique()), [-0.2, 0, 0.2])
    zero = df[df.delta_young == 0]
    assert (zero.delta_smiling == 0.1).all()  # fixed change + sweep combine
    for _, row in df.iterrows():
        assert row["id"] == row["position"]  # seeds 0.. of the dataset
    assert {"age", "young", "smiling", "identity", "identity_cos", "image"} <= set(df.columns)
    assert df["identity_cos"].between(-1, 1.0001).all()


def test_delta_zero_returns_the_input_exactly_and_edits_do_not_depend_on_batch_sizes_or_the_path(tiny_data, tiny_mapper, tmp_path):
    """a: the mapper-only job (each actor reads, maps and writes whole shards); b: other shards and batches, through the
    streaming chain that renders (a writer actor gathers the shards)."""
    from pipeline.edit.job import run_edit

    base = dict(mapper=tiny_mapper, dataset=tiny_data["dataset"], sweep="young=0:0.3:2", relabel=False)
    run_edit(EditConfig(**base, out=str(tmp_path / "a"), render=False))
    run_edit(EditConfig(**base, out=str(tmp_path / "b"), mapper_stage=StageResources(batch_size=7), shard_size=10))
    a, b = edits(str(tmp_path / "a")), edits(str(tmp_path / "b"))
    assert a["id"].tolist() == b["id"].tolist() == [i for i in range(64) for _ in range(2)]
    np.testing.assert_allclose(np.stack(a["w"]), np.stack(b["w"]), rtol=0, atol=1e-6)
    src = pd.read_parquet(Path(tiny_data["dataset"]) / "parquet").set_index("seed")
    zero, moved = a[a.variant == 0], a[a.variant == 1]
    np.testing.assert_array_equal(np.stack(zero["w"]), np.stack(src.loc[zero["id"], "w"]))  # no change asked: bit-exact
    assert not np.allclose(np.stack(moved["w"]), np.stack(src.loc[moved["id"], "w"]))


def test_bad_input_one_line_errors_before_work(tiny_data, tiny_mapper, tmp_path, capsys):
    bad_shape, nan, nan_pq = tmp_path / "bad.npy", tmp_path / "nan.npy", tmp_path / "nan.parquet"
    np.save(bad_shape, np.zeros((4, 3, 100), np.float32))
    lat = np.random.default_rng(0).standard_normal((6, 100)).astype(np.float32)
    lat[[2, 4], 7] = np.nan
    np.save(nan, lat)
    labeled_parquet(nan_pq, lat, row_group_size=4)  # its workers would read it: the driver scans it first
    other = tmp_path / "other_mapper"
    shutil.copytree(tiny_mapper, other)
    doc = json.loads((other / "mapper.json").read_text())
    (other / "mapper.json").write_text(json.dumps({**doc, "generator_id": "stylegan2-000000000000"}))
    cases = [
        (["--mapper", tiny_mapper, "--latents", str(bad_shape), "--delta", "young=0.1"], "the mapper expects (100,)"),
        (["--mapper", tiny_mapper, "--latents", str(nan), "--delta", "young=0.1"], "2 latents in"),
        (["--mapper", tiny_mapper, "--latents", str(nan_pq), "--delta", "young=0.1", "--no-render", "--no-relabel"], "(rows [2, 4])"),
        (["--mapper", tiny_mapper, "--dataset", tiny_data["dataset"], "--delta", "beauty=0.1"], "unknown attribute 'beauty'"),
        (["--mapper", str(other), "--dataset", tiny_data["dataset"], "--delta", "young=0.1"], "mapper was trained for generator"),
    ]
    for args, message in cases:
        out = tmp_path / f"out{len(message)}"
        rc, err = run_main(capsys, "edit", *args, "--out", str(out))
        assert rc == 2 and message in err and len(err.strip().splitlines()) == 1, err
        assert not out.exists()  # refused before any work: not even the directory is left
    assert "rows [2, 4]" in run_main(capsys, "edit", "--mapper", tiny_mapper, "--latents", str(nan), "--delta", "young=0.1",
                                     "--out", str(tmp_path / "n2"))[1]


def labeled_parquet(path: Path, w: np.ndarray, row_group_size: int, fixed: bool = True) -> None:
    """Latents with the tiny mapper's labels, `w` as fixed-size lists (the workers read it) or plain lists (the driver)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    flat = w.reshape(len(w), -1)
    col = pa.FixedSizeListArray.from_arrays(pa.array(flat.reshape(-1)), flat.shape[1]) if fixed else pa.array(flat.tolist(), pa.list_(pa.float32()))
    g = np.random.default_rng(5)
    pq.write_table(pa.table({"id": np.arange(len(w)) + 500, "w": col, **{a: g.random(len(w), dtype=np.float32) for a in ("young", "smiling")}}),
                   path, row_group_size=row_group_size)


def test_parquet_latents_read_by_the_workers_give_the_edits_the_driver_read_gives(tiny_mapper, tmp_path):
    """Fixed-size lists on a one-machine Ray: each shard's actor reads its row groups (shards of 9 rows over groups of
    7); plain lists, or groups larger than a shard: the driver reads the file into the object store. Same rows, same
    edits."""
    from pipeline.edit.job import file_source, run_edit
    from pipeline.ray_env import init_ray
    from stages.edit_source import ParquetRows, StoredRows

    w = np.random.default_rng(6).standard_normal((40, 100)).astype(np.float32)
    labeled_parquet(tmp_path / "fixed.parquet", w, 7)
    labeled_parquet(tmp_path / "plain.parquet", w, 7, fixed=False)
    labeled_parquet(tmp_path / "large.parquet", w, 40)
    base = dict(mapper=tiny_mapper, delta=("smiling=0.2",), render=False, relabel=False, shard_size=9, max_rows=38)
    init_ray(None)
    doc = json.loads((Path(tiny_mapper) / "mapper.json").read_text())
    kinds = {name: type(file_source(EditConfig(**base, latents=str(tmp_path / f"{name}.parquet")), doc, lambda: ("", None))[0])
             for name in ("fixed", "plain", "large")}
    assert kinds == {"fixed": ParquetRows, "plain": StoredRows, "large": StoredRows}
    for name in kinds:
        run_edit(EditConfig(**base, latents=str(tmp_path / f"{name}.parquet"), out=str(tmp_path / f"out-{name}")))
    a, b, c = (edits(str(tmp_path / f"out-{name}")) for name in kinds)
    assert a["id"].tolist() == b["id"].tolist() == c["id"].tolist() == list(range(500, 538)) and a["position"].tolist() == list(range(38))
    np.testing.assert_array_equal(np.stack(a["w"]), np.stack(b["w"]))
    np.testing.assert_array_equal(np.stack(a["w"]), np.stack(c["w"]))
    np.testing.assert_array_equal(a["src_young"], b["src_young"])


def test_imported_latents_are_labeled_then_edited(tiny_mapper, tmp_path):
    from pipeline.edit.job import run_edit

    lat = tmp_path / "inv.npy"
    np.save(lat, np.random.default_rng(3).standard_normal((5, 100)).astype(np.float32))
    run_edit(EditConfig(mapper=tiny_mapper, latents=str(lat), delta=("smiling=0.2",), out=str(tmp_path / "imp")))
    df = edits(str(tmp_path / "imp"))
    assert df["id"].tolist() == list(range(5)) and df["src_young"].between(0, 1).all() and "identity_cos" in df


def test_labeled_parquet_latents_keep_their_labels_and_get_an_identity_cosine(tiny_mapper, tmp_path):
    """Labels in the file are the mapper's input as given; the originals are still embedded for the cosine."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from pipeline.edit.job import run_edit

    w = np.random.default_rng(4).standard_normal((3, 100)).astype(np.float32)
    pq.write_table(pa.table({"id": [10, 11, 12], "w": pa.array(w.tolist(), pa.list_(pa.float32())),
                             "young": pa.array([0.1, 0.5, 0.9], pa.float32()), "smiling": pa.array([0.2] * 3, pa.float32())}),
                   tmp_path / "lab.parquet")
    run_edit(EditConfig(mapper=tiny_mapper, latents=str(tmp_path / "lab.parquet"), delta=("smiling=0.2",), out=str(tmp_path / "lab")))
    df = edits(str(tmp_path / "lab"))
    assert np.allclose(df["src_young"], [0.1, 0.5, 0.9]) and df["identity_cos"].between(0.3, 1.0001).all()


def test_edit_one_writes_before_after(tiny_mapper, tmp_path, capsys):
    from PIL import Image

    from pipeline.edit.one import edit_one
    from pipeline.edit.one_config import EditOneConfig

    path = edit_one(EditOneConfig(tiny_mapper, 42, ("smiling=0.3",), out=str(tmp_path / "one.png")))
    img = np.asarray(Image.open(path).convert("L"))
    assert img.shape[1] == 512 and img.shape[0] > 256  # before | after at 256 px each, readings printed below
    assert (img[260:] < 128).any()  # the text is there
    assert "ms (loading models" in capsys.readouterr().out
    header = json.loads(Image.open(path).text["latent2latent"])  # the PNG says what made it
    assert header["kind"] == "edit-one" and header["seed"] == 42 and header["config"]["delta"] == ["smiling=0.3"] and "smiling" in header["readings"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one.png"]  # written whole: no temp file left
    with pytest.raises(ValueError, match="unknown attribute 'beauty'"):
        edit_one(EditOneConfig(tiny_mapper, 42, ("beauty=0.3",), out=str(tmp_path / "x.png")))


def test_the_mapper_export_fills_what_the_command_leaves_open():
    from pipeline.edit.config import for_mapper
    from pipeline.made_with import TrainedWith

    doc, trained = {"dataset": "data/trained-on", "architecture": {"attributes": ["smiling", "male"]}}, TrainedWith(holdout_every=7)
    cfg = for_mapper(EditConfig(mapper="m", sweep="-0.3:0.3:3", held_out_only=True), doc, trained)
    assert cfg.dataset == "data/trained-on" and variants(cfg) == [{"smiling": -0.3}, {"smiling": 0.0}, {"smiling": 0.3}]
    assert cfg.holdout_every == 7  # the rule the mapper's training held rows out by
    given = for_mapper(EditConfig(mapper="m", latents="w.npy", sweep="male=0:1:2"), doc, trained)
    assert given.dataset is None and given.sweep == "male=0:1:2" and given.holdout_every is None
    with pytest.raises(ValueError, match="not both"):
        EditConfig(mapper="m", dataset="d", latents="w.npy")


@pytest.mark.parametrize("kwargs, message", [
    (dict(held_out_only=True, holdout_every=10), "--holdout-every 10 contradicts the mapper export"),  # the export says 7
    (dict(holdout_every=7), "--holdout-every picks rows only with --held-out-only"),  # a flag that would change nothing
    (dict(held_out_only=True, latents="w.npy"), "nothing to pick from --latents"),
])
def test_a_held_out_rule_the_export_does_not_hold_is_refused(kwargs, message):
    from pipeline.edit.config import for_mapper
    from pipeline.made_with import TrainedWith

    with pytest.raises(ValueError, match=message):
        for_mapper(EditConfig(mapper="m", **kwargs), {"dataset": "d", "architecture": {"attributes": ["smiling"]}}, TrainedWith(holdout_every=7))


@pytest.mark.slow
def test_latents_larger_than_the_object_store_complete_and_report_it(tiny_mapper, tmp_path):
    """A local Ray whose object store (80 MB) is smaller than the job's input (88 MB of latents the driver read: plain
    lists): Ray spills or falls back to plain memory instead of failing, every row is written, and the job reports the
    store's totals."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from pipeline.manifest import verify_manifest

    n, g = 220_000, np.random.default_rng(0)
    w = pa.ListArray.from_arrays(pa.array(np.arange(0, n * 100 + 1, 100, dtype=np.int32)), pa.array(g.standard_normal(n * 100, dtype=np.float32)))
    src = tmp_path / "latents.parquet"  # 220k x 100 float32: 88 MB
    pq.write_table(pa.table({"w": w, **{a: pa.array(g.random(n, dtype=np.float32)) for a in ("young", "smiling")}}), src, row_group_size=65_536)
    out = tmp_path / "edits"
    p = subprocess.run([sys.executable, "-m", "pipeline", "edit", "--mapper", tiny_mapper, "--latents", str(src),
                        "--delta", "smiling=0.2", "--no-render", "--no-relabel", "--no-webdataset", "--shard-size", "65536",
                        "--object-store-memory", str(80 * 2**20), "--out", str(out)],
                       cwd=REPO, capture_output=True, text=True, timeout=500)
    assert p.returncode == 0, p.stderr[-3000:]
    assert verify_manifest(str(out)) == [] and json.loads((out / "manifest.json").read_text())["num_rows"] == 220_000
    line = next(x for x in p.stdout.splitlines() if x.startswith("object store"))
    assert line.startswith("object store 80 MiB: spilled "), line
    spilled, fallback = (float(line.split(k)[0].split()[-1]) for k in (" MiB to disk", " MiB in fallback"))
    assert spilled + fallback > 0, line  # the store overflowed, and the job went on


def _smiling_after(printed: str) -> float:
    summary = json.loads(printed.split(": ", 1)[1].split(" (real labelers")[0])
    return float(summary["smiling"].split(" -> ")[1])


def test_edit_one_critic_steps_go_further_than_the_pass_and_need_the_ported_critic(smiling_mapper, tiny_mapper, tmp_path, capsys):
    from pipeline.edit.one import edit_one
    from pipeline.edit.one_config import EditOneConfig

    got = {}
    for steps in (0, 6):
        edit_one(EditOneConfig(smiling_mapper["export"], 7, ("smiling=0.3",), refine=RefineConfig(steps, identity_margin=0.85), out=str(tmp_path / f"{steps}.png")))  # training's hinge: at 0.95 a fresh clone's tiny mapper moved 0.026 -> 0.051
        printed = capsys.readouterr().out
        got[steps] = _smiling_after(printed)
    assert "one pass + 6 critic steps: edit and judge" in printed
    assert got[6] > got[0] + 0.05, got  # the judge's views, not only the critic's, see the steps
    with pytest.raises(ValueError, match="needs a mapper trained with the ported critic"):
        edit_one(EditOneConfig(tiny_mapper, 7, ("smiling=0.3",), refine=RefineConfig(2), out=str(tmp_path / "x.png")))


def test_batch_critic_steps_go_further_than_the_one_pass_and_leave_unasked_rows_alone(smiling_mapper, tiny_mapper, tmp_path):
    """`edit --refine-steps`: the batch job's critic steps after the mapper. The real labelers read more of the
    requested change than after the mapper's one pass on the same faces (that pass run here by the same stages,
    without Ray); a row that asked for nothing keeps its latent exactly; a mapper without the ported critic is refused."""
    from models.editors.mapper import load_mapper
    from models.open import open_generator
    from pipeline.edit.job import run_edit
    from pipeline.made_with import export_trained
    from stages.edit import ApplyMapper
    from stages.label import LabelAttributes
    from stages.render import Render

    export, out = smiling_mapper["export"], tmp_path / "refined"
    run_edit(EditConfig(mapper=export, sweep="smiling=0:0.3:2", refine=RefineConfig(6, identity_margin=0.85), held_out_only=True, max_rows=6,
                        webdataset=False, out=str(out)))
    df = edits(str(out))
    _, doc = load_mapper(export)
    names = doc["architecture"]["attributes"]
    shape = doc["architecture"]["latent_shape"]
    still, asked = df[df.variant == 0], df[df.variant == 1].reset_index(drop=True)
    w0 = np.stack(still["w"].to_list()).astype(np.float32).reshape(len(still), *shape)
    assert np.allclose(still["identity_cos"], 1.0, atol=1e-4) and np.allclose(still["smiling"], still["src_smiling"], atol=1e-5)
    batch = {"id": still["id"].to_numpy(), "w": w0, **{f"src_{n}": still[f"src_{n}"].to_numpy(np.float32) for n in names}}
    one_pass = ApplyMapper(export, [{"smiling": 0.3}])(batch)
    made = export_trained(doc).made
    one_pass = LabelAttributes(made.labelers, open_generator(made.generator).framing)(Render(made.generator, made.noise_mode)(one_pass))
    gained = {"one pass": float(np.mean(one_pass["smiling"] - batch["src_smiling"])),
              "6 critic steps": float(np.mean(asked["smiling"] - asked["src_smiling"]))}
    assert gained["6 critic steps"] > gained["one pass"] + 0.03, gained
    with pytest.raises(ValueError, match="needs a mapper trained with the ported critic"):
        run_edit(EditConfig(mapper=tiny_mapper, delta=("smiling=0.2",), refine=RefineConfig(2), out=str(tmp_path / "refused")))
    assert not (tmp_path / "refused").exists()


def test_a_mapper_only_job_may_take_every_cpu_a_job_with_plain_tasks_may_not(tiny_data, tiny_mapper, tmp_path):
    """Shard tasks start no plain tasks beside their pool, so nothing is held back for them; a chain that renders
    needs CPUs for its read and encode tasks: pools that fit Ray's CPUs only without them are refused before any
    shard is made."""
    from pipeline.edit.job import run_edit

    every = StageResources(actors=2, num_cpus=2.0, batch_size=16)  # the session's Ray has 4 logical CPUs
    base = dict(mapper=tiny_mapper, dataset=tiny_data["dataset"], delta=("young=0.1",), relabel=False, mapper_stage=every, max_rows=16)
    assert run_edit(EditConfig(**base, out=str(tmp_path / "a"), render=False))["num_rows"] == 16
    with pytest.raises(ValueError, match="ask for .* CPUs but Ray has 4"):
        run_edit(EditConfig(**{**base, "mapper_stage": StageResources(actors=2, num_cpus=1.9)}, out=str(tmp_path / "b"), render=True,
                            render_stage=StageResources(actors=1, num_cpus=0.1)))  # 3.9 CPUs in pools, 4.35 with the tasks


@pytest.mark.parametrize("args, message", [
    (["--delta", "smiling=nan"], "change 'smiling=nan' refused: nan is not a finite number"),
    (["--delta", "smiling=inf"], "change 'smiling=inf' refused: inf is not a finite number"),
    (["--delta", "smiling=5"], "change 'smiling=5' refused: 5 is beyond smiling's whole range [0, 1] (probability)"),
    (["--delta", "age=-90"], "-90 is beyond age's whole range [0, 80] (years)"),
    (["--sweep", "smiling=-2:2:5"], "--sweep 'smiling=-2:2:5': -2 is beyond smiling's whole range"),
    (["--sweep", "young=nan:0.3:3"], "nan is not a finite number"),
])
def test_changes_that_are_not_finite_or_wider_than_the_range_are_refused_before_work(args, message, tmp_path, capsys):
    """NaN wrote all-NaN latents; 5x the range was accepted: refused as the command is parsed, for edit and edit-one."""
    rc, err = run_main(capsys, "edit", "--mapper", "m", *args, "--out", str(tmp_path / "e"))
    assert rc == 2 and message in err and len(err.strip().splitlines()) == 1, err
    if args[0] == "--delta":
        rc, err = run_main(capsys, "edit-one", "--mapper", "m", "--seed", "3", *args)
        assert rc == 2 and message in err, err
    assert not (tmp_path / "e").exists()
