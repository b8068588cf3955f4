"""Open a network from what a config names: a checkpoint path or a labeler / embedder name."""

from __future__ import annotations

from models.attributes import LABELERS
from models.framing import Framing
from models.generator import Generator
from models.weights import fetch


def open_generator(path: str | None, device: str = "cpu") -> Generator:
    """None = the embedded DCGAN; otherwise a StyleGAN2 checkpoint (NVlabs .pkl or rosinality .pt)."""
    if path is None:
        from models.dcgan import load_dcgan

        gen = load_dcgan()
    else:
        from models.stylegan2_ckpt import load_generator

        gen = load_generator(fetch(path, "StyleGAN2 checkpoint"))
    return gen.to(device).eval().requires_grad_(False)


def labeler_class(name: str) -> type:
    """The labeler's class: its `attributes` are readable without loading any weights."""
    if name == "age-gender":
        from models.age_gender import AgeGenderLabeler

        return AgeGenderLabeler
    if name == "emotion":
        from models.emotion import EmotionLabeler

        return EmotionLabeler
    raise ValueError(f"unknown labeler {name!r} (choose from {', '.join(LABELERS)})")


def open_labeler(name: str, framing: Framing, device: str = "cpu"):
    """A black-box attribute labeler: images (N,3,H,W) in [-1,1] -> {attribute: (N,) float32}."""
    return labeler_class(name)(framing=framing)


def open_embedder(name: str, framing: Framing, device: str = "cpu"):
    """An identity embedder: images (N,3,H,W) in [-1,1] -> (N, D) unit vectors."""
    if name == "sface":
        from models.sface import SFaceEmbedder

        return SFaceEmbedder(framing=framing)
    raise ValueError(f"unknown identity embedder {name!r} (choose from sface)")
