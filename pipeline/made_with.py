"""What a dataset or a mapper was made with, as its manifest or export records it: the one reader that train, edit,
eval, serve, the judge and the training critic ask, so that no default is typed twice. A document written before a
field was recorded reads as the runs of its time were made, and says so once (LegacyRecordWarning)."""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass, field
from typing import Any

from models.attributes import ALIASES, CATALOG, LABELERS

KEY = "made_with"  # the block's name in a dataset manifest, an edit manifest and a mapper export


class LegacyRecordWarning(UserWarning):
    """A manifest or export written before a field was recorded: the field reads as its old default."""


@dataclass(frozen=True)
class Unit:
    """One attribute's label scale, as the labels were written in it."""

    name: str
    low: float
    high: float
    unit: str  # "years", "probability" or "score"


def catalog_units(names: tuple[str, ...] | list[str] | None = None) -> tuple[Unit, ...]:
    """The catalog's scales of `names` (None: every catalog attribute)."""
    return tuple(Unit(n, CATALOG[n].low, CATALOG[n].high, CATALOG[n].unit) for n in (CATALOG if names is None else names))


def catalog_aliases(names: tuple[str, ...] | list[str] | None = None) -> tuple[tuple[str, str], ...]:
    """The catalog's alias pairs among `names` (None: all of them), sorted."""
    keep = set(CATALOG if names is None else names)
    return tuple(sorted((a, b) for a, b in ALIASES.items() if a in keep and b in keep))


@dataclass(frozen=True)
class MadeWith:
    """How a dataset's rows were made: the generator that rendered them, the labelers and identity embedder that read
    them, the scales and aliases of their labels. Each default is what every run made before the field was recorded used."""

    generator: str | None = None  # checkpoint path or URI that reopens it; None: the embedded DCGAN
    noise_mode: str = "const"  # StyleGAN2 noise inputs the rows were rendered with (the judge and critic render so too)
    psi: float = 1.0  # truncation the latents were sampled with
    labelers: tuple[str, ...] = LABELERS  # black-box labelers that labeled the rows
    embedder: str = "sface"  # identity embedder that reopens it: sface, or arcface:<absolute path or URI>
    embedder_id: str | None = None  # its name + weights hash; None: not recorded
    units: tuple[Unit, ...] = field(default_factory=catalog_units)  # the labels' scales
    aliases: tuple[tuple[str, str], ...] = field(default_factory=catalog_aliases)  # pairs that are one quantity

    def check_catalog(self, where: str) -> None:
        """Labels in scales or aliases this code no longer computes cannot be compared with fresh readings: one line."""
        for u in self.units:
            now = CATALOG.get(u.name)
            if now is None or (now.low, now.high, now.unit) != (u.low, u.high, u.unit):
                shown = f"[{now.low:g}, {now.high:g}] {now.unit}" if now else "no such attribute"
                raise ValueError(f"{where} holds {u.name} in [{u.low:g}, {u.high:g}] {u.unit}, this code's catalog has {shown}: re-make it")
        names = {u.name for u in self.units}
        if set(self.aliases) != set(catalog_aliases(names)):
            raise ValueError(f"{where} records aliases {dict(self.aliases)}, this code's catalog {dict(catalog_aliases(names))}: re-make it")

    def as_json(self) -> dict[str, Any]:
        """The block a manifest or export records (pipeline/config.py to_jsonable redacts it where it is written)."""
        doc = dataclasses.asdict(self)
        doc["units"] = {u.name: {"low": u.low, "high": u.high, "unit": u.unit} for u in self.units}
        doc["aliases"] = dict(self.aliases)
        doc["labelers"] = list(self.labelers)
        return doc


@dataclass(frozen=True)
class TrainedWith:
    """What a mapper export adds to its dataset's MadeWith: the rule its training held rows out by."""

    made: MadeWith = field(default_factory=MadeWith)
    holdout_every: int = 10  # seeds with seed % holdout_every == 0 were never trained on (validation, eval, the editor)


_WARNED: set[str] = set()


def _shown(name: str) -> str:
    """How a warning shows a field's old default (the dataclasses' own defaults)."""
    if name == "holdout_every":
        return str(TrainedWith.holdout_every)
    if name in ("units", "aliases"):
        return "the catalog's"
    value = getattr(MadeWith(), name)
    return ",".join(value) if isinstance(value, tuple) else str(value)


def _parse(block: dict[str, Any], where: str, missing: list[str]) -> MadeWith:
    """A MadeWith from a recorded block; the fields it lacks take their old default and are added to `missing`."""
    values = {f.name: block[f.name] for f in dataclasses.fields(MadeWith) if f.name in block}
    missing += [f.name for f in dataclasses.fields(MadeWith) if f.name not in block]
    if "labelers" in values:
        values["labelers"] = tuple(values["labelers"])
    if "units" in values:
        values["units"] = tuple(Unit(n, float(u["low"]), float(u["high"]), str(u["unit"])) for n, u in values["units"].items())
    if "aliases" in values:
        values["aliases"] = tuple(sorted(values["aliases"].items()))
    made = MadeWith(**values)
    made.check_catalog(where)
    return made


def _say_once(where: str, missing: list[str]) -> None:
    """One warning per document and process: which fields were read as their old defaults."""
    message = (f"{where} was written before it recorded {', '.join(missing)}: read as the old defaults "
               f"({', '.join(f'{k}={_shown(k)}' for k in missing)})")
    if missing and message not in _WARNED:
        _WARNED.add(message)
        warnings.warn(message, LegacyRecordWarning, stacklevel=3)


def dataset_made(manifest: dict[str, Any], where: str = "a dataset manifest") -> MadeWith:
    """A dataset manifest's MadeWith; a manifest from before the block reads its config (units, aliases: the catalog's)."""
    missing: list[str] = []
    if KEY in manifest:
        made = _parse(manifest[KEY], where, missing)
    else:
        cfg = manifest.get("config", {})
        block = {k: cfg[k] for k in ("generator", "noise_mode", "psi", "labelers", "embedder") if k in cfg}
        made = _parse({**block, **({"embedder_id": manifest["embedder_id"]} if "embedder_id" in manifest else {})}, where, missing)
    _say_once(where, missing)
    return made


def export_trained(doc: dict[str, Any], where: str = "a mapper export") -> TrainedWith:
    """A mapper export's TrainedWith; an export from before the block reads what it did record (generator, psi, labelers,
    its train_config's held-out rule) and the rest as the old defaults (SFace, const noise, rule 10), said once."""
    missing: list[str] = []
    if KEY in doc:
        made = _parse(doc[KEY], where, missing)
    else:
        block = {"psi": doc.get("dataset_psi"), "labelers": doc.get("labelers")}
        made = _parse({"generator": doc.get("generator"), **{k: v for k, v in block.items() if v is not None}}, where, missing)
    every = doc.get("holdout_every", (doc.get("train_config") or {}).get("holdout_every"))
    missing += ["holdout_every"] if every is None else []
    _say_once(where, missing)
    return TrainedWith(made, int(every) if every is not None else TrainedWith.holdout_every)


def held_out_rule(flag: int | None, trained: TrainedWith) -> int:
    """The export's held-out rule; a --holdout-every naming another is refused (its faces would include training ones)."""
    if flag is not None and flag != trained.holdout_every:
        raise ValueError(f"--holdout-every {flag} contradicts the mapper export (trained with seeds % {trained.holdout_every} == 0 "
                         "held out): leave the flag out, the export decides")
    return trained.holdout_every
