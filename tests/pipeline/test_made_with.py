"""What a run was made with travels with it: the dataset manifest and the mapper export record the generator and its noise
mode, the labelers, the identity embedder, the held-out rule and the labels' scales, and every later job reads them there
(pipeline/made_with.py). Old documents read as the old defaults and say so once."""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.made_with import LegacyRecordWarning, MadeWith, TrainedWith, dataset_made, export_trained
from pipeline.train.config import TRAIN_PRESETS, TrainConfig
from tests.cli import run_main

pytestmark = pytest.mark.timeout(900)
OLD_EXPORT = {"format": "latent2latent-mapper/1", "generator": None, "dataset_psi": 0.8, "labelers": ["age-gender"],
              "architecture": {"attributes": ["young"]}}  # what exports recorded before made_with


def legacy_warnings(record: list[warnings.WarningMessage]) -> list[str]:
    return [str(w.message) for w in record if issubclass(w.category, LegacyRecordWarning)]


def test_an_old_export_reads_as_the_old_defaults_and_says_so_once():
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        first = export_trained(OLD_EXPORT, "mapper export old-1")
        again = export_trained(OLD_EXPORT, "mapper export old-1")
    assert first == again == TrainedWith(MadeWith(psi=0.8, labelers=("age-gender",)), holdout_every=10)
    (said,) = legacy_warnings(record)  # once per export and process
    assert said.startswith("mapper export old-1 was written before it recorded noise_mode, embedder, embedder_id")
    assert "embedder=sface" in said and "holdout_every=10" in said
    with warnings.catch_warnings(record=True) as record:  # its train_config's rule, where it kept one, is the rule
        warnings.simplefilter("always")
        assert export_trained({**OLD_EXPORT, "train_config": {"holdout_every": 7}}, "mapper export old-2").holdout_every == 7
    assert "holdout_every" not in legacy_warnings(record)[0]


def test_labels_in_scales_this_code_no_longer_computes_are_refused():
    block = MadeWith().as_json()
    block["units"]["young"]["high"] = 2.0
    with pytest.raises(ValueError, match=r"holds young in \[0, 2\] score, this code's catalog has \[0, 1\] score"):
        dataset_made({"made_with": block}, "dataset d")
    assert dataset_made({"made_with": MadeWith().as_json()}) == MadeWith()  # a round trip through JSON


def test_the_manifest_and_the_export_record_what_they_were_made_with(tiny_data, tiny_mapper):
    from models.editors.mapper import load_mapper
    from pipeline.manifest import read_manifest

    made = dataset_made(read_manifest(tiny_data["dataset"]))
    assert made.embedder == "sface" and made.embedder_id.startswith("sface-") and made.noise_mode == "const"
    assert {u.name for u in made.units} == set(read_manifest(tiny_data["dataset"])["attributes"]) and ("young", "age") in made.aliases
    _, doc = load_mapper(tiny_mapper)
    assert doc["holdout_every"] == 10 and export_trained(doc) == TrainedWith(made, 10)


def test_an_old_export_on_disk_edits_the_old_rules_held_out_rows_and_warns_once(tiny_data, tiny_mapper, tmp_path):
    from pipeline.edit.config import EditConfig
    from pipeline.edit.job import run_edit

    old = tmp_path / "old"
    shutil.copytree(tiny_mapper, old)
    doc = json.loads((old / "mapper.json").read_text())
    del doc["made_with"], doc["holdout_every"], doc["train_config"]["holdout_every"]
    (old / "mapper.json").write_text(json.dumps(doc))
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        for out in ("a", "b"):
            run_edit(EditConfig(mapper=str(old), delta=("smiling=0.1",), held_out_only=True, render=False, relabel=False,
                                out=str(tmp_path / out)))
    (said,) = legacy_warnings(record)
    assert f"mapper export {old} was written before it recorded" in said and "holdout_every=10" in said
    ids = pd.read_parquet(tmp_path / "a" / "parquet")["id"]
    assert sorted(ids) == list(range(0, 64, 10))


def train_small(dataset: str, out: Path, **kw) -> str:
    from pipeline.train.job import run_train

    cfg = TrainConfig(**{**TRAIN_PRESETS["tiny"], "dataset": dataset, "critic": "ported", "allow_weak_critic": True, "num_workers": 1,
                         "attributes": ("smiling",), "out": str(out), **kw})
    return str(run_train(cfg))


