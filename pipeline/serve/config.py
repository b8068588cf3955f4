"""Settings of the web editor; every field is a flag of `python -m pipeline serve`."""

from __future__ import annotations

from dataclasses import dataclass, field

from models.inversion.config import METHODS, ProjectConfig, TuneConfig
from pipeline.edit.refine_config import RefineConfig
from stages.faces import FindConfig
from stages.paste import PasteConfig
from stages.photo_read import PhotoLimits


@dataclass(frozen=True)
class PhotoEditorConfig:
    """People's own photos on the page: the photos chain (pipeline/photos/job.py photo_stages) with settings sized for a
    person waiting at a progress bar (`python -m pipeline edit-photo`'s defaults take minutes a face on 2 cores)."""

    invert: str = "tune"  # optimize: a latent only; tune: then the generator's weights for this face (PTI: the face looks like the photo)
    # fewer steps and a smaller pool than edit-photo's 300 / 1000; with the 40 tuning steps after them the astronaut came back at
    # PSNR 29.3 dB, SFace 0.997 in ~9 s on 2 cores (18 s for the first photo, which loads the models)
    project: ProjectConfig = field(default_factory=lambda: ProjectConfig(steps=100, pool=300))
    tune: TuneConfig = field(default_factory=lambda: TuneConfig(steps=40))  # the per-face tuning (--photo.invert tune)
    paste: PasteConfig = field(default_factory=PasteConfig)  # detail, replace or delta; the mask and its region; colour matching
    find: FindConfig = field(default_factory=lambda: FindConfig(max_faces=4))  # every edited face is inverted while the page waits
    # a phone's 12 MP JPEG is 3-8 MB; the photo is held as pixels (and as float while pasting) until it is evicted
    limits: PhotoLimits = field(default_factory=lambda: PhotoLimits(max_bytes=20_000_000, max_pixels=24_000_000))
    quality: int = 95  # JPEG and WebP quality of the downloaded photo
    kept: int = 4  # photos held in memory (pixels, latents, tuned weights), least recently used forgotten first; never written to disk
    preview: int = 768  # px on the long side of the before / after images the page shows (the download is full size)

    def __post_init__(self) -> None:
        if self.invert not in METHODS:
            raise ValueError(f"--photo.invert must be one of {', '.join(METHODS)}, got {self.invert!r}")
        if not 1 <= self.quality <= 100 or self.kept < 1 or self.preview < 64:
            raise ValueError(f"--photo.quality must be in 1..100, --photo.kept >= 1 and --photo.preview >= 64, got "
                             f"{self.quality}, {self.kept}, {self.preview}")


@dataclass(frozen=True)
class ServeConfig:
    """A local web editor: pick a face or upload a photo, move one slider per attribute, see the edit and the real labelers' readings."""

    mapper: str | None = None  # the export selected first; default: the newest under --runs
    runs: str = "runs"  # mapper exports (runs/*/export) and their eval outputs are listed from here
    dataset: str | None = None  # rows offered as faces; default: the dataset each mapper was trained on
    host: str = "127.0.0.1"  # loopback unless you mean to expose it
    port: int = 7860
    max_upload_bytes: int = 1 << 20  # a W+ (18, 512) float64 latent is 74 KB
    rows_listed: int = 24  # held-out dataset rows offered as faces (each export's own held-out rule: pipeline/made_with.py)
    sweep_steps: int = 7  # images in the strength strip, from -sweep_strength to +sweep_strength
    sweep_strength: float = 0.3  # fraction of the attribute's range at the strip's ends
    faces_cached: int = 256  # originals kept read (latent + readings); bounded so memory stays flat
    uploads_kept: int = 64  # uploaded latents kept in memory (never written to disk)
    # the page's "refine" control: critic steps after the mapper (exports trained with the ported critic); --refine.steps
    # is the most it offers (~0.1 s a step on 2 cores), the other fields how each step is taken
    refine: RefineConfig = field(default_factory=lambda: RefineConfig(steps=20))
    photo: PhotoEditorConfig = field(default_factory=PhotoEditorConfig)  # uploaded photos: their limits and inversion

    def __post_init__(self) -> None:
        if not 0 < self.port < 65536:
            raise ValueError(f"--port must be in 1..65535, got {self.port}")
        if self.max_upload_bytes < 1024 or self.rows_listed < 1:
            raise ValueError("--max-upload-bytes must be >= 1024 and --rows-listed >= 1")
        if self.sweep_steps < 2 or not 0 < self.sweep_strength <= 1:
            raise ValueError("--sweep-steps must be >= 2 and --sweep-strength in (0, 1]")
        if self.faces_cached < 1 or self.uploads_kept < 1:
            raise ValueError("--faces-cached and --uploads-kept must be >= 1")
