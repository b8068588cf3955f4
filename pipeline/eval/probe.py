"""Can one forward pass know where to go? A measurement of how predictable the critic's per-face edit direction is.

For fresh prior latents, the gradient of each attribute (the training critic: the ported labelers averaged over
the training views) with respect to the latent is the direction that changes it fastest at that face. A
one-pass mapper must predict that direction from the latent alone. The probe reports, on held-out faces, the
mean cosine between each face's own gradient and
  - one fixed direction (the mean training gradient: what a linear edit can do),
  - an MLP of the latent (the mapper's width and depth) fitted to the training gradients, per training size,
  - optionally a trained mapper's own edit direction.
A cosine c means a step of a given length changes the attribute c times as much as the face's own gradient
step would (to first order), so low cosines force long, identity-costly steps for the same change.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from pipeline.config import config_hash, to_jsonable
from pipeline.eval.probe_config import ProbeConfig
from pipeline.redact import redact_doc
from pipeline.runinfo import write_header


def critic_gradients(h: torch.nn.Module, latents: Any, n: int, batch: int, rng: torch.Generator) -> tuple[torch.Tensor, ...]:
    """n fresh latents, their critic readings (n, k) and unit gradients (n, k, latent size); a zero gradient
    (a saturated label) stays zero and is left out of the averages."""
    from pipeline.progress import Progress

    ws, reads, grads = [], [], []
    bar = Progress(n, "critic gradients", "face")
    for start in range(0, n, batch):
        w = latents(min(batch, n - start), rng).requires_grad_(True)
        out = h(latents.gen.synthesis(w))
        k = out.shape[1]
        g = [torch.autograd.grad(out[:, j].sum(), w, retain_graph=j < k - 1)[0].flatten(1) for j in range(k)]
        ws.append(w.detach()), reads.append(out.detach()), grads.append(torch.stack(g, 1))
        bar.update(len(w))
    bar.close()
    g = torch.cat(grads)
    return torch.cat(ws), torch.cat(reads), g / g.norm(dim=2, keepdim=True).clamp(min=1e-12)


def mean_cosine(pred: torch.Tensor, target: torch.Tensor) -> list[float]:
    """Per attribute mean cosine of (n, k, d) unit predictions with (n, k, d) unit targets, zero targets skipped."""
    valid = (target.norm(dim=2) > 0.5).float()
    return (((pred * target).sum(2) * valid).sum(0) / valid.sum(0).clamp(min=1)).tolist()


def fixed_direction(u_train: torch.Tensor) -> torch.Tensor:
    """(k, d): the unit mean of the training gradients."""
    return F.normalize(u_train.mean(0), dim=1)


def fit_field(w: torch.Tensor, u: torch.Tensor, w_test: torch.Tensor, u_test: torch.Tensor, cfg: ProbeConfig) -> list[float]:
    """Fit latent -> unit gradients with an MLP (cosine loss); the best held-out per-attribute cosine over epochs."""
    gen = torch.Generator().manual_seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    k, d = u.shape[1], u.shape[2]
    sizes = [w.shape[1]] + [cfg.hidden] * (cfg.depth - 1) + [k * d]
    layers: list[torch.nn.Module] = []
    for cin, cout in zip(sizes[:-1], sizes[1:]):
        layers += [torch.nn.Linear(cin, cout), torch.nn.LeakyReLU(0.2)]
    net = torch.nn.Sequential(*layers[:-1])
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    unit = lambda x: F.normalize(net(x).view(len(x), k, d), dim=2)  # noqa: E731
    best = [-1.0] * k
    for _ in range(cfg.epochs):
        for idx in torch.randperm(len(w), generator=gen).split(128):
            loss = -(unit(w[idx]) * u[idx]).sum(2).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        with torch.no_grad():
            best = [max(b, c) for b, c in zip(best, mean_cosine(unit(w_test), u_test))]
    return best


def mapper_directions(mapper: Any, w: torch.Tensor, reads: torch.Tensor, names: tuple[str, ...]) -> torch.Tensor:
    """(n, k, d) unit edit directions of a trained mapper for +0.15 of each attribute's range, one at a time."""
    from models.attributes import attribute
    from models.editors.mapper import request

    a = reads[:, [names.index(m) for m in mapper.cfg.attributes]]
    dirs = []
    with torch.no_grad():
        for name in names:
            spec = attribute(name)
            w1 = mapper(w.view(len(w), *mapper.cfg.latent_shape), a, request(mapper, len(w), {name: 0.15 * (spec.high - spec.low)}))
            dirs.append(F.normalize((w1 - w.view_as(w1)).flatten(1), dim=1))
    return torch.stack(dirs, 1)


