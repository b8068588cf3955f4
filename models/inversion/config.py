"""The inversion's settings (models/inversion/*.py, stages/invert.py): torch-free, so every command parses (and refuses)
them before any model loads."""

from __future__ import annotations

from dataclasses import dataclass, field

SPACES = ("auto", "z", "w", "wplus")
METHODS = ("optimize", "tune", "encoder")


@dataclass(frozen=True)
class ReconstructionWeights:
    """The weight of each term of the reconstruction loss."""

    pixel: float = 1.0  # mean squared error over the whole frame, [-1, 1] units
    identity: float = 0.1  # 1 - cosine of the SFace embeddings of the framing's face crop
    features: float = 0.5  # LPIPS-like: channel-normalised SFace feature maps, squared difference, averaged per tap

    def __post_init__(self) -> None:
        if min(self.pixel, self.identity, self.features) < 0 or not (self.pixel or self.identity or self.features):
            raise ValueError(f"reconstruction weights must be >= 0 and not all zero, got {self}")


@dataclass(frozen=True)
class ProjectConfig:
    """Latent optimisation against one aligned face."""

    # auto: the mapper's space (W or W+; the DCGAN's z, which is its W); z, w (one W for every layer) or wplus (one per layer)
    space: str = "auto"
    steps: int = 300  # Adam steps
    lr: float = 0.1  # Adam's peak step, cosine-decayed to 0 over the steps (8 DCGAN renders, 300 steps: 7 of 8 at >= 35 dB; 0.05: 6)
    lr_wplus: float = 0.03  # the same in W+ (a W per layer): on a tiny StyleGAN2, 0.1 stalled at 22 dB, 0.03 reached 32
    pool: int = 1000  # random latents scored (pixels + identity) for the start: the best ones start
    restarts: int = 1  # the best `restarts` of the pool each start an optimisation; the face keeps the lowest loss reached
    # NVlabs' latent noise: this x the latent's spread added at the start, fading to 0 by 3/4 of the steps; on the 8 renders
    # 0.05 lifted the worst face 20 -> 25 dB but took 4 others down 4-14 dB (0.3: all lower), so it is off by default
    explore: float = 0.0
    prior: float = 0.05  # z and the DCGAN: (|z| / sqrt(dim) - 1)^2 keeps z on the prior's shell, where the generator draws faces
    noise: bool = True  # StyleGAN2: also optimise its noise maps (NVlabs), regularised as NVlabs does
    # the maps' step, as a fraction of the latent's: they start as the generator's stored maps and NVlabs' regulariser pulls
    # them; on a tiny random StyleGAN2 a render from a known w came back at 43.6 dB with 0.001, 28.6 dB with 0.01, 24.5 with 0.1
    noise_lr: float = 0.001
    noise_regularize: float = 1e5  # weight of the maps' multi-scale autocorrelation
    weights: ReconstructionWeights = field(default_factory=ReconstructionWeights)

    def __post_init__(self) -> None:
        if self.space not in SPACES:
            raise ValueError(f"--project.space must be one of {', '.join(SPACES)}, got {self.space!r}")
        if self.steps < 0 or min(self.lr, self.lr_wplus) <= 0 or not 1 <= self.restarts <= self.pool or self.prior < 0 or self.explore < 0 or self.noise_regularize < 0:
            raise ValueError(f"projection needs steps >= 0, lr > 0, 1 <= restarts <= pool, prior >= 0 and noise_regularize >= 0, got {self}")


@dataclass(frozen=True)
class TuneConfig:
    """Per-face generator tuning on top of a projection (0 steps: none)."""

    steps: int = 100  # Adam steps on the generator's weights (PTI: up to 350, stopping at LPIPS 0.06)
    lr: float = 3e-4  # PTI's
    weights: ReconstructionWeights = field(default_factory=lambda: ReconstructionWeights(pixel=1.0, identity=0.1, features=1.0))

    def __post_init__(self) -> None:
        if self.steps < 0 or self.lr <= 0:
            raise ValueError(f"tuning needs steps >= 0 and lr > 0, got {self}")


@dataclass(frozen=True)
class InvertConfig:
    """How a face becomes a latent: `optimize` projects it; `tune` then tunes the generator's weights for that face (PTI);
    `encoder` takes the latent a user's encoder (or an earlier run) made for it."""

    method: str = "optimize"  # optimize | tune | encoder
    project: ProjectConfig = field(default_factory=ProjectConfig)
    tune: TuneConfig = field(default_factory=TuneConfig)

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"--invert.method must be one of {', '.join(METHODS)}, got {self.method!r}")
