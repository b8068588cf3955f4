import json
import re
import shlex
import subprocess
from pathlib import Path

import pytest

from pipeline.cli import COMMANDS, main, parse
from pipeline.train.config import LossWeights, TrainConfig
from tests.cli import run_main
from tests.jobs.test_specs import dry_run


def test_every_loss_weight_and_sampling_field_reaches_the_cli():
    cfg = parse("train", ["--losses.requested", "2", "--losses.identity-margin", "0.9", "--delta.max-attrs", "1",
                          "--critic-views", "id,flip", "--latents", "dataset"]).config
    assert cfg.losses == LossWeights(requested=2.0, identity_margin=0.9) and cfg.delta.max_attrs == 1
    assert cfg.critic_views == ("id", "flip") and cfg.latents == "dataset"
    assert parse("train", []).config == TrainConfig()


def test_a_preset_seeds_the_defaults_and_flags_still_win():
    cfg = parse("train", ["--preset", "tiny", "--steps", "9"]).config
    assert cfg.steps == 9 and cfg.hidden == 64  # the tiny preset's width, the line's steps
    pool = parse("dataset", ["--preset", "tiny", "--pool.num-gpus", "0.5"]).config.pool
    assert (pool.num_gpus, pool.batch_size, pool.actors) == (0.5, 8, 2)
    stage = parse("dataset", ["--preset", "tiny", "--no-one-pool", "--render.num-gpus", "0.5", "--label.actors", "2"]).config
    assert (stage.one_pool, stage.render.num_gpus, stage.label.actors) == (False, 0.5, 2)


def test_comma_lists_keep_their_item_type():
    assert parse("eval", ["--mapper", "m", "--strengths=-0.3,0.15"]).config.strengths == (-0.3, 0.15)
    assert parse("probe", ["--train-sizes", "8,16"]).config.train_sizes == (8, 16)
    with pytest.raises(ValueError, match="comma list of float"):
        parse("eval", ["--mapper", "m", "--strengths", "a,b"])


@pytest.mark.parametrize("argv, says", [
    (["edit"], "Required options: --mapper"),
    (["edit-one", "--mapper", "m", "--seed", "3"], "Required options: --delta"),
    (["dataset", "--bogus", "3"], "Unrecognized options: --bogus"),
    (["train", "--steps", "x"], "Error parsing --steps"),
    (["train", "--preset", "nope"], "invalid choice 'nope' for argument '--preset'"),
    (["train", "--steps", "0"], "--steps must be >= 1"),
    (["edit-photo", "--mapper", "m"], "Required options: PHOTO"),  # a positional argument
    (["dataset", "--render.num-gpus"], "--render.num-gpus: a value is missing"),
    (["photos", "--photos", "d", "--paste.mode", "x"], ": --paste.mode must be one of"),  # a nested config's own check
])
def test_bad_command_lines_are_one_line_errors(capsys, argv, says):
    rc, err = run_main(capsys, *argv)
    assert rc == 2 and says in err and len(err.strip().splitlines()) == 1, err


def test_help_lists_nested_flags_with_their_comments(capsys):
    with pytest.raises(SystemExit) as e:
        main(["train", "--help"])
    out = capsys.readouterr().out
    assert e.value.code == 0
    assert "--losses.identity-margin" in out and "--delta.max-attrs" in out and "--preset" in out and "--dry-run" in out
    assert "above this cosine identity costs nothing" in out  # the field's comment is its help


def test_every_command_has_a_dry_run_that_prints_its_config(capsys):
    argvs = {"dataset": [], "train": [], "train-regressor": [], "edit": ["--mapper", "m", "--delta", "smiling=0.2"],
             "edit-one": ["--mapper", "m", "--seed", "3", "--delta", "smiling=0.2"], "eval": ["--mapper", "m"],
             "probe": [], "serve": [], "bench": ["--only", "edit,serve"], "photos": ["--photos", "p"],
             "edit-photo": ["me.jpg", "--mapper", "m", "--delta", "smiling=0.2", "--invert", "tune"]}
    docs = {}
    for command, argv in argvs.items():
        capsys.readouterr()
        assert main([command, *argv, "--dry-run"]) == 0
        docs[command] = json.loads(capsys.readouterr().out)
        assert isinstance(docs[command], dict) and docs[command], command
    assert docs["bench"]["only"] == ["edit", "serve"]
    assert docs["edit-photo"]["invert"] == "tune" and docs["edit-photo"]["photo"] == "me.jpg"
    assert set(COMMANDS) == set(argvs)  # every command that runs a job has --dry-run


