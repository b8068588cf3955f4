"""The one judge of an edit: render, label with the real labelers averaged over views, embed, compare.

Used by the end-of-training check, validation during training, `make eval`, `edit-one` and the benchmarks.
The labelers are the black boxes that labeled the dataset (onnxruntime / the fer port on 8-bit images), not
the differentiable critic; its default views include shifts the training critic never saw, so an edit that
only fools the critic's own views does not count. The robust figure reads the change under random resamplings (scale,
rotation, shift, brightness, contrast, blur, JPEG: models/labelers/resampling.py) that nothing optimises on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from models.attributes import attribute, kept_attributes
from models.labelers.resampling import ResampleConfig, resample
from models.labelers.views import Views
from models.open import open_embedder, open_generator, open_labeler
from pipeline.made_with import MadeWith
from stages.render import from_uint8, to_uint8

JUDGE_VIEWS = ("id", "flip", "dxy+2", "flipdxy-2")  # the diagonal 2-px shifts are not among the critic's views
# 3-px shifts that no critic, critic step or judge view uses: an edit's change there, reported beside the judge's, shows
# how much of it is the face and how much the few pixel alignments the steps were taken over
CHECK_VIEWS = ("dx+3", "flipdy-3", "dxy-3", "flipdxy+3")


@dataclass
class Reading:
    """What the judge sees of a batch of latents."""

    w: torch.Tensor
    images: torch.Tensor  # (N,3,H,W) in [-1,1], quantised to 8 bits as a stored image would be
    labels: dict[str, np.ndarray]  # view-averaged, attribute units
    by_view: dict[str, dict[str, np.ndarray]]  # per view name
    identity: np.ndarray  # (N, D) unit vectors of the dataset's identity embedder
    dlib: np.ndarray | None = None  # (n, 128) dlib descriptors of the first dlib_rows faces, once asked for
    checked: dict[str, np.ndarray] | None = None  # labels averaged over the judge's check views, once asked for
    robust: dict[str, np.ndarray] | None = None  # labels averaged over the judge's random resamplings, once asked for


class Judge:
    """Loaded once; `read` a batch, `compare` an edit with its original."""

    def __init__(self, made: MadeWith, views: tuple[str, ...] = JUDGE_VIEWS, dlib: bool = True, dlib_rows: int = 32,
                 check_views: tuple[str, ...] = CHECK_VIEWS, resampling: ResampleConfig = ResampleConfig()) -> None:
        """`made`: the generator (and its noise mode), labelers and identity embedder the judged rows were made with."""
        self.made = made
        self.gen = open_generator(made.generator, noise_mode=made.noise_mode)
        self.labelers = [open_labeler(n, self.gen.framing) for n in made.labelers]
        self.views = Views(views)
        self.embedder = open_embedder(made.embedder, self.gen.framing)
        self.dlib = _dlib(self.gen.framing) if dlib else None  # an embedder training never saw
        self.dlib_rows = dlib_rows  # dlib runs ~9 faces/s on 2 cores: the same-person rate is on the first rows
        self.check_views = check_views
        self.resampling = resampling

    @torch.no_grad()
    def render(self, w: torch.Tensor) -> torch.Tensor:
        return from_uint8(to_uint8(self.gen.synthesis(w)))

    @torch.no_grad()
    def label(self, images: torch.Tensor, views: tuple[str, ...] | None = None) -> tuple[dict[str, np.ndarray], dict[str, dict[str, np.ndarray]]]:
        """(view-averaged labels, labels per view) of 8-bit images."""
        v = self.views if views is None else Views(views)
        raw = {k: x for lab in self.labelers for k, x in lab(v.apply(images)).items()}
        per = {k: x.reshape(len(v.names), -1) for k, x in raw.items()}
        by_view = {name: {k: x[i] for k, x in per.items()} for i, name in enumerate(v.names)}
        return {k: x.mean(0) for k, x in per.items()}, by_view

    @torch.no_grad()
    def label_resampled(self, images: torch.Tensor) -> dict[str, np.ndarray]:
        """Labels averaged over the resampling's draws of each 8-bit image (face i's draws depend on i and the seed only)."""
        shown = from_uint8(resample(to_uint8(images), self.resampling))
        raw = {k: x for lab in self.labelers for k, x in lab(shown).items()}
        return {k: x.reshape(self.resampling.draws, -1).mean(0) for k, x in raw.items()}

    def read(self, w: torch.Tensor) -> Reading:
        images = self.render(w)
        labels, by_view = self.label(images)
        return Reading(w, images, labels, by_view, self.embedder(images))

    def attrs(self, reading: Reading, names: tuple[str, ...]) -> torch.Tensor:
        """(N, k) view-averaged labels of `names`: a mapper's input `a`."""
        return torch.from_numpy(np.stack([reading.labels[n] for n in names], axis=1).astype(np.float32))

    def compare(self, before: Reading, w1: torch.Tensor, requested: dict[str, float], dlib: bool = False, check: bool = False
                ) -> dict[str, Any]:
        """One edit judged per requested attribute: requested, attainable (clipped to the range), achieved
        (view-averaged; also per view), ratio; drift of the attributes that should hold; identity; latent distance.
        `check` adds ratio_check, the achieved / attainable over the check views, which nothing else reads, and
        ratio_robust, the same under the random resamplings (the same draws before and after)."""
        after = self.read(w1)
        out: dict[str, Any] = {"rows": len(w1), "requested": {}, "attainable": {}, "achieved": {}, "ratio": {}, "achieved_by_view": {}}
        for name, d in requested.items():
            spec, a0 = attribute(name), before.labels[name]
            attainable = float(np.mean(np.clip(a0 + d, spec.low, spec.high) - a0))
            achieved = float(np.mean(after.labels[name] - a0))
            out["requested"][name], out["attainable"][name], out["achieved"][name] = d, attainable, achieved
            out["ratio"][name] = _ratio(achieved, attainable)
            out["achieved_by_view"][name] = {v: float(np.mean(after.by_view[v][name] - before.by_view[v][name])) for v in self.views.names}
        kept = kept_attributes(list(before.labels), list(requested))
        out["drift_by_attribute"] = {k: float(np.mean(np.abs(after.labels[k] - before.labels[k]))) / _span(k) for k in kept}
        out["drift"] = float(np.mean(list(out["drift_by_attribute"].values()))) if kept else 0.0
        cos = np.sum(before.identity * after.identity, axis=1)
        out.update(identity_cos=float(np.mean(cos)), identity_cos_min=float(np.min(cos)),
                   latent_dist=float((w1 - before.w).reshape(len(w1), -1).norm(dim=1).mean()))
        if dlib and self.dlib is not None and self.dlib_rows > 0:  # --dlib-rows 0: no same-person rate
            if before.dlib is None:
                before.dlib = self.dlib(before.images[: self.dlib_rows], raw=True)
            d1 = self.dlib(after.images[: self.dlib_rows], raw=True)
            out["dlib_same_person"] = float(np.mean(np.linalg.norm(d1 - before.dlib, axis=1) < 0.6))  # dlib's own threshold
        if check:
            if before.checked is None:
                before.checked = self.label(before.images, self.check_views)[0]
            checked = self.label(after.images, self.check_views)[0]
            out["ratio_check"] = {n: _ratio(float(np.mean(checked[n] - before.checked[n])), out["attainable"][n]) for n in requested}
            out["ratio_robust"] = self.robust_ratio(before, after, out["attainable"])
        out["after"] = after
        return out


    def robust_ratio(self, before: Reading, after: Reading, attainable: dict[str, float]) -> dict[str, float]:
        """achieved / attainable per requested attribute, both read under the same random resamplings."""
        if before.robust is None:
            before.robust = self.label_resampled(before.images)
        after.robust = self.label_resampled(after.images)
        return {n: _ratio(float(np.mean(after.robust[n] - before.robust[n])), a) for n, a in attainable.items()}