@torch.no_grad()
def step_scales(mapper: Any, doc: dict[str, Any], w: torch.Tensor, scales: tuple[float, ...], strength: float = 0.3) -> list[dict[str, Any]]:
    """The mapper's step w' - w scaled by c, read by its training critic: the share of the request reached (mean)
    and the requested loss term (per-face squared miss); if a longer step helped every face, both would improve."""
    from models.editors.mapper import request
    from models.open import open_generator
    from pipeline.edit.refine import critic_from_export
    from pipeline.made_with import export_trained
    from pipeline.train.config import LossWeights
    from pipeline.train.losses import AttrSpace, edit_terms

    made = export_trained(doc).made
    critic = critic_from_export(doc, open_generator(made.generator, noise_mode=made.noise_mode), None)  # the training critic, over its own views
    space, names = AttrSpace.build(mapper.cfg.attributes, critic.attributes), mapper.cfg.attributes
    w = w.view(len(w), *mapper.cfg.latent_shape)
    before = critic(w, 1)
    a = before[0][:, space.index]
    rows = []
    for j, name in enumerate(names):
        for sign in (-1.0, 1.0):
            delta = request(mapper, len(w), {name: sign * strength * float(space.high[j] - space.low[j])})
            target = torch.minimum(torch.maximum(a + delta, space.low), space.high)
            step = mapper(w, a, delta) - w
            for c in scales:
                parts = edit_terms(critic(w + c * step, 1), before, target, delta != 0, space, LossWeights())
                rows.append({"attribute": name, "request": sign * strength, "scale": c, "critic_fraction": float(parts["critic_fraction"]),
                             "requested_loss": float(parts["requested"])})
            print(f"  {name} {sign * strength:+.1f}, step x " + ", ".join(f"{r['scale']:g}: reached {r['critic_fraction']:.2f} miss {r['requested_loss']:.4f}"
                                                                for r in rows[-len(scales):]), flush=True)
    return rows


def _load_mapper(export: str, names: tuple[str, ...]) -> tuple[Any, dict[str, Any]]:
    from models.editors.mapper import load_mapper

    mapper, doc = load_mapper(export)
    if set(mapper.cfg.attributes) != set(names):
        raise ValueError(f"probe --attributes must be the attributes the mapper edits ({','.join(mapper.cfg.attributes)})")
    return mapper, doc


def run_probe(cfg: ProbeConfig) -> Path:
    from models.labelers.ported import PortedConfig, PortedLabelers
    from pipeline.made_with import dataset_made
    from pipeline.train.plan import dataset_files, resolve_attributes
    from stages.training import PriorLatents

    manifest = dataset_files(cfg.dataset)[0]
    names = resolve_attributes(cfg.attributes, manifest["attributes"])
    loaded = _load_mapper(cfg.mapper, names) if cfg.mapper else None  # before 20 minutes of work, not after
    made = dataset_made(manifest, f"dataset {cfg.dataset}")
    generator, psi = made.generator, made.psi
    out = Path(cfg.out or f"runs/probe-{'-'.join(names)}-{config_hash(to_jsonable(cfg))[:8]}")
    h = PortedLabelers(PortedConfig(names, (0.0,) * len(names), (1.0,) * len(names), tuple(manifest["framing"]["box"]), cfg.views))
    latents = PriorLatents(generator, psi, tuple(manifest["latent_shape"]))
    print(f"probe: critic gradients of {cfg.samples} fresh faces ({len(cfg.views)} views), then MLP fits on {cfg.train_sizes} of them", flush=True)
    w, reads, u = critic_gradients(h.eval().requires_grad_(False), latents, cfg.samples, cfg.batch_size, torch.Generator().manual_seed(cfg.seed))
    w = w.flatten(1)
    w_test, u_test = w[-cfg.test_rows:], u[-cfg.test_rows:]
    rows: list[dict[str, Any]] = []
    for n in cfg.train_sizes:
        fixed = mean_cosine(fixed_direction(u[:n]).expand_as(u_test), u_test)
        field = fit_field(w[:n], u[:n], w_test, u_test, cfg)
        rows += [{"attribute": a, "train_faces": n, "fixed_direction": f, "mlp_field": m} for a, f, m in zip(names, fixed, field)]
        print(f"  {n:>6} training faces: " + "; ".join(f"{a} fixed {f:+.3f} mlp {m:+.3f}" for a, f, m in zip(names, fixed, field)), flush=True)
    doc: dict[str, Any] = {"config": to_jsonable(cfg), "generator_id": manifest["generator_id"], "attributes": list(names), "rows": rows}
    if loaded is not None:
        mapped = mean_cosine(mapper_directions(loaded[0], w_test, reads[-cfg.test_rows:], names), u_test)
        doc["mapper"] = {"export": cfg.mapper, "cosine": dict(zip(names, mapped))}
        print("  mapper's own direction: " + "; ".join(f"{a} {c:+.3f}" for a, c in zip(names, mapped)))
        try:
            doc["mapper"]["step_scales"] = step_scales(*loaded, w_test[: cfg.scale_rows], cfg.scales)
        except ValueError as e:  # a mapper trained through a distilled critic has no exact critic to read with
            doc["mapper"]["step_scales"] = None
            print(f"  step-scale sweep skipped: {e}")
    write_header(out, "probe", cfg)
    tmp = out / ".probe.json.tmp"
    tmp.write_text(json.dumps(redact_doc(doc), indent=2))
    tmp.replace(out / "probe.json")
    print(f"probe written to {out / 'probe.json'}")
    return out