def test_flags_are_checked_before_torch_or_ray_is_imported():
    """A mistyped flag or a --dry-run answers at once: neither torch nor Ray (seconds of imports) is loaded for it."""
    import json
    import subprocess
    import sys

    probe = """import contextlib, io, json, sys
from pipeline.cli import main
try:
    with contextlib.redirect_stdout(io.StringIO()):
        rc = main(json.loads(sys.argv[1]))
except SystemExit as e:
    rc = e.code
print(json.dumps([rc, sorted(m for m in ("torch", "ray") if m in sys.modules)]))"""
    cases = {("dataset", "--bogus"): 2, ("train", "--steps", "x"): 2, ("eval", "--mapper", "m", "--bogus"): 2,
             ("edit-one", "--mapper", "m", "--seed", "1", "--delta", "smiling=0.2", "--dry-run"): 0,
             ("probe", "--dry-run"): 0, ("train", "--attributes", "young,smiling", "--dry-run"): 0,
             ("edit", "--mapper", "m", "--dry-run"): 0, ("dataset", "--dry-run"): 0,
             ("edit-photo", "me.jpg", "--invert", "tune", "--dry-run"): 0, ("photos", "--photos", "d", "--paste.mode", "x"): 2}
    for argv, code in cases.items():  # a fresh interpreter per case: sys.modules starts empty
        out = subprocess.run([sys.executable, "-c", probe, json.dumps(argv)], capture_output=True, text=True)
        assert json.loads(out.stdout.splitlines()[-1]) == [code, []], (argv, out.stdout, out.stderr[-300:])


README = Path(__file__).resolve().parents[2] / "README.md"
DOCS = [README, *sorted((README.parent / "docs").rglob("*.md"))]  # docs/ (results, the records) shows commands too
MAKE_VARS = re.compile(r"^[A-Z]+=")


def doc_commands() -> list[list[str]]:
    """Each `python -m pipeline …` the README and docs/ show (optional [parts] taken in, … a placeholder value),
    and each `make <target>`
    with the VAR= spans its line gives it, as the pipeline command line `make -n` prints for it."""
    out: list[list[str]] = []
    for line in (ln for doc in DOCS for ln in doc.read_text().splitlines()):
        spans = re.findall(r"`([^`]+)`", line)
        for span in spans:
            if span.startswith("python -m pipeline ") and not re.search(r"--help|-v …|verify", span):
                words = re.sub(r"\[([^\]]*)\]", r"\1", span).replace("…", "x").split()[3:]
                out.append(words[:-1] if words[-1] == "x" else words)  # a trailing … is "and the rest"
        targets = [shlex.split(s) for s in spans if s.startswith("make ")]
        extras = [shlex.split(s) for s in spans if MAKE_VARS.match(s)]
        for target in targets[:1]:
            out += [make_command(target[1:] + extra) for extra in [[], *extras]]
        out += [make_command(t[1:]) for t in targets[1:]]
    return [c for c in out if c]


def make_command(args: list[str]) -> list[str]:
    """The `python -m pipeline` words `make -n` would run for `make args` ([] for targets that run none)."""
    vars_ = [a for a in args if "=" in a]
    run = subprocess.run(["make", "-n", "-s", *args, *([] if any(v.startswith("MAPPER=") for v in vars_) else ["MAPPER=m"])],
                         cwd=README.parent, capture_output=True, text=True)
    assert run.returncode == 0, (args, run.stderr)
    lines = [ln for ln in run.stdout.splitlines() if " -m pipeline " in ln]
    return shlex.split(lines[-1].split(" -m pipeline ", 1)[1]) if lines else []


def test_every_command_line_the_docs_show_parse():
    assert len(DOCS) >= 5, DOCS  # the README and docs/*.md: an empty list here would check nothing
    commands = doc_commands()
    assert len(commands) >= 20 and any(c[0] == "edit-one" for c in commands)
    for argv in commands:
        assert dry_run(shlex.join(argv)).strip().startswith("{"), argv


@pytest.mark.parametrize("argv", [["train", "--out", "s3://b/run?endpoint_override=h:1"], ["train-regressor", "--out", "gs://b/r"],
                                  ["eval", "--mapper", "m", "--out", "s3://b/eval"], ["probe", "--out", "s3://b/p"],
                                  ["edit-one", "--mapper", "m", "--seed", "1", "--delta", "smiling=0.2", "--out", "s3://b/x.png"]])
def test_a_uri_out_for_a_verb_that_writes_locally_is_one_line_before_any_work(argv, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rc, err = run_main(capsys, *argv, "--dry-run")
    assert rc == 2 and "give a local path" in err and len(err.strip().splitlines()) == 1, err
    assert "endpoint_override" not in err and not any(tmp_path.iterdir())  # no query string echoed, no `s3:` folder made


def test_a_noise_mode_for_the_dcgan_is_refused_not_hashed(capsys):
    rc, err = run_main(capsys, "dataset", "--noise-mode", "none", "--dry-run")
    assert rc == 2 and "the embedded DCGAN has no noise inputs" in err and len(err.strip().splitlines()) == 1
    assert run_main(capsys, "dataset", "--generator", "g.pkl", "--noise-mode", "none", "--dry-run")[0] == 0
