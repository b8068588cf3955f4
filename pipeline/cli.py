"""The thin CLI over the library: `python -m pipeline dataset|train|edit|...`; the whole Makefile surface.

Examples:
  python -m pipeline dataset                          # the embedded DCGAN, 4096 rows into data/default
  python -m pipeline dataset --preset tiny --out /tmp/tiny
  python -m pipeline dataset --generator ffhq.pkl --latent-space wplus --psi 0.7 --num-samples 100000 \\
      --out s3://bucket/ffhq-100k --ray-address auto --render.num-gpus 1 --label.num-gpus 0.5
  python -m pipeline train --attributes young,smiling --losses.identity 2 --dry-run
  python -m pipeline verify data/default              # re-hash every shard against the manifest
  python -m pipeline <command> --help                 # every flag, with its default
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pipeline.cli_args import Parsed, parse_command
from pipeline.config import to_jsonable


@dataclass(frozen=True)
class Command:
    """A subcommand whose flags are a config dataclass's fields: where the class and the job live (imported only
    when the command runs: Ray and torch are heavy), its presets, its one-line help."""

    config: str  # module:Class
    job: str  # module:function, called with the config
    help: str
    presets: str | None = None  # module:NAME of a {preset: overrides} dict
    extra: Callable[[Any], dict[str, Any]] = field(default=lambda cfg: {})  # more for --dry-run to print


def _load(ref: str) -> Any:
    module, name = ref.split(":")
    return getattr(importlib.import_module(module), name)


COMMANDS = {
    "dataset": Command("pipeline.config:DatasetConfig", "pipeline.dataset.job:run_dataset",
                       "sample, render, label and write a sharded dataset", "pipeline.config:DATASET_PRESETS",
                       extra=lambda cfg: {"config_hash": cfg.identity_hash()}),
    "train": Command("pipeline.train.config:TrainConfig", "pipeline.train.job:run_train",
                     "train a Latent-To-Latent mapper (Ray Train)", "pipeline.train.config:TRAIN_PRESETS"),
    "train-regressor": Command("pipeline.train.config:RegressorTrainConfig", "pipeline.train.regressor:run_train_regressor",
                               "distill the dataset's labels into a differentiable H", "pipeline.train.config:REGRESSOR_PRESETS"),
    "edit": Command("pipeline.edit.config:EditConfig", "pipeline.edit.job:run_edit",
                    "apply a mapper to many latents (Ray Data), render and re-label"),
    "edit-one": Command("pipeline.edit.one_config:EditOneConfig", "pipeline.edit.one:edit_one",
                        "edit one seed and write the before/after sheet with the readings"),
    "eval": Command("pipeline.eval.config:EvalConfig", "pipeline.eval.run:run_eval",
                    "compare a mapper with a linear-direction baseline"),
    "probe": Command("pipeline.eval.probe_config:ProbeConfig", "pipeline.eval.probe:run_probe",
                     "how predictable the critic's per-face edit directions are (why one pass falls short)"),
    "photos": Command("pipeline.photos.config:PhotosConfig", "pipeline.photos.job:run_photos",
                      "people's photos: every face found, inverted, edited and pasted back (Ray Data, sharded)"),
    "edit-photo": Command("pipeline.photos.config:EditPhotoConfig", "pipeline.photos.one:edit_photo",
                          "one photo in, the edited photo out (same size and format) with a before/after sheet"),
    "serve": Command("pipeline.serve.config:ServeConfig", "pipeline.serve.app:run_serve",
                     "a local web editor: sliders on a mapper export, the edit and its readings live"),
    "bench": Command("pipeline.bench.config:BenchConfig", "pipeline.bench.run:run_bench",
                     "run the benchmarks and write a JSON report"),
}


def parse(command: str, argv: Sequence[str]) -> Parsed:
    """The words after a config command's name, as its config (ValueError with one line when they are bad)."""
    spec = COMMANDS[command]
    presets = _load(spec.presets) if spec.presets else None
    return parse_command(_load(spec.config), argv, f"python -m pipeline {command}", presets)


def run_command(command: str, argv: Sequence[str]) -> int:
    """--dry-run prints the resolved config; otherwise the job runs on it."""
    parsed = parse(command, argv)
    if parsed.dry_run:
        doc = to_jsonable(parsed.config)
        extra = COMMANDS[command].extra(parsed.config)
        print(json.dumps({"config": doc, **extra} if extra else doc, indent=2))
        return 0
    _load(COMMANDS[command].job)(parsed.config)
    return 0


def cmd_verify(argv: Sequence[str]) -> int:
    from pipeline.manifest import verify_manifest

    p = argparse.ArgumentParser(prog="python -m pipeline verify", description="check a dataset's shards against its manifest")
    p.add_argument("dataset")
    dataset = p.parse_args(list(argv)).dataset
    problems = verify_manifest(dataset)
    for line in problems:
        print(line)
    print(f"{dataset}: {'OK' if not problems else f'{len(problems)} problems'}")
    return 1 if problems else 0


def top_parser() -> argparse.ArgumentParser:
    """Picks the command; everything after its name is the command's own (`<command> --help` lists it)."""
    listing = "\n".join(f"  {name:16s}{spec.help}" for name, spec in COMMANDS.items())
    parser = argparse.ArgumentParser(prog="python -m pipeline", description=__doc__,
                                     epilog=f"commands:\n{listing}\n  {'verify':16s}check a dataset's shards against its manifest",
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-v", "--verbose", action="store_true", help="Ray's INFO lines, warnings and worker output on the console")
    parser.add_argument("command", choices=[*COMMANDS, "verify"], metavar="command", help="one of the commands below")
    parser.add_argument("args", nargs=argparse.REMAINDER, help="the command's flags")
    return parser


def main(argv: list[str] | None = None) -> int:
    from pipeline.redact import redacted_console

    with redacted_console():  # no credentials on the console, argparse's own errors included
        return _main(argv)


def _main(argv: list[str] | None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    verbose = [a for a in argv if a in ("-v", "--verbose")]  # accepted after the command name too
    args = top_parser().parse_args(verbose[:1] + [a for a in argv if a not in ("-v", "--verbose")])
    from pipeline.ray_env import set_verbose

    set_verbose(args.verbose)
    try:
        return cmd_verify(args.args) if args.command == "verify" else run_command(args.command, args.args)
    except (ValueError, FileNotFoundError, PermissionError) as e:  # bad input: one line, non-zero exit
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: finished shards are kept; re-run the same command to resume", file=sys.stderr)
        return 130
