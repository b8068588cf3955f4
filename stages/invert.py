"""Aligned faces -> latents: projection (and per-face generator tuning), the reconstruction rendered, its quality read by
SFace, dlib (which no loss sees) and PSNR, and the attributes the mapper is given, read on the reconstruction, with the
photo's own readings beside them."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace

import numpy as np
import torch

from models.generators.interface import Generator
from models.inversion.config import InvertConfig
from models.inversion.loss import ReconstructionLoss, psnr
from models.inversion.project import Projector
from models.inversion.tune import tune
from models.inversion.tuned import Overridden
from models.open import open_embedder, open_generator, open_labeler
from stages.faces import OK
from stages.render import from_uint8, to_uint8


def edit_space(gen: Generator, latent_shape: tuple[int, ...] | None, asked: str = "auto") -> str:
    """The space to project into: the mapper's (W or W+), else W; the DCGAN's W is its z, optimised with its prior."""
    fits = ("z", "w") if gen.num_ws == 1 else (("wplus",) if latent_shape is not None and len(latent_shape) == 2 else
                                               ("w", "z") if latent_shape is not None else ("w", "z", "wplus"))
    if asked == "auto":
        return "z" if gen.num_ws == 1 else fits[0]
    if asked not in fits:
        raise ValueError(f"--project.space {asked} does not fit {'this mapper' if latent_shape else gen.name} (it takes {' or '.join(fits)})")
    return asked


def latent_size(gen: Generator, latent_shape: tuple[int, ...] | None, asked: str = "auto") -> int:
    """Numbers in one face's flattened latent: W, or W+ where the mapper edits W+."""
    return gen.w_dim * (gen.num_ws if edit_space(gen, latent_shape, asked) == "wplus" else 1)


