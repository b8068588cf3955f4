"""Dataset rows -> dense training batches; the held-out split by seed."""

from __future__ import annotations

import numpy as np
import torch

from models.generators.interface import broadcast_ws
from stages.seeds import held_out as is_held_out


def holdout_split(batch: dict[str, np.ndarray], every: int, held_out: bool) -> dict[str, np.ndarray]:
    """Keep the held-out rows (stages/seeds.py held_out) or the rest."""
    keep = is_held_out(batch["seed"], every) == held_out
    return {k: v[keep] for k, v in batch.items()}


def dense_rows(batch: dict[str, np.ndarray], attributes: tuple[str, ...], latent_shape: tuple[int, ...]) -> dict[str, np.ndarray]:
    """Parquet columns -> float32 arrays: w (N, *latent_shape), attrs (N, K), identity (N, D), seed (N,)."""
    n = len(batch["seed"])
    w = np.stack(list(batch["w"])).astype(np.float32).reshape(n, *latent_shape) if n else np.zeros((0, *latent_shape), np.float32)
    ident = np.stack(list(batch["identity"])).astype(np.float32) if n else np.zeros((0, 1), np.float32)
    attrs = np.stack([np.asarray(batch[a], np.float32) for a in attributes], axis=1) if n else np.zeros((0, len(attributes)), np.float32)
    return {"seed": np.array(batch["seed"], np.int64), "w": w, "attrs": attrs, "identity": ident}  # a copy: Arrow's columns are read-only


def wds_rows(batch: dict[str, np.ndarray], attributes: tuple[str, ...], image_ext: str) -> dict[str, np.ndarray]:
    """ray.data.read_webdataset rows (decoded image, json labels) -> image uint8 (N,H,W,3), attrs (N,K), seed."""
    labels = list(batch["json"])
    images = np.stack(list(batch[image_ext])).astype(np.uint8)
    attrs = np.array([[float(d[a]) for a in attributes] for d in labels], dtype=np.float32).reshape(len(labels), len(attributes))
    return {"seed": np.array([int(d["seed"]) for d in labels], np.int64), "image": images, "attrs": attrs}


class TrunkFeatures:
    """Adds `features` (N, D): pooled frozen-trunk features of each image, what H's head is fitted on."""

    def __init__(self, framing: tuple[float, float, float, float], trunk_layers: int, device: str = "cpu") -> None:
        from models.labelers.regressor import AttributeRegressor, RegressorConfig

        cfg = RegressorConfig(attributes=("x",), mean=(0.0,), std=(1.0,), trunk_layers=trunk_layers, framing=framing)
        self.model, self.device, self.torch = AttributeRegressor(cfg).to(device).eval(), device, torch

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        from stages.render import from_uint8

        with self.torch.inference_mode():
            feats = self.model.features(from_uint8(batch["image"], self.device)).cpu().numpy()
        return {k: v for k, v in batch.items() if k != "image"} | {"features": feats.astype(np.float32)}


class PriorLatents:
    """Fresh training latents from the generator's prior: z ~ N(0, I) -> mapping(z, psi), as the dataset samples
    them, broadcast to W+ when the latent shape asks for it. Draws come from the caller's torch.Generator."""

    def __init__(self, generator: str | None, psi: float, latent_shape: tuple[int, ...], device: str = "cpu") -> None:
        from models.open import open_generator

        self.gen, self.psi, self.shape = open_generator(generator, device), psi, tuple(latent_shape)

    def __call__(self, n: int, rng: torch.Generator) -> torch.Tensor:
        with torch.no_grad():
            w = self.gen.mapping(torch.randn(n, self.gen.z_dim, generator=rng), self.psi)
        return broadcast_ws(w, *self.shape).contiguous() if len(self.shape) == 2 else w
