"""`python -m pipeline edit-one`: one seed, one requested change, one before/after PNG: the interactive path."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from models.mapper import load_mapper
from models.open import open_generator, open_labeler
from pipeline.edit_config import parse_variants
from pipeline.train_report import image_grid
from stages.latents import seed_z
from stages.render import from_uint8, to_uint8


@torch.inference_mode()
def edit_one(mapper_dir: str, seed: int, delta: tuple[str, ...], psi: float | None, out: str) -> Path:
    t0 = time.perf_counter()
    mapper, doc = load_mapper(mapper_dir)
    change = parse_variants(delta, None)[0]
    unknown = sorted(set(change) - set(mapper.cfg.attributes))
    if unknown:
        raise ValueError(f"unknown attribute {unknown[0]!r} for this mapper (it edits: {', '.join(mapper.cfg.attributes)})")
    gen = open_generator(doc.get("generator"))
    labelers = [open_labeler(n, gen.framing) for n in ("age-gender", "emotion")]
    psi = psi if psi is not None else float(doc.get("dataset_psi", 1.0))
    t1 = time.perf_counter()
    w = gen.mapping(torch.from_numpy(seed_z(np.array([seed]), gen.z_dim)), psi)
    if len(mapper.cfg.latent_shape) == 2:
        w = w.unsqueeze(1).expand(-1, *mapper.cfg.latent_shape[:1], -1)
    before = gen.synthesis(w)
    labels = {k: v for lab in labelers for k, v in lab(from_uint8(to_uint8(before))).items()}
    a = torch.tensor([[float(labels[n][0]) for n in mapper.cfg.attributes]])
    d = torch.tensor([[change.get(n, 0.0) for n in mapper.cfg.attributes]])
    after = gen.synthesis(mapper(w, a, d))
    t2 = time.perf_counter()
    path = Path(out)
    Image.fromarray(image_grid([before, after])).save(path)
    after_labels = {k: float(v[0]) for lab in labelers for k, v in lab(from_uint8(to_uint8(after))).items()}
    summary = {n: f"{float(labels[n][0]):.3f} -> {after_labels[n]:.3f}" for n in mapper.cfg.attributes}
    print(f"wrote {path}: {json.dumps(summary)}; edit {1000 * (t2 - t1):.0f} ms (loading models {1000 * (t1 - t0):.0f} ms)")
    return path
