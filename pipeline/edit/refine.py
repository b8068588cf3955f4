"""An optional edit-time refinement: a few gradient steps on the training critic from the mapper's output.

Not the paper's one forward pass: it costs a generator and critic backward per step, so `make eval` reports
it apart from the mapper, with its cost. The objective is the training loss's critic side (pipeline/train/losses.py)
plus the proximity term, taken with respect to the latent instead of the mapper's weights.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import torch

from models.editors.critics import ImageCritic
from models.generators.interface import Generator
from models.labelers.eot import EotDraw, eot_schedule
from models.labelers.views import Views
from models.open import open_generator
from pipeline.edit.refine_config import RefineConfig
from pipeline.train.config import LossWeights
from pipeline.train.losses import AttrSpace, edit_terms, total

SCHEDULE_SEED = 0  # the draws of views per step: fixed, so a refined edit depends on its row alone


def check_refinable(doc: dict[str, Any], views: tuple[str, ...] | None) -> None:
    """A one-line refusal, before any model loads, for an export whose critic cannot be rebuilt from it or views
    that do not parse (None: the export's own)."""
    kind = (doc.get("critic") or {}).get("kind")
    if kind != "ported":
        raise ValueError(f"critic refinement needs a mapper trained with the ported critic, this one used {kind!r}")
    if views is not None:
        Views(views)


def critic_from_export(doc: dict[str, Any], gen: Generator, views: tuple[str, ...] | None, device: str = "cpu") -> ImageCritic:
    """The export's ported labelers (the labelers its critic recorded) averaged over `views` (None: the views it was
    trained over), on `gen` (the export's generator, already open on `device`), with the identity embedder its dataset
    was made with."""
    from models.labelers.ported import PortedConfig, PortedLabelers
    from pipeline.made_with import export_trained

    check_refinable(doc, views)
    views = tuple(doc["critic"]["views"]) if views is None else views
    attrs = tuple(doc["critic"]["attributes"])
    h = PortedLabelers(PortedConfig(attrs, (0.0,) * len(attrs), (1.0,) * len(attrs), gen.framing.box, tuple(views)))
    return ImageCritic(gen, h, device, embedder=export_trained(doc).made.embedder)


def view_schedule(pool: tuple[str, ...], per_step: int, steps: int) -> list[Views] | None:
    """The views each critic step averages over: `per_step` of the pool, drawn anew for every step from a fixed seed (the
    same draws for every batch, job and rerun), or None (per_step 0, or the whole pool): the whole pool at every step.
    An edit that only moves a fixed few views' readings cannot keep up with views that change every step."""
    if per_step <= 0 or per_step >= len(pool):
        return None
    g = torch.Generator().manual_seed(SCHEDULE_SEED)
    return [Views(tuple(pool[i] for i in sorted(torch.randperm(len(pool), generator=g)[:per_step].tolist()))) for _ in range(steps)]


def refine(critic: ImageCritic, names: tuple[str, ...], w0: torch.Tensor, w1: torch.Tensor, delta: torch.Tensor,
           steps: int, lr: float = 0.03, weights: LossWeights = LossWeights(), stop_at_target: bool = True,
           batch: int | None = None, schedule: list[Views] | list[EotDraw] | None = None, paired: bool = False) -> torch.Tensor:
    """`steps` Adam steps on the latents from w1 toward the request delta (N, k) on the originals w0. With
    `stop_at_target`, a face stops at the first step its critic reads at or past its target, keeping that latent or
    the one before, whichever reads nearer the target: Adam's steps do not shrink there, so it would walk on.
    `batch` rows at a time, each batch on its own as the edit job's refine stage takes its Ray batches (None: all).
    `schedule` (view_schedule or models/labelers/eot.py eot_schedule) gives step t its views or transformations; the
    originals are read over all of the critic's own. `paired`: step t's change is read against the originals under step
    t's draws too (the target moved by the draw's reading of the original), so a draw's bias is not taken for a change."""
    space = AttrSpace.build(names, critic.attributes)
    size = batch or max(len(w0), 1)
    parts = [_refine(critic, space, w0[i : i + size], w1[i : i + size], delta[i : i + size], steps, lr, weights, stop_at_target,
                     schedule, paired) for i in range(0, len(w0), size)]
    return torch.cat(parts) if parts else w1.detach().clone()


def _refine(critic: ImageCritic, space: AttrSpace, w0: torch.Tensor, w1: torch.Tensor, delta: torch.Tensor, steps: int,
            lr: float, weights: LossWeights, stop_at_target: bool, schedule: list[Views] | list[EotDraw] | None,
            paired: bool) -> torch.Tensor:
    with torch.no_grad():
        before = critic(w0)
        shown = critic.gen.synthesis(w0) if paired and schedule is not None else None  # rendered once for every step's draws
    a = before[0][:, space.index]
    target = torch.minimum(torch.maximum(a + delta, space.low), space.high)
    asked = delta != 0
    w = w1.detach().clone().requires_grad_(True)
    opt = torch.optim.Adam([w], lr=lr)
    kept, done = w.detach().clone(), torch.zeros(len(w), dtype=torch.bool, device=w.device)
    last, last_miss = kept.clone(), torch.full((len(w),), float("inf"), device=w.device)
    with torch.enable_grad():
        for t in range(steps):
            after = critic(w) if schedule is None else critic(w, views=schedule[t])
            now, goal = (before, target) if not paired or schedule is None else _under(critic, shown, schedule[t], before, target, space)
            if stop_at_target:
                pred = after[0][:, space.index].detach()
                miss = ((asked * (pred - goal) / (space.high - space.low)) ** 2).sum(1)
                new = reached(pred, now[0][:, space.index], goal, asked) & ~done
                nearer = torch.where(pick(last_miss < miss, w), last, w.detach())
                kept[new], done = nearer[new], done | new
                if bool(done.all()):
                    break
                last, last_miss = w.detach().clone(), miss
            parts = edit_terms(after, now, goal, asked, space, weights)
            parts["neighbourhood"] = (w - w0).reshape(len(w), -1).pow(2).mean(1).mean()
            opt.zero_grad(set_to_none=True)
            total(parts, weights)["total"].backward()
            opt.step()
            if bool(done.any()):  # stopped faces hold still: the batch terms see them where they stopped
                with torch.no_grad():
                    w[done] = kept[done]
    return torch.where(pick(done, w), kept, w.detach())


def _under(critic: ImageCritic, shown: torch.Tensor, draw: Views | EotDraw, before: tuple[torch.Tensor, torch.Tensor],
           target: torch.Tensor, space: AttrSpace) -> tuple[tuple[torch.Tensor, torch.Tensor], torch.Tensor]:
    """The originals read under `draw` (their identity embedding as before) and the target moved by as much."""
    with torch.no_grad():
        a_t = critic.labels(shown, views=draw)
    return (a_t, before[1]), target + a_t[:, space.index] - before[0][:, space.index]


def reached(pred: torch.Tensor, a: torch.Tensor, target: torch.Tensor, asked: torch.Tensor) -> torch.Tensor:
    """(N,) faces whose reading `pred` is at or past `target` (from `a`) on every requested attribute."""
    return ((torch.sign(target - a) * (target - pred) <= 0) | ~asked).all(dim=1)


def pick(rows: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """(N,) row mask broadcast against latents shaped like `like` (N, ...)."""
    return rows.view(-1, *[1] * (like.dim() - 1))


class Refiner:
    """The export's labelers over the config's views on an open generator: (originals, mapper outputs, requests (N, k))
    -> the mapper outputs after the config's steps. eval and edit-one build it on their judge's generator; the batch edit
    job's refine stage (stages/edit.py RefineEdits) opens one per actor through `open_refiner`."""

    def __init__(self, doc: dict[str, Any], cfg: RefineConfig, gen: Generator, device: str = "cpu", batch: int | None = None) -> None:
        self.critic = critic_from_export(doc, gen, cfg.views, device)  # refused in one line for a mapper not trained on the ported critic
        self.names: tuple[str, ...] = tuple(doc["architecture"]["attributes"])
        self.cfg, self.batch = cfg, batch
        self.weights = replace(LossWeights(), identity_margin=cfg.identity_margin)
        self.schedule = eot_schedule(cfg.eot, cfg.steps) if cfg.eot.per_step else view_schedule(cfg.views, cfg.views_per_step, cfg.steps)

    def __call__(self, w0: torch.Tensor, w1: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
        return refine(self.critic, self.names, w0, w1, delta, self.cfg.steps, self.cfg.lr, self.weights, self.cfg.stop_at_target,
                      self.batch, self.schedule, paired=bool(self.cfg.eot.per_step) and self.cfg.eot.paired)


def open_refiner(export: str, cfg: RefineConfig, generator: str | None, device: str = "cpu") -> Refiner:
    """A Refiner with its own generator: the export read and the models opened where this runs (an actor)."""
    from models.editors.mapper import load_mapper
    from pipeline.made_with import export_trained

    _, doc = load_mapper(export)
    return Refiner(doc, cfg, open_generator(generator, device, noise_mode=export_trained(doc).made.noise_mode), device)
