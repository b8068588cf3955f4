from pipeline.cli import build_parser
from pipeline.cli_args import config_from_args
from pipeline.train.config import TRAIN_PRESETS, LossWeights, TrainConfig


def test_every_loss_weight_and_sampling_field_reaches_the_cli():
    parser, _ = build_parser()
    args = parser.parse_args(["train", "--losses-requested", "2", "--losses-identity-margin", "0.9", "--delta-max-attrs", "1",
                              "--critic-views", "id,flip", "--latents", "dataset"])
    cfg = config_from_args(TrainConfig, args, TRAIN_PRESETS["default"])
    assert cfg.losses == LossWeights(requested=2.0, identity_margin=0.9) and cfg.delta.max_attrs == 1
    assert cfg.critic_views == ("id", "flip") and cfg.latents == "dataset"
    untouched = config_from_args(TrainConfig, parser.parse_args(["train"]), {})
    assert untouched == TrainConfig()


def test_fields_without_a_default_are_required_flags(capsys):
    import pytest

    parser, _ = build_parser()
    for argv in (["edit"], ["eval"], ["edit-one", "--mapper", "m", "--delta", "smiling=0.2"]):
        with pytest.raises(SystemExit) as e:
            parser.parse_args(argv)
        assert e.value.code == 2
    assert "required" in capsys.readouterr().err


def test_every_command_has_a_dry_run_that_prints_its_config(capsys):
    import json

    parser, handlers = build_parser()
    argvs = {"dataset": [], "train": [], "train-regressor": [], "edit": ["--mapper", "m", "--delta", "smiling=0.2"],
             "edit-one": ["--mapper", "m", "--seed", "3", "--delta", "smiling=0.2"], "eval": ["--mapper", "m"],
             "probe": [], "serve": [], "bench": ["--only", "edit,serve"]}
    for command, argv in argvs.items():
        args = parser.parse_args([command, *argv, "--dry-run"])
        assert handlers[command](args) == 0
        doc = json.loads(capsys.readouterr().out)
        assert isinstance(doc, dict) and doc, command
    assert doc["only"] == ["edit", "serve"]
    assert set(handlers) - set(argvs) == {"verify"}  # every command that runs a job has --dry-run


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
             ("probe", "--dry-run"): 0, ("train", "--attrs", "young,smiling", "--dry-run"): 0,
             ("edit", "--mapper", "m", "--dry-run"): 0, ("dataset", "--dry-run"): 0}
    for argv, code in cases.items():  # argparse exits the process on a bad flag: one interpreter per case
        out = subprocess.run([sys.executable, "-c", probe, json.dumps(argv)], capture_output=True, text=True)
        assert json.loads(out.stdout.splitlines()[-1]) == [code, []], (argv, out.stdout, out.stderr[-300:])
