"""Projection: a latent (and, for StyleGAN2, its noise maps) whose render matches an aligned face, by Adam from the best
of a pool of random latents. NVlabs' projector optimises one w from w_avg against LPIPS; here the start is chosen per face
and the loss is models/inversion/loss.py's."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import torch

from models.generators.interface import Generator, broadcast_ws
from models.inversion.config import ProjectConfig
from models.inversion.loss import ReconstructionLoss
from models.inversion.tuned import Overridden, noise_buffers

POOL_SEED = 1_000_003  # the random latents every face's start is chosen from: the same for every face, job and rerun


@dataclass
class Projection:
    """One face's result: the latent in the edit space ((w_dim,) or (num_ws, w_dim)), the noise maps it was fitted with
    ({} without), the loss at start and end."""

    w: torch.Tensor
    noise: dict[str, torch.Tensor]
    start_loss: float
    loss: float


class Projector:
    """Holds the pool's renders and embeddings (made once), projects faces one at a time or in batches (no noise maps).
    `progress(step, steps)`, when set, hears of each optimisation step (an optimisation per batch, face or restart)."""

    def __init__(self, gen: Generator, cfg: ProjectConfig, loss: ReconstructionLoss,
                 progress: Callable[[int, int], None] | None = None) -> None:
        if cfg.space == "auto":  # the DCGAN's W is its z (projected with its prior); else W
            cfg = replace(cfg, space="z" if gen.num_ws == 1 else "w")
        self.gen, self.cfg, self.loss, self.progress = gen, cfg, loss, progress
        self.noise = noise_buffers(gen) if cfg.noise else {}
        self.pool_z, self.pool_images, self.pool_ids = self._pool()
        with torch.no_grad():  # the latent's spread over the pool: the scale of the exploring noise
            self.spread = float(self._latent(self.pool_z).reshape(len(self.pool_z), -1).std(0).mean())

    @torch.no_grad()
    def _pool(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        g = torch.Generator().manual_seed(POOL_SEED)
        z = torch.randn(self.cfg.pool, self.gen.z_dim, generator=g)
        images, ids = [], []
        for part in z.split(64):
            x = self.gen.synthesis(self.gen.mapping(part), noise_mode="const")
            images.append(x)
            ids.append(self.loss.features(x)[-1])
        return z, torch.cat(images), torch.cat(ids)

    @torch.no_grad()
    def start(self, targets: torch.Tensor) -> torch.Tensor:
        """(N, restarts) indices of the pool latents whose renders score best (pixels + identity) against each target."""
        w = self.cfg.weights
        t_ids = self.loss.features(targets)[-1]
        pixel = torch.cdist(targets.flatten(1), self.pool_images.flatten(1)).pow(2) / targets[0].numel()
        score = w.pixel * pixel + w.identity * (1 - t_ids @ self.pool_ids.T)
        return score.topk(self.cfg.restarts, dim=1, largest=False).indices

    @torch.no_grad()
    def floor(self, targets: torch.Tensor) -> np.ndarray:
        """(N,) the best SFace cosine any pool latent's render reaches against each target: what sampling alone gives."""
        return (self.loss.features(targets)[-1] @ self.pool_ids.T).max(1).values.cpu().numpy()

    def __call__(self, targets: torch.Tensor) -> list[Projection]:
        """Aligned faces (N, 3, R, R) in [-1, 1] -> one Projection each (faces together, or one by one with noise maps);
        each face's restarts run side by side and its lowest loss is kept."""
        if self.noise:
            return [p for t in targets.split(1) for p in self._best(t)]
        return self._best(targets)

    def _best(self, targets: torch.Tensor) -> list[Projection]:
        k = self.cfg.restarts
        starts = self.start(targets)
        if self.noise and k > 1:  # one set of noise maps per optimisation: restarts one after the other
            runs = [self._project(targets, starts[:, j]) for j in range(k)]
            return [min((run[i] for run in runs), key=lambda p: p.loss) for i in range(len(targets))]
        found = self._project(targets.repeat_interleave(k, dim=0), starts.reshape(-1))
        return [min(found[i * k:(i + 1) * k], key=lambda p: p.loss) for i in range(len(targets))]

    def _latent(self, z: torch.Tensor) -> torch.Tensor:
        """The optimised variable from pool latents: z itself, or its W (broadcast to every layer for W+)."""
        if self.cfg.space == "z":
            return z.clone()
        w = self.gen.mapping(z)
        return broadcast_ws(w, self.gen.num_ws, self.gen.w_dim).clone() if self.cfg.space == "wplus" else w.clone()

    def _ws(self, x: torch.Tensor) -> torch.Tensor:
        return self.gen.mapping(x) if self.cfg.space == "z" else x

    def _project(self, targets: torch.Tensor, starts: torch.Tensor) -> list[Projection]:
        cfg = self.cfg
        self.loss.set_target(targets)
        with torch.no_grad():
            x = self._latent(self.pool_z[starts])
        noise = {n: b.detach().clone() for n, b in self.noise.items()}
        x.requires_grad_(True)
        for t in noise.values():
            t.requires_grad_(True)
        groups = [{"params": [x], "scale": 1.0}] + ([{"params": list(noise.values()), "scale": cfg.noise_lr}] if noise else [])
        lr = cfg.lr_wplus if cfg.space == "wplus" else cfg.lr
        opt = torch.optim.Adam(groups, lr=lr)
        best, best_x, first = torch.full((len(x),), float("inf")), x.detach().clone(), None
        best_noise = {n: t.detach().clone() for n, t in noise.items()}
        with torch.enable_grad():
            for step in range(cfg.steps + 1):
                gen = Overridden(self.gen, noise) if noise else self.gen
                fade = max(0.0, 1 - step / (0.75 * max(cfg.steps, 1))) ** 2 if step < cfg.steps else 0.0
                shake = torch.randn_like(x) * (cfg.explore * self.spread * fade) if cfg.explore and fade else 0.0
                per_face, _ = self.loss(gen.synthesis(self._ws(x + shake), noise_mode="const"))
                with torch.no_grad():  # each face keeps its best latent (Adam's last step is not always its lowest)
                    first = per_face.detach().clone() if first is None else first
                    better = (per_face.detach() < best) & (not fade)  # a shaken step's loss is not its latent's
                    best = torch.where(better, per_face.detach(), best)
                    best_x[better] = x.detach()[better]
                    if noise and bool(better.all()):  # noise maps are fitted one face at a time
                        best_noise = {n: t.detach().clone() for n, t in noise.items()}
                if step == cfg.steps:
                    break
                for group in opt.param_groups:
                    group["lr"] = group["scale"] * lr * 0.5 * (1 + math.cos(math.pi * step / max(cfg.steps, 1)))
                total = per_face.sum() + self._regularizers(x, noise)
                opt.zero_grad(set_to_none=True)
                total.backward()
                opt.step()
                if self.progress is not None:
                    self.progress(step + 1, cfg.steps)
                with torch.no_grad():
                    for n, t in noise.items():  # NVlabs renormalises the maps each step: here to the stored map's mean and spread
                        base = self.noise[n]
                        t.sub_(t.mean()).div_(t.std() + 1e-8).mul_(base.std()).add_(base.mean())
        ws = self._ws(best_x).detach() if self.cfg.space == "z" else best_x
        return [Projection(ws[i], best_noise, float(first[i]), float(best[i])) for i in range(len(ws))]

    def _regularizers(self, x: torch.Tensor, noise: dict[str, torch.Tensor]) -> torch.Tensor:
        reg = x.new_zeros(())
        if self.cfg.space == "z" and self.cfg.prior:
            reg = reg + self.cfg.prior * (x.norm(dim=1) / math.sqrt(x.shape[1]) - 1).pow(2).sum()
        if noise and self.cfg.noise_regularize:
            reg = reg + self.cfg.noise_regularize * sum(autocorrelation(t[None, None]) for t in noise.values())
        return reg


def autocorrelation(maps: torch.Tensor) -> torch.Tensor:
    """NVlabs' noise regulariser: squared mean products with the map rolled by one pixel, at every scale down to 8x8."""
    reg = maps.new_zeros(())
    while True:
        reg = reg + (maps * torch.roll(maps, 1, dims=3)).mean().pow(2) + (maps * torch.roll(maps, 1, dims=2)).mean().pow(2)
        if maps.shape[2] <= 8:
            return reg
        maps = torch.nn.functional.avg_pool2d(maps, 2)
