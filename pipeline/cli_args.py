"""A command's flags from its config dataclass, through tyro: the dataclass stays the only source of defaults
and its field comments are the help; nested configs get `--<field>.<sub>` flags (`--losses.identity 2`,
`--render.num-gpus 1`); a field without a default is a required flag."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import re
from collections.abc import Sequence
from typing import Annotated, Any, Literal

import tyro
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


def _one_line(box: str) -> str:
    """tyro's error panel (framed on a UTF-8 console, bare lines under rules otherwise) as one line: its title
    and the text before the next rule, without the help text of the flag concerned."""
    lines = [ln.strip().strip("│|").strip() for ln in re.sub(r"\x1b\[[0-9;]*m", "", box).splitlines()]
    rows = [None if set(ln) <= set("─-") else ln for ln in lines if ln]  # None: a rule
    if not rows or rows[0] is None:
        return "invalid arguments"
    title, rest = rows[0].strip("╭╮─ "), rows[1:]
    if rest and rest[0] is None:  # the unframed title's underline
        rest = rest[1:]
    body = rest[:rest.index(None)] if None in rest else rest
    flags = [b for b in body[1:] if b.startswith("--")]  # "Missing from prog:" then one line per flag
    text = ", ".join(flags) if flags and body[0].endswith(":") else " ".join(body)  # else: one wrapped sentence
    return text if text.lower().startswith(title.lower()) else f"{title}: {text}" if text else title


def parse_command(cls: type, argv: Sequence[str], prog: str,
                  presets: dict[str, dict[str, Any]] | None = None) -> Parsed:
    """`argv` (the words after the command's name) as `cls`; a bad flag or value raises ValueError with one line;
    --help prints the help and exits 0."""
    preset = _preset(argv, presets) if presets else None
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            out = tyro.cli(_command_type(cls, presets, preset or ""), args=list(argv), prog=prog,
                           description=cls.__doc__, registry=REGISTRY)
    except SystemExit as e:
        if e.code in (0, None):
            raise
        raise ValueError(f"{prog}: {_one_line(err.getvalue())} (--help lists the flags)") from None
    return Parsed(out.config, out.dry_run)
