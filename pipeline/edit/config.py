"""Config of the batch editing job, and parsing of requested changes."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from models.attributes import CATALOG
from pipeline.config import IMAGE_FORMATS, StageResources, check_out, config_hash
from pipeline.edit.refine_config import REFINE_BATCH, RefineConfig
from pipeline.made_with import TrainedWith, held_out_rule


@dataclass(frozen=True)
class EditConfig:
    """`python -m pipeline edit`: apply a mapper to many latents, optionally render and re-label."""

    mapper: str  # mapper export directory or URI (mapper.json + mapper.safetensors)
    dataset: str | None = None  # read latents + labels from this dataset (None, no --latents: the mapper's own)
    latents: str | None = None  # or import latents from a .npy / .pt / .parquet file
    delta: tuple[str, ...] = ()  # requested changes, e.g. young=+0.4,smiling=+0.3 (attribute units)
    sweep: str | None = None  # one row per strength: young=-0.6:0.6:7 (start:stop:count); no name = the mapper's first
    out: str = "data/edits"  # output directory or URI
    generator: str | None = None  # for imported latents; default: the generator the mapper names
    render: bool = True  # render the edited latents (images in the WebDataset shards)
    relabel: bool = True  # re-label renders with the real labelers and identity embedder
    image_format: str = "png"
    webdataset: bool = True  # also write WebDataset tars (images, latents, labels); Parquet is always written
    shard_size: int = 256  # input rows per shard (each gives one row per variant)
    refine: RefineConfig = field(default_factory=RefineConfig)  # optional critic steps from the mapper's output (--refine.steps k)
    held_out_only: bool = False  # dataset input: only the rows the mapper's training held out
    holdout_every: int | None = None  # None: the mapper export's held-out rule (pipeline/made_with.py); another value is refused
    max_rows: int | None = None  # edit only the first N input rows
    overwrite: bool = False
    ray_address: str | None = None
    object_store_memory: int | None = None  # bytes for a local Ray's object store (default Ray's); a cluster's is its own
    # up to seven actor pools (imported latents are rendered and labeled first): a quarter CPU each locally
    mapper_stage: StageResources = field(default_factory=lambda: StageResources(num_cpus=0.25, batch_size=256))
    render_stage: StageResources = field(default_factory=lambda: StageResources(num_cpus=0.25))
    label_stage: StageResources = field(default_factory=lambda: StageResources(num_cpus=0.25))
    refine_stage: StageResources = field(default_factory=lambda: StageResources(num_cpus=0.25, batch_size=REFINE_BATCH))

    def __post_init__(self) -> None:
        if not self.mapper:
            raise ValueError("--mapper is empty: give a mapper export directory")
        check_out(self.out)
        if self.dataset is not None and self.latents is not None:
            raise ValueError("give one of --dataset or --latents, not both")
        if self.image_format not in IMAGE_FORMATS:
            raise ValueError(f"unknown --image-format {self.image_format!r}")
        if self.relabel and not self.render:
            raise ValueError("--relabel needs --render")
        if self.holdout_every is not None and not self.held_out_only:
            raise ValueError("--holdout-every picks rows only with --held-out-only (and the mapper export decides it)")
        if self.held_out_only and self.latents is not None:
            raise ValueError("--held-out-only picks dataset rows: it has nothing to pick from --latents")
        if self.shard_size < 1 or (self.max_rows is not None and self.max_rows < 1):
            raise ValueError("--shard-size and --max-rows must be >= 1")
        parse_variants(self.delta, named_sweep(self.sweep, "attribute"), shown=self.sweep)  # errors at config time

    def identity_hash(self) -> str:
        skip = {"out", "overwrite", "ray_address", "object_store_memory", "mapper_stage", "render_stage", "label_stage", "refine_stage"}
        kept = {k: v for k, v in self.__dict__.items() if k not in skip}
        return config_hash({**kept, "refine": self.refine.described()})  # the steps' settings change nothing without steps


def _pair(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise ValueError(f"cannot parse {text!r}: expected attribute=value")
    return name.strip(), value.strip()


def for_mapper(cfg: EditConfig, doc: dict[str, Any], trained: TrainedWith) -> EditConfig:
    """What the mapper's export decides when the command leaves it open: its training dataset, its first attribute, and
    with --held-out-only the rule its training held rows out by (a --holdout-every that contradicts it is refused)."""
    return replace(cfg, dataset=cfg.dataset if cfg.dataset or cfg.latents else doc["dataset"],
                   sweep=named_sweep(cfg.sweep, doc["architecture"]["attributes"][0]),
                   holdout_every=held_out_rule(cfg.holdout_every, trained) if cfg.held_out_only else None)


def named_sweep(sweep: str | None, name: str) -> str | None:
    """A sweep given without an attribute name (-0.3:0.3:5) sweeps `name`."""
    return sweep if sweep is None or "=" in sweep else f"{name}={sweep}"


def variants(cfg: EditConfig) -> list[dict[str, float]]:
    """The list of requested changes, one per output variant of each input row (after for_mapper)."""
    return parse_variants(cfg.delta, cfg.sweep)


def parse_changes(items: tuple[str, ...] | list[str]) -> dict[str, float]:
    """("young=+0.1", "smiling=-0.05") -> {young: 0.1, smiling: -0.05}: --delta, and the editor's query."""
    out: dict[str, float] = {}
    for item in items:
        name, value = _pair(item)
        try:
            number = float(value)
        except ValueError:
            raise ValueError(f"cannot parse change {item!r}: {value!r} is not a number") from None
        try:
            out[name] = check_change(name, number)
        except ValueError as e:
            raise ValueError(f"change {item!r} refused: {e}") from None
    return out


def check_change(name: str, value: float) -> float:
    """A requested change that is finite and no wider than the attribute's whole range (a catalog attribute: others
    are refused by name where the mapper's attributes are known)."""
    if not np.isfinite(value):
        raise ValueError(f"{value} is not a finite number")
    spec = CATALOG.get(name)
    if spec is not None and abs(value) > spec.high - spec.low:
        raise ValueError(f"{value:g} is beyond {name}'s whole range [{spec.low:g}, {spec.high:g}] ({spec.unit})")
    return value


def parse_variants(delta: tuple[str, ...], sweep: str | None, shown: str | None = None) -> list[dict[str, float]]:
    """`shown`: the sweep as the user typed it, for messages (an unnamed sweep is named before parsing)."""
    base = parse_changes(delta)
    if sweep is None:
        return [base]
    name, spec = _pair(sweep)
    try:
        start, stop, count = spec.split(":")
        values = np.linspace(float(start), float(stop), int(count))
    except ValueError:
        raise ValueError(f"cannot parse --sweep {shown or sweep!r}: expected [attribute=]start:stop:count") from None
    if len(values) < 1:
        raise ValueError(f"--sweep {shown or sweep!r} has no strengths")
    for v in (values[0], values[-1]):
        try:
            check_change(name, float(v))
        except ValueError as e:
            raise ValueError(f"--sweep {shown or sweep!r}: {e}") from None
    return [{**base, name: float(round(v, 6))} for v in values]


def to_plain(v: Any) -> Any:
    return list(v) if isinstance(v, tuple) else v
