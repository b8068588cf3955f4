"""Inversion is correct: faces the generator itself rendered from known latents come back (PSNR >= 30 dB, SFace >= 0.98,
read by the OpenCV SFace runtime, not the loss's port), for the DCGAN and for StyleGAN2 in both file layouts, W and W+."""

import numpy as np
import pytest
import torch

from models.generators.interface import broadcast_ws
from models.inversion.config import ProjectConfig, TuneConfig
from models.inversion.loss import ReconstructionLoss, psnr
from models.inversion.project import Projector
from models.inversion.tune import tune
from models.inversion.tuned import Overridden
from models.open import open_embedder, open_generator
from stages.latents import seed_z


def _sface(gen, a: torch.Tensor, b: torch.Tensor) -> np.ndarray:
    emb = open_embedder("sface", gen.framing, port=False)
    return np.sum(emb(a) * emb(b), axis=1)


def _targets(gen, seeds: np.ndarray) -> torch.Tensor:
    with torch.no_grad():
        return gen.synthesis(gen.mapping(torch.from_numpy(seed_z(seeds, gen.z_dim))), noise_mode="const")


def test_dcgan_renders_are_recovered():
    torch.manual_seed(0)
    gen = open_generator(None)
    targets = _targets(gen, np.arange(5001, 5003))
    loss = ReconstructionLoss(gen.framing)
    found = Projector(gen, ProjectConfig(space="z", pool=256), loss)(targets)
    with torch.no_grad():
        rec = gen.synthesis(torch.stack([p.w for p in found]))
    assert (psnr(rec, targets) >= 30).all(), psnr(rec, targets)
    assert (_sface(gen, rec, targets) >= 0.98).all()
    assert all(p.loss < p.start_loss for p in found)


@pytest.mark.slow
def test_dcgan_optimize_then_tune_recovers_every_face():
    """Eight faces (seeds 5000-5007), not chosen: projection alone recovers most; tuning the generator recovers every one."""
    gen = open_generator(None)
    targets = _targets(gen, np.arange(5000, 5008))
    loss = ReconstructionLoss(gen.framing)
    found = Projector(gen, ProjectConfig(space="z"), loss)(targets)
    ws = torch.stack([p.w for p in found])
    with torch.no_grad():
        projected = psnr(gen.synthesis(ws), targets)
    assert int((projected >= 30).sum()) >= 6, projected
    rec = []
    for i in range(len(ws)):
        tensors, _ = tune(gen, ws[i], targets[i : i + 1], TuneConfig(), loss)
        with torch.no_grad():
            rec.append(Overridden(gen, tensors).synthesis(ws[i : i + 1]))
    rec = torch.cat(rec)
    assert (psnr(rec, targets) >= 30).all(), psnr(rec, targets)
    assert (_sface(gen, rec, targets) >= 0.98).all()


@pytest.mark.parametrize("layout,space", [("rosinality", "w"), ("nvlabs", "wplus")])
def test_stylegan2_renders_are_recovered(tmp_path, layout, space):
    from tests.checkpoints import write_tiny_nvlabs, write_tiny_rosinality

    write = write_tiny_rosinality if layout == "rosinality" else write_tiny_nvlabs
    gen = open_generator(str(write(tmp_path / ("g.pt" if layout == "rosinality" else "g.pkl"), resolution=32, seed=3)))
    g = torch.Generator().manual_seed(7)  # a tiny random mapping gives nearly one w: the known latent is moved off it
    w = gen.mapping(torch.randn(1, gen.z_dim, generator=g))
    w = w + 0.5 * torch.randn(w.shape, generator=g) if space == "w" else broadcast_ws(w, gen.num_ws, gen.w_dim) + 0.3 * torch.randn(
        1, gen.num_ws, gen.w_dim, generator=g)
    with torch.no_grad():
        targets = gen.synthesis(w, noise_mode="const")
    loss = ReconstructionLoss(gen.framing)
    found = Projector(gen, ProjectConfig(space=space, pool=64, steps=300), loss)(targets)
    p = found[0]
    assert p.w.shape == ((gen.num_ws, gen.w_dim) if space == "wplus" else (gen.w_dim,))
    assert p.noise and all(t.shape == b.shape for (_, t), b in zip(sorted(p.noise.items()), [gen.get_buffer(n) for n in sorted(p.noise)]))
    with torch.no_grad():
        rec = Overridden(gen, p.noise).synthesis(p.w[None], noise_mode="const")
    assert psnr(rec, targets).item() >= 30
    assert _sface(gen, rec, targets)[0] >= 0.98
