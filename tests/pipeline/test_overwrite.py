"""--overwrite loses nothing it should not: every input is checked before anything goes, only this project's files
go, and never from a folder that is not an earlier output of the same verb, the working directory or a parent."""

from __future__ import annotations

import hashlib
import os
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest

from pipeline import names
from pipeline.overwrite import clear_earlier, owned_files, refuse_protected
from pipeline.storage import Store
from tests.cli import run_main

pytestmark = pytest.mark.timeout(600)


def snapshot(folder: Path) -> dict[str, str]:
    """Every file's sha256 and every folder, by relative path: equal snapshots mean byte-identical trees."""
    return {str(p.relative_to(folder)): "dir" if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*"))}


def a_run(folder: Path, kind: str) -> Path:
    """A folder as a `kind` run leaves it: config, log, a shard's files and marker, and a temp file a kill left."""
    store = Store(str(folder))
    store.write_json(names.CONFIG, {"kind": kind, "config_hash": "abc"})
    store.append_text(names.LOG, "start")
    for rel in (names.parquet_path(0), names.tar_path(0), names.stats_path(0), names.parquet_path(1) + ".tmp-0123abcd"):
        store.write_atomic(rel, b"x")
    return folder


def test_only_the_runs_own_files_go_and_a_users_stay(tmp_path):
    run = a_run(tmp_path / "ds", "dataset")
    (run / "notes.txt").write_text("mine")
    (run / "parquet" / "mine.parquet").write_text("mine")
    (run / "figures").mkdir()
    (run / "figures" / "shard-000000.json").write_text("mine: not under a shard folder")
    assert clear_earlier(Store(str(run)), "dataset") == 6
    assert sorted(snapshot(run)) == ["figures", "figures/shard-000000.json", "notes.txt", "parquet", "parquet/mine.parquet"]


def test_a_folder_of_another_verb_or_of_no_run_is_refused_whole(tmp_path):
    edits, other = a_run(tmp_path / "edits", "edit"), tmp_path / "photos"
    other.mkdir()
    (other / "me.jpg").write_bytes(b"\xff\xd8")
    (other / "parquet").mkdir()
    (other / "parquet" / "shard-000000.parquet").write_bytes(b"named like ours, written by someone else")
    (tmp_path / "cut").mkdir()
    (tmp_path / "cut" / names.CONFIG).write_text('{"kind": "data')  # a config cut short
    before = snapshot(tmp_path)
    with pytest.raises(ValueError, match="holds the output of `edit`, not an earlier `dataset` output; nothing was deleted"):
        owned_files(Store(str(edits)), "dataset")
    with pytest.raises(ValueError, match="files this project did not write"):
        clear_earlier(Store(str(other)), "dataset")
    with pytest.raises(ValueError, match=r"cut/config.json is not valid JSON"):  # names its file
        clear_earlier(Store(str(tmp_path / "cut")), "dataset")
    assert snapshot(tmp_path) == before


def test_the_working_directory_its_parents_and_home_are_never_cleared(tmp_path, monkeypatch):
    run = a_run(tmp_path / "ds", "dataset")
    monkeypatch.chdir(run)
    for out in (".", str(run), str(tmp_path), "/", str(Path.home())):
        with pytest.raises(ValueError, match="--overwrite refused"):
            refuse_protected(out)
    refuse_protected(str(run / "sub"))  # a folder below it is the run's own


def test_an_empty_out_is_refused_for_every_verb(tmp_path, monkeypatch, capsys):
    (tmp_path / "keep.txt").write_text("mine")
    monkeypatch.chdir(tmp_path)
    before = snapshot(tmp_path)
    for args in (["dataset", "--preset", "tiny", "--num-samples", "4", "--overwrite"], ["edit", "--mapper", "m", "--delta", "young=0.1",
                 "--overwrite"], ["train", "--dataset", "d"], ["eval", "--mapper", "m"]):
        rc, err = run_main(capsys, *args, "--out", "")
        verb = args[0]
        assert rc == 2 and "--out is empty" in err and len(err.strip().splitlines()) == 1, (verb, err)
    assert snapshot(tmp_path) == before


def test_dataset_overwrite_checks_its_inputs_before_anything_goes(tiny_data, tmp_path, capsys):
    """A refused generator (a pickle that would run code), a text file as generator, a folder that is not a dataset,
    the working directory: each refused in one line, each folder byte-identical afterwards."""
    ds = tmp_path / "ds"
    shutil.copytree(tiny_data["dataset"], ds)
    evil, text, mine = tmp_path / "evil.pkl", tmp_path / "text.txt", tmp_path / "mine"
    evil.write_bytes(pickle.dumps(_Evil(str(tmp_path / "ran"))))
    text.write_text("not a network")
    mine.mkdir()
    (mine / "thesis.tex").write_text("years of work")
    (mine / "figures").mkdir()
    before = snapshot(tmp_path)
    cases = [(["--generator", str(evil), "--out", str(ds)], "refusing to load"),
             (["--generator", str(text), "--num-samples", "4", "--out", str(mine)], "files this project did not write"),
             (["--generator", str(text), "--out", str(ds)], str(text))]
    for args, message in cases:
        rc, err = run_main(capsys, "dataset", "--preset", "tiny", "--overwrite", *args)
        assert rc == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert snapshot(tmp_path) == before
    assert not (tmp_path / "ran").exists()  # the refused pickle's payload never ran


def test_edit_overwrite_checks_its_latents_first_and_never_clears_a_dataset(tiny_data, tiny_mapper, tmp_path, capsys):
    ds, edits = tmp_path / "ds", tmp_path / "edits"
    shutil.copytree(tiny_data["dataset"], ds)
    job = ["edit", "--mapper", tiny_mapper, "--dataset", str(ds), "--max-rows", "8", "--no-render", "--no-relabel", "--out", str(edits)]
    assert run_main(capsys, *job, "--delta", "smiling=0.1")[0] == 0
    nan = tmp_path / "nan.npy"
    lat = np.random.default_rng(0).standard_normal((4, 100)).astype(np.float32)
    lat[1, 3] = np.nan
    np.save(nan, lat)
    before = snapshot(tmp_path)
    for out, message in ((ds, "holds the output of `dataset`, not an earlier `edit` output"), (edits, "contain NaN or Inf (rows [1])")):
        rc, err = run_main(capsys, "edit", "--mapper", tiny_mapper, "--latents", str(nan), "--delta", "smiling=0.1", "--overwrite",
                           "--out", str(out))
        assert rc == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert snapshot(tmp_path) == before
    (edits / "notes.txt").write_text("mine")  # a valid overwrite: the old edits go, the user's file stays
    assert run_main(capsys, *job, "--delta", "smiling=0.2", "--overwrite")[0] == 0
    assert (edits / "notes.txt").read_text() == "mine"
    assert Store(str(edits)).read_json(names.MANIFEST)["variants"] == [{"smiling": 0.2}]


class _Evil:
    """A pickle whose load would create the folder `path`: the loader must refuse it before it runs."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (os.mkdir, (self.path,))
