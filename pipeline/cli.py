"""The thin CLI over the library: `python -m pipeline dataset|verify|...`; the whole Makefile surface.

Examples:
  python -m pipeline dataset                          # the embedded DCGAN, 4096 rows into data/default
  python -m pipeline dataset --preset tiny --out /tmp/tiny
  python -m pipeline dataset --generator ffhq.pkl --latent-space wplus --psi 0.7 --num-samples 100000 \
      --out s3://bucket/ffhq-100k --ray-address auto --render-gpus 1 --label-gpus 0.5
  python -m pipeline verify data/default              # re-hash every shard against the manifest
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Callable

from pipeline.cli_args import add_config_args, config_from_args
from pipeline.config import DATASET_PRESETS, DatasetConfig, to_jsonable
from pipeline.train.config import REGRESSOR_PRESETS, TRAIN_PRESETS, RegressorTrainConfig, TrainConfig


def _csv(text: str) -> tuple[str, ...]:
    return tuple(t.strip() for t in text.split(",") if t.strip())


def dataset_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("dataset", help="sample, render, label and write a sharded dataset", description=DatasetConfig.__doc__)
    p.add_argument("--preset", choices=sorted(DATASET_PRESETS), default="default")
    add_config_args(p, DatasetConfig)
    p.add_argument("--no-images", dest="image_format", action="store_const", const="none", help="latents + labels only")
    p.add_argument("--dry-run", action="store_true", help="print the resolved config and exit")


def dataset_config(args: argparse.Namespace) -> DatasetConfig:
    return config_from_args(DatasetConfig, args, DATASET_PRESETS[args.preset])


def cmd_dataset(args: argparse.Namespace) -> int:
    cfg = dataset_config(args)
    if args.dry_run:
        print(json.dumps({"config": to_jsonable(cfg), "config_hash": cfg.identity_hash()}, indent=2))
        return 0
    from pipeline.dataset.job import run_dataset

    run_dataset(cfg)
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from pipeline.manifest import verify_manifest

    problems = verify_manifest(args.dataset)
    for p in problems:
        print(p)
    print(f"{args.dataset}: {'OK' if not problems else f'{len(problems)} problems'}")
    return 1 if problems else 0


def train_parsers(sub: argparse._SubParsersAction) -> None:
    t = sub.add_parser("train", help="train a Latent-To-Latent mapper (Ray Train)", description=TrainConfig.__doc__)
    t.add_argument("--preset", choices=sorted(TRAIN_PRESETS), default="default")
    add_config_args(t, TrainConfig)
    t.add_argument("--attrs", dest="attributes", type=_csv, help="young | young,smiling,male | all")
    t.add_argument("--dry-run", action="store_true")
    r = sub.add_parser("train-regressor", help="distill the dataset's labels into a differentiable H",
                       description=RegressorTrainConfig.__doc__)
    r.add_argument("--preset", choices=sorted(REGRESSOR_PRESETS), default="default")
    add_config_args(r, RegressorTrainConfig)
    r.add_argument("--dry-run", action="store_true")


def _run_or_print(cfg: object, args: argparse.Namespace, module: str, fn: str) -> int:
    """--dry-run prints the resolved config; otherwise import the job lazily (Ray is heavy) and run it."""
    if args.dry_run:
        print(json.dumps(to_jsonable(cfg), indent=2))
        return 0
    getattr(importlib.import_module(module), fn)(cfg)
    return 0


def train_config(args: argparse.Namespace) -> TrainConfig:
    return config_from_args(TrainConfig, args, TRAIN_PRESETS[args.preset])


def cmd_train(args: argparse.Namespace) -> int:
    return _run_or_print(train_config(args), args, "pipeline.train.job", "run_train")


def cmd_train_regressor(args: argparse.Namespace) -> int:
    cfg = config_from_args(RegressorTrainConfig, args, REGRESSOR_PRESETS[args.preset])
    return _run_or_print(cfg, args, "pipeline.train.regressor", "run_train_regressor")


def edit_parsers(sub: argparse._SubParsersAction) -> None:
    from pipeline.edit.config import EditConfig

    e = sub.add_parser("edit", help="apply a mapper to many latents (Ray Data), render and re-label",
                       description=EditConfig.__doc__)
    add_config_args(e, EditConfig)
    e.add_argument("--dry-run", action="store_true")


def cmd_edit(args: argparse.Namespace) -> int:
    from pipeline.edit.config import EditConfig

    return _run_or_print(config_from_args(EditConfig, args, {}), args, "pipeline.edit.job", "run_edit")


def config_command(sub: argparse._SubParsersAction, name: str, cls: type, module: str, fn: str,
                   help: str) -> Callable[[argparse.Namespace], int]:
    """A subcommand whose flags are a config dataclass's fields, plus --dry-run; returns its handler (the job's
    module is imported only when it runs)."""
    p = sub.add_parser(name, help=help, description=cls.__doc__)
    add_config_args(p, cls)
    p.add_argument("--dry-run", action="store_true")
    return lambda args: _run_or_print(config_from_args(cls, args, {}), args, module, fn)


def config_commands(sub: argparse._SubParsersAction) -> dict[str, Callable[[argparse.Namespace], int]]:
    from pipeline.bench.config import BenchConfig
    from pipeline.edit.one_config import EditOneConfig
    from pipeline.eval.config import EvalConfig
    from pipeline.eval.probe_config import ProbeConfig
    from pipeline.serve.config import ServeConfig

    return {"edit-one": config_command(sub, "edit-one", EditOneConfig, "pipeline.edit.one", "edit_one",
                                       "edit one seed and write the before/after sheet with the readings"),
            "bench": config_command(sub, "bench", BenchConfig, "pipeline.bench.run", "run_bench",
                                    "run the benchmarks and write a JSON report"),
            "eval": config_command(sub, "eval", EvalConfig, "pipeline.eval.run", "run_eval",
                                   "compare a mapper with a linear-direction baseline"),
            "probe": config_command(sub, "probe", ProbeConfig, "pipeline.eval.probe", "run_probe",
                                    "how predictable the critic's per-face edit directions are (why one pass falls short)"),
            "serve": config_command(sub, "serve", ServeConfig, "pipeline.serve.app", "run_serve",
                                    "a local web editor: sliders on a mapper export, the edit and its readings live")}


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, Callable[[argparse.Namespace], int]]]:
    parser = argparse.ArgumentParser(prog="python -m pipeline", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-v", "--verbose", action="store_true", help="Ray's INFO lines, warnings and worker output on the console")
    sub = parser.add_subparsers(dest="command", required=True)
    dataset_parser(sub)
    train_parsers(sub)
    edit_parsers(sub)
    configured = config_commands(sub)
    v = sub.add_parser("verify", help="check a dataset's shards against its manifest")
    v.add_argument("dataset")
    return parser, {"dataset": cmd_dataset, "verify": cmd_verify, "train": cmd_train, "train-regressor": cmd_train_regressor,
                    "edit": cmd_edit, **configured}


def main(argv: list[str] | None = None) -> int:
    from pipeline.redact import redacted_console

    with redacted_console():  # no credentials on the console, argparse's own errors included
        return _main(argv)


def _main(argv: list[str] | None) -> int:
    parser, commands = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    verbose = [a for a in argv if a in ("-v", "--verbose")]  # accepted after the command name too
    args = parser.parse_args(verbose[:1] + [a for a in argv if a not in ("-v", "--verbose")])
    from pipeline.ray_env import set_verbose

    set_verbose(args.verbose)
    try:
        return commands[args.command](args)
    except (ValueError, FileNotFoundError, PermissionError) as e:  # bad input: one line, non-zero exit
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: finished shards are kept; re-run the same command to resume", file=sys.stderr)
        return 130