class InvertFaces:
    """Face rows with `aligned` (R, R, 3) uint8 -> `w` (the latent, flattened), `recon` (R, R, 3) uint8, `psnr`, `sface`
    (cosine), `dlib` (distance; < 0.6 is dlib's same person), `<attr>` read on the reconstruction and `photo_<attr>` on the
    aligned photo, `tuned` (the face's generator tensors, in memory only: None without). Rows whose status is not ok pass
    with zeros. `encoder`: each face's latent is `latents[(photo name, face)]`; a face without one gets status no-latent."""

    def __init__(self, generator: str | None, cfg: InvertConfig, labelers: tuple[str, ...], latent_shape: tuple[int, ...] | None = None,
                 latents: dict[tuple[str, int], np.ndarray] | None = None, device: str = "cpu") -> None:
        self.gen = open_generator(generator, device)
        self.cfg, self.device, self.latents = cfg, device, latents or {}
        self.project = replace(cfg.project, space=edit_space(self.gen, latent_shape, cfg.project.space))
        self.loss = ReconstructionLoss(self.gen.framing, cfg.project.weights, device)
        # report(stage, step, steps) hears of every projection and tuning step (the editor's progress bar); silent by default
        self.report: Callable[[str, int, int], None] = lambda stage, step, steps: None
        self.projector = Projector(self.gen, self.project, self.loss, progress=lambda step, steps: self.report("projecting", step, steps))
        self.labelers = [open_labeler(n, self.gen.framing) for n in labelers]
        self.attributes = tuple(a for lab in self.labelers for a in lab.attributes)
        self.sface = open_embedder("sface", self.gen.framing)
        from models.identity.dlib_face import DlibFaceEmbedder

        self.dlib = DlibFaceEmbedder(self.gen.framing)
        self.latent_size = latent_size(self.gen, latent_shape, cfg.project.space)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        if self.cfg.method == "encoder":
            batch = self._given(batch)
        ok = np.nonzero(batch["status"] == OK)[0]
        n, r = len(batch["status"]), self.gen.resolution
        out = {**batch, "w": np.zeros((n, self.latent_size), np.float32), "recon": np.zeros((n, r, r, 3), np.uint8),
               "psnr": np.zeros(n, np.float32), "sface": np.zeros(n, np.float32), "dlib": np.zeros(n, np.float32),
               "floor_sface": np.zeros(n, np.float32), "seconds": np.zeros(n, np.float32)}
        out.update({a: np.zeros(n, np.float32) for a in self.attributes})
        out.update({f"photo_{a}": np.zeros(n, np.float32) for a in self.attributes})
        tuned = np.empty(n, dtype=object)
        if len(ok):
            t0 = time.perf_counter()
            target = from_uint8(batch["aligned"][ok], self.device)
            ws, overrides = self.invert(target) if self.cfg.method != "encoder" else self._lookup(batch, ok)
            out["seconds"][ok] = (time.perf_counter() - t0) / len(ok)  # faces are inverted together: each its share
            out["floor_sface"][ok] = self.projector.floor(target)
            recon = self.render(ws, overrides)
            out["w"][ok] = ws.reshape(len(ok), -1).cpu().numpy()
            out["recon"][ok] = to_uint8(recon)
            self._quality(out, ok, target, from_uint8(out["recon"][ok], self.device))
            for i, o in zip(ok, overrides):
                tuned[i] = o
        out["tuned"] = tuned
        return out

    def invert(self, target: torch.Tensor) -> tuple[torch.Tensor, list[dict[str, torch.Tensor] | None]]:
        """Aligned faces (N, 3, R, R) -> latents (N, ...) and, per face, the generator tensors it is rendered with (None: the
        generator's own)."""
        found = self.projector(target)
        ws = torch.stack([p.w for p in found])
        overrides: list[dict[str, torch.Tensor] | None] = [p.noise or None for p in found]
        if self.cfg.method == "tune" and self.cfg.tune.steps:
            overrides = [tune(self.gen, ws[i], target[i : i + 1], self.cfg.tune, self.loss, found[i].noise, self._tuning(i, len(ws)))[0]
                         for i in range(len(ws))]
        self.report("reading", 0, 0)  # the quality and attribute readings of the reconstruction follow
        return ws, overrides

    def _given(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """`encoder`: a face the latents do not name is a row with status no-latent (the rest of the photo goes on)."""
        status, message = batch["status"].astype(object), batch["message"].astype(object)  # fixed-width strings would cut a new status
        for i in np.nonzero(status == OK)[0]:
            if (str(batch["name"][i]), int(batch["face"][i])) not in self.latents:
                status[i], message[i] = "no-latent", f"--latents has no latent for {batch['name'][i]} face {batch['face'][i]}"
        return {**batch, "status": status, "message": message}

    def _lookup(self, batch: dict[str, np.ndarray], ok: np.ndarray) -> tuple[torch.Tensor, list[None]]:
        """`encoder`: the given latents of the ok rows, shaped as the projection would give them."""
        ws = np.stack([self.latents[(str(batch["name"][i]), int(batch["face"][i]))] for i in ok])
        shape = (self.gen.num_ws, self.gen.w_dim) if self.latent_size > self.gen.w_dim else (self.gen.w_dim,)
        return torch.from_numpy(ws.reshape(len(ok), *shape)).to(self.device), [None] * len(ok)

    def _tuning(self, face: int, faces: int) -> Callable[[int, int], None]:
        return lambda step, steps: self.report(f"tuning face {face + 1}/{faces}", step, steps)

    @torch.no_grad()
    def render(self, ws: torch.Tensor, overrides: list[dict[str, torch.Tensor] | None]) -> torch.Tensor:
        """Each face's latent through its own generator (tuned, or with its noise maps)."""
        return torch.cat([(Overridden(self.gen, o) if o else self.gen).synthesis(w[None], noise_mode="const") for w, o in zip(ws, overrides)])

    def _quality(self, out: dict[str, np.ndarray], ok: np.ndarray, target: torch.Tensor, recon: torch.Tensor) -> None:
        out["psnr"][ok] = psnr(recon, target).cpu().numpy()
        out["sface"][ok] = np.sum(self.sface(recon) * self.sface(target), axis=1)
        out["dlib"][ok] = np.linalg.norm(self.dlib(recon, raw=True) - self.dlib(target, raw=True), axis=1)
        for prefix, images in (("", recon), ("photo_", target)):
            for lab in self.labelers:
                for a, v in lab(images).items():
                    out[f"{prefix}{a}"][ok] = v