@pytest.mark.slow
def test_a_mapper_trained_with_rule_7_is_edited_and_judged_on_rule_7_faces(tiny_data, tmp_path, capsys):
    from pipeline.eval.config import EvalConfig
    from pipeline.eval.run import Evaluation
    from pipeline.manifest import read_rows

    export = train_small(tiny_data["dataset"], tmp_path / "rule7", objective="latent", holdout_every=7)
    assert json.loads((Path(export) / "mapper.json").read_text())["holdout_every"] == 7
    rc, err = run_main(capsys, "edit", "--mapper", export, "--held-out-only", "--no-render", "--no-relabel", "--delta", "smiling=0.1",
                       "--out", str(tmp_path / "edits"))
    assert rc == 0, err
    assert sorted(pd.read_parquet(tmp_path / "edits" / "parquet")["id"]) == list(range(0, 64, 7))
    ev = Evaluation(EvalConfig(mapper=export, rows=3, dlib_rows=0))
    want = read_rows(tiny_data["dataset"], ["w"], 7, True, 3)
    assert want["seed"].tolist() == [0, 7, 14] and np.allclose(ev.before.w.numpy(), np.stack(want["w"]))
    for verb in ("edit", "eval"):  # a flag that contradicts the export: one line, before any work
        extra = ["--held-out-only", "--delta", "smiling=0.1"] if verb == "edit" else []
        rc, err = run_main(capsys, verb, "--mapper", export, "--holdout-every", "10", *extra, "--out", str(tmp_path / f"no-{verb}"))
        assert rc == 2 and "--holdout-every 10 contradicts the mapper export" in err and len(err.strip().splitlines()) == 1, err
        assert not (tmp_path / f"no-{verb}").exists()


@pytest.mark.slow
def test_an_arcface_dataset_trains_edits_and_is_judged_with_arcface(ray_local, tmp_path, monkeypatch):
    """The user's ArcFace checkpoint, named by a relative path, is what the training critic, the edit job's re-embedding
    and the judge open: the edits' identity column has its width (32 here) and eval reports its cosine."""
    from pipeline.config import DATASET_PRESETS, DatasetConfig
    from pipeline.dataset.job import run_dataset
    from pipeline.edit.config import EditConfig
    from pipeline.edit.job import run_edit
    from pipeline.eval.config import EvalConfig
    from pipeline.eval.run import run_eval
    from tests.arcface_ckpt import write_tiny_arcface

    write_tiny_arcface(tmp_path / "model_ir_se.pth")
    monkeypatch.chdir(tmp_path)
    run_dataset(DatasetConfig(**{**DATASET_PRESETS["tiny"], "out": "arc", "num_samples": 32, "image_format": "none",
                                 "embedder": "arcface:model_ir_se.pth"}))
    monkeypatch.chdir(tmp_path.parent)  # every later job reopens the checkpoint from the manifest, from anywhere
    export = train_small(str(tmp_path / "arc"), tmp_path / "run", objective="image")
    doc = json.loads((Path(export) / "mapper.json").read_text())
    assert doc["made_with"]["embedder"] == f"arcface:{tmp_path / 'model_ir_se.pth'}"
    from pipeline.edit.refine import open_refiner
    from pipeline.edit.refine_config import RefineConfig

    assert open_refiner(export, RefineConfig(steps=1), None).critic.ident.embedder_id.startswith("arcface")  # critic steps too
    run_edit(EditConfig(mapper=export, delta=("smiling=0.2",), max_rows=4, webdataset=False, out=str(tmp_path / "edits")))
    df = pd.read_parquet(tmp_path / "edits" / "parquet")
    assert np.stack(df["identity"]).shape == (4, 32) and np.stack(df["identity_src"]).shape == (4, 32)
    assert df["identity_cos"].between(-1, 1.0001).all()
    report = run_eval(EvalConfig(mapper=export, rows=2, strengths=(0.3,), passes=1, pairs="none", dlib_rows=0, out=str(tmp_path / "eval")))
    assert report["identity_embedders"][0] == "ArcFace" and "ArcFace cos" in (tmp_path / "eval" / "eval.md").read_text()
    assert -1 <= report["results"][0]["mapper"]["identity_cos"] <= 1.0001
