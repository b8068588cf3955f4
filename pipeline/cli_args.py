"""A command's flags from its config dataclass, through tyro: the dataclass stays the only source of defaults
and its field comments are the help; nested configs get `--<field>.<sub>` flags (`--losses.identity 2`,
`--render.num-gpus 1`); a field without a default is a required flag."""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Sequence
from typing import Annotated, Any, Literal

import tyro
import tyro._errors as tyro_errors  # tyro's parse-failure hook: experimental, so pyproject pins tyro exactly
from tyro.constructors import ConstructorRegistry, PrimitiveConstructorSpec, PrimitiveTypeInfo

REGISTRY = ConstructorRegistry()
_ITEMS = (str, int, float)  # the item types a comma list may hold


@REGISTRY.primitive_rule
def comma_list(info: PrimitiveTypeInfo) -> PrimitiveConstructorSpec | None:
    """tuple[str|int|float, ...] as one comma list (`--attributes young,smiling`), the spelling the Makefile's
    ATTR=, jobs/ and the README use; tyro's own is one value per word."""
    args = getattr(info.type, "__args__", ())
    if info.type_origin is not tuple or len(args) != 2 or args[1] is not Ellipsis or args[0] not in _ITEMS:
        return None
    item = args[0]

    def parse(words: list[str]) -> tuple[Any, ...]:
        try:
            return tuple(item(t.strip()) for t in words[0].split(",") if t.strip())
        except ValueError:
            raise ValueError(f"expected a comma list of {item.__name__}, got {words[0]!r}") from None

    return PrimitiveConstructorSpec(nargs=1, metavar=f"{item.__name__.upper()},...", instance_from_str=parse,
                                    is_instance=lambda v: isinstance(v, tuple),
                                    str_from_instance=lambda v: [",".join(map(str, v))])


@dataclasses.dataclass(frozen=True)
class Parsed:
    """One command line: the resolved config and whether to only print it."""

    config: Any
    dry_run: bool = False


def _preset(argv: Sequence[str], presets: dict[str, dict[str, Any]]) -> str:
    """The --preset named on the line (its defaults seed every other flag); an unknown one is left to tyro's
    choice check."""
    pre = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    pre.add_argument("--preset", default="default")
    name = pre.parse_known_args(list(argv))[0].preset
    return name if name in presets else "default"


def _command_type(cls: type, presets: dict[str, dict[str, Any]] | None, preset: str) -> type:
    """The config's fields at the top level (no prefix), then --preset (if any) and --dry-run."""
    config = Annotated[cls, tyro.conf.arg(name="")]
    fields: list[tuple[str, Any, Any]] = [("config", config, dataclasses.field(default=cls(**presets[preset])))
                                          if presets else ("config", config)]
    if presets:
        fields.append(("preset", Literal[tuple(sorted(presets))], dataclasses.field(default=preset)))
    fields.append(("dry_run", bool, dataclasses.field(default=False)))
    return dataclasses.make_dataclass(cls.__name__ + "Command", fields, frozen=True)


class _Rejected(Exception):
    """tyro rejected the command line: the reason in one line."""


def _flag(arg: Any) -> str:
    """How the line names a flag (`--steps`), or a positional argument (`PHOTO`)."""
    return arg.field.extern_name.upper() if arg.is_positional() else arg.display_name()


def _one_line(event: tyro_errors.ParseErrorEvent) -> str:
    """A tyro parse failure in one line, without the help text of the flag concerned."""
    if isinstance(event, tyro_errors.MissingArgs):
        missing = [_flag(a.arg) if a.arg.is_positional() else f"{_flag(a.arg)} {a.arg.lowered.metavar}"
                   for a in event.missing_arguments]
        return "Required options: " + ", ".join(missing)
    if isinstance(event, tyro_errors.UnrecognizedArgs):
        return "Unrecognized options: " + ", ".join(event.tokens)
    if isinstance(event, tyro_errors.InvalidChoice):
        return f"invalid choice {event.value!r} for argument '{_flag(event.argument)}': one of {', '.join(event.choices)}"
    if isinstance(event, tyro_errors.BadValue):
        return f"{_flag(event.argument)}: " + ("takes no value" if event.reason == "fixed" else "a value is missing")
    if isinstance(event, tyro_errors.InstantiationFailure):  # a value's own parser or the config's check refused it
        return (f"Error parsing {_flag(event.argument)}: " if event.argument is not None else "") + event.message
    return f"invalid arguments ({type(event).__name__})"  # an event this CLI's flags cannot raise (subcommands, mutex)


def _reject(event: tyro_errors.ParseErrorEvent) -> None:
    raise _Rejected(_one_line(event))


def parse_command(cls: type, argv: Sequence[str], prog: str,
                  presets: dict[str, dict[str, Any]] | None = None) -> Parsed:
    """`argv` (the words after the command's name) as `cls`; a bad flag or value raises ValueError with one line;
    --help prints the help and exits 0."""
    preset = _preset(argv, presets) if presets else None
    try:
        with tyro_errors.on_parse_error(_reject):  # tyro's parse failures as events, not its printed panel
            out = tyro.cli(_command_type(cls, presets, preset or ""), args=list(argv), prog=prog,
                           description=cls.__doc__, registry=REGISTRY)
    except _Rejected as e:
        raise ValueError(f"{prog}: {e} (--help lists the flags)") from None
    return Parsed(out.config, out.dry_run)