def _ratio(achieved: float, attainable: float) -> float:
    """achieved / attainable; NaN where nothing was attainable (the request points past the range's end)."""
    return achieved / attainable if abs(attainable) > 1e-6 else float("nan")


def _span(name: str) -> float:
    return attribute(name).high - attribute(name).low


def _dlib(framing: Any) -> Any:
    try:
        from models.identity.dlib_face import DlibFaceEmbedder

        return DlibFaceEmbedder(framing)
    except ImportError:  # dlib-bin is optional: identity is then the dataset's embedder only
        return None


def judge_strengths(judge: Judge, before: Reading, mapper: Any, strength: float) -> list[tuple[str, float, dict[str, Any]]]:
    """Each of the mapper's attributes pushed -strength and +strength of its range from `before`, one pass,
    judged with the check views and the robust figure: (attribute, sign, judgement). Validation during training and
    the end-of-training check."""
    from models.editors.mapper import request

    a = judge.attrs(before, mapper.cfg.attributes)
    out = []
    for name in mapper.cfg.attributes:
        for sign in (-1.0, 1.0):
            change = {name: sign * strength * _span(name)}
            with torch.no_grad():
                out.append((name, sign, judge.compare(before, mapper(before.w, a, request(mapper, len(a), change)), change, check=True)))
    return out


def summary_line(name: str, r: dict[str, Any]) -> str:
    return (f"requested {name} {r['requested'][name]:+.3f} (attainable {r['attainable'][name]:+.3f}) -> achieved "
            f"{r['achieved'][name]:+.3f} (ratio {r['ratio'][name]:.2f}{_checked(name, r)}); drift {r['drift']:.3f}; identity cosine "
            f"{r['identity_cos']:.3f}")


def _checked(name: str, r: dict[str, Any]) -> str:
    """', check views x, robust y' where the judgement has them."""
    return "".join(f", {label} {r[key][name]:.2f}" for key, label in (("ratio_check", "check views"), ("ratio_robust", "robust"))
                   if key in r)
