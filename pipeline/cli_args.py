"""Flags generated from a config dataclass's scalar fields: the dataclass stays the only source of defaults."""

from __future__ import annotations

import argparse
import dataclasses
import typing
from typing import Any


def _csv(text: str) -> tuple[str, ...]:
    return tuple(t.strip() for t in text.split(",") if t.strip())


def _csv_of(hint: str) -> Any:
    """A comma-list parser whose items have the tuple's element type (int, float or str)."""
    item = int if "tuple[int" in hint else float if "tuple[float" in hint else str

    def parse(text: str) -> tuple[Any, ...]:
        try:
            return tuple(item(t) for t in _csv(text))
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a comma list of {item.__name__}, got {text!r}") from None

    return parse


def add_config_args(p: argparse.ArgumentParser, cls: type, skip: tuple[str, ...] = ()) -> None:
    """--field-name for each int/float/str/bool/tuple[str] field; unset flags stay None (= the default); a field
    without a default is a required flag."""
    from pipeline.config import StageResources

    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        if hints[f.name] is StageResources:  # nested: --<stage>-actors/-cpus/-gpus/-batch-size
            stage = f.name.replace("_", "-")
            for sub, typ in (("actors", int), ("cpus", float), ("gpus", float), ("batch-size", int)):
                p.add_argument(f"--{stage}-{sub}", type=typ, default=None, help=f"{stage} stage {sub}")
            continue
        if dataclasses.is_dataclass(hints[f.name]):  # nested config (loss weights, sampling): --<field>-<sub>
            add_nested_args(p, f.name, hints[f.name])
            continue
        flag, hint = "--" + f.name.replace("_", "-"), str(hints[f.name])
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        default = "required" if required else f"default {f.default if f.default is not dataclasses.MISSING else '(nested)'}"
        if hints[f.name] is bool:
            p.add_argument(flag, action=argparse.BooleanOptionalAction, default=None, required=required, help=default)
        elif "tuple" in hint:
            p.add_argument(flag, type=_csv_of(hint), default=None, required=required, help=f"comma list, {default}")
        elif hints[f.name] in (int, float, str) or "str" in hint or "int" in hint or "float" in hint:
            typ = int if "int" in hint else float if "float" in hint else str
            p.add_argument(flag, type=typ, default=None, required=required, help=default)


def add_nested_args(p: argparse.ArgumentParser, prefix: str, cls: type) -> None:
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        typ = hints[f.name]
        p.add_argument(f"--{prefix}-{f.name}".replace("_", "-"), dest=f"{prefix}__{f.name}", type=typ, default=None,
                       help=f"{cls.__name__}.{f.name}, default {f.default}")


def config_from_args(cls: type, args: argparse.Namespace, preset: dict[str, Any]) -> Any:
    from pipeline.config import StageResources

    overrides = dict(preset)
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if hints[f.name] is StageResources:
            keys = {"actors": "actors", "num_cpus": "cpus", "num_gpus": "gpus", "batch_size": "batch_size"}
            given = {k: getattr(args, f"{f.name}_{v}", None) for k, v in keys.items()}
            given = {k: v for k, v in given.items() if v is not None}
            if given:
                base = overrides.get(f.name) or f.default_factory()  # type: ignore[misc]
                overrides[f.name] = dataclasses.replace(base, **given)
            continue
        if dataclasses.is_dataclass(hints[f.name]):
            given = {g.name: getattr(args, f"{f.name}__{g.name}", None) for g in dataclasses.fields(hints[f.name])}
            given = {k: v for k, v in given.items() if v is not None}
            if given:
                overrides[f.name] = dataclasses.replace(overrides.get(f.name) or f.default_factory(), **given)  # type: ignore[misc]
            continue
        value = getattr(args, f.name, None)
        if value is not None:
            overrides[f.name] = value
    return cls(**overrides)
