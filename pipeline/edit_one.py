"""`python -m pipeline edit-one`: one seed, one requested change, one before/after PNG: the interactive path."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from models.mapper import edit_in_passes, load_mapper, request
from pipeline.edit_config import parse_variants
from pipeline.judge import Judge
from pipeline.train_report import image_grid
from stages.latents import seed_z


@torch.inference_mode()
def edit_one(mapper_dir: str, seed: int, delta: tuple[str, ...], psi: float | None, out: str, passes: int = 1) -> Path:
    t0 = time.perf_counter()
    mapper, doc = load_mapper(mapper_dir)
    change = parse_variants(delta, None)[0]
    d = request(mapper, 1, change)
    judge = Judge(doc.get("generator"), dlib=False)
    psi = psi if psi is not None else float(doc.get("dataset_psi", 1.0))
    t1 = time.perf_counter()
    w = judge.gen.mapping(torch.from_numpy(seed_z(np.array([seed]), judge.gen.z_dim)), psi)
    if len(mapper.cfg.latent_shape) == 2:
        w = w.unsqueeze(1).expand(-1, *mapper.cfg.latent_shape[:1], -1)
    before = judge.read(w)
    a = judge.attrs(before, mapper.cfg.attributes)
    w1 = edit_in_passes(mapper, w, a, d, passes, lambda x: judge.attrs(judge.read(x), mapper.cfg.attributes))
    r = judge.compare(before, w1, change)
    t2 = time.perf_counter()
    path = Path(out)
    Image.fromarray(image_grid([before.images, r["after"].images])).save(path)
    summary = {n: f"{float(before.labels[n][0]):.3f} -> {float(r['after'].labels[n][0]):.3f}" for n in mapper.cfg.attributes}
    print(f"wrote {path}: {json.dumps(summary)} (real labelers over {len(judge.views.names)} views), identity cosine "
          f"{r['identity_cos']:.3f}; edit and judge {1000 * (t2 - t1):.0f} ms (loading models {1000 * (t1 - t0):.0f} ms)")
    return path
