"""Settings of `photos` and `edit-photo`: torch-free, so both commands parse (and refuse) their flags before any model loads."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Annotated, Any

import tyro

from models.attributes import LABELERS
from models.inversion.config import METHODS, ProjectConfig, TuneConfig
from pipeline.config import StageResources, check_out, config_hash
from pipeline.edit.config import parse_changes
from pipeline.edit.refine_config import RefineConfig
from stages.faces import FindConfig
from stages.paste import PasteConfig
from stages.photo_read import PhotoLimits


@dataclass(frozen=True, kw_only=True)
class PhotoSettings:
    """What both commands share: the mapper and request, how faces are found, inverted, edited and pasted back."""

    mapper: str | None = None  # mapper export (its generator and labelers are used); none: faces are only inverted and pasted back
    delta: tuple[str, ...] = ()  # requested changes, e.g. smiling=+0.3,young=+0.2 (attribute units)
    generator: str | None = None  # without a mapper: the generator to invert into (default: the embedded DCGAN)
    labelers: tuple[str, ...] = LABELERS  # without a mapper: the labelers that read faces (a mapper brings its own)
    # optimize: a latent only; tune: then the generator's weights for this face too (PTI; sharper, slower); encoder: --latents
    invert: str = "optimize"
    # --invert encoder: a Parquet file (columns name, face, w: the photo's file name, the face's index, the latent) from a
    # user's encoder run on the aligned faces, or an earlier photos output folder (edit again without inverting again)
    latents: str | None = None
    project: ProjectConfig = field(default_factory=ProjectConfig)  # the latent optimisation (--project.steps ...)
    tune: TuneConfig = field(default_factory=TuneConfig)  # the per-face generator tuning (--invert tune)
    refine: RefineConfig = field(default_factory=RefineConfig)  # optional critic steps after the mapper (--refine.steps k)
    paste: PasteConfig = field(default_factory=PasteConfig)  # detail, replace or delta; the mask and its region; colour matching
    find: FindConfig = field(default_factory=FindConfig)  # the detector and which faces are edited
    limits: PhotoLimits = field(default_factory=PhotoLimits)  # file size and pixels a photo may have
    quality: int = 95  # JPEG and WebP quality of the edited photo

    def __post_init__(self) -> None:
        if self.invert not in METHODS:
            raise ValueError(f"--invert must be one of {', '.join(METHODS)}, got {self.invert!r}")
        if (self.invert == "encoder") != bool(self.latents):
            raise ValueError("--invert encoder takes its latents from --latents (a Parquet file or a photos output), and only it does")
        if not 1 <= self.quality <= 100:
            raise ValueError(f"--quality must be in 1..100, got {self.quality}")
        changes = parse_changes(self.delta)  # unparsable changes: an error here, before any model loads
        if changes and not self.mapper:
            raise ValueError("--delta needs a --mapper to edit with")
        if self.mapper and self.generator:
            raise ValueError("give --generator only without --mapper (a mapper's export names its generator)")
        if self.refine.steps and not self.mapper:
            raise ValueError("--refine.steps needs a --mapper")

    def changes(self) -> dict[str, float]:
        return parse_changes(self.delta)


@dataclass(frozen=True, kw_only=True)
class EditPhotoConfig(PhotoSettings):
    """`python -m pipeline edit-photo me.jpg --mapper M --delta smiling=+0.3`: one photo in, the edited photo out (same
    size and format) with a before/after sheet beside it."""

    photo: Annotated[str, tyro.conf.Positional]  # the photo: a path or URI (JPEG, PNG or WebP)
    out: str | None = None  # the edited photo; default <photo stem>-edited.<its extension> in the working directory
    sheet: bool = True  # also write <out stem>.sheet.png: the photo before and after, each face's crop, reconstruction and edit

    def __post_init__(self) -> None:
        super().__post_init__()
        check_out(self.out)
        if not self.photo.strip():
            raise ValueError("give the photo to edit: python -m pipeline edit-photo me.jpg --mapper ...")


@dataclass(frozen=True, kw_only=True)
class PhotosConfig(PhotoSettings):
    """`python -m pipeline photos --photos DIR`: every face of every photo found, inverted, edited and pasted back, as a
    sharded, resumable Ray Data job: one Parquet row per face, the edited photos and sheets in WebDataset tars."""

    photos: tuple[str, ...]  # photo files, folders (their JPEG, PNG, WebP... files) or URIs, comma separated
    out: str = "data/photos"  # output directory or URI
    shard_size: int = 8  # photos per shard (a shard is written, and resumed, whole)
    overwrite: bool = False
    ray_address: str | None = None
    object_store_memory: int | None = None  # bytes for a local Ray's object store (default Ray's); a cluster's is its own
    # one actor holds every model (detector, generator, loss, labelers, dlib, mapper) and runs whole shards; 2 CPUs, as Ray
    # gives an actor as many torch threads as CPUs (at 1 CPU the job ran at 0.47x a 2-thread bare loop, the inversion 2x slower)
    pool: StageResources = field(default_factory=lambda: StageResources(num_cpus=2.0, batch_size=4))

    def __post_init__(self) -> None:
        super().__post_init__()
        check_out(self.out)
        if not self.photos:
            raise ValueError("--photos is empty: give photo files, folders or URIs")
        if self.shard_size < 1:
            raise ValueError(f"--shard-size must be >= 1, got {self.shard_size}")

    def identity_hash(self) -> str:
        skip = {"out", "overwrite", "ray_address", "object_store_memory", "pool"}
        kept = {k: v for k, v in asdict(self).items() if k not in skip}
        return config_hash({**kept, "refine": self.refine.described()})


def described(cfg: PhotoSettings) -> dict[str, Any]:
    """The settings a row was made with, for run headers."""
    return {"invert": cfg.invert, "paste": cfg.paste.mode, "changes": cfg.changes(), "refine_steps": cfg.refine.steps}
