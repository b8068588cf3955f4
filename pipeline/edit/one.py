"""`python -m pipeline edit-one`: one seed, one requested change, one before/after PNG: the interactive path."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from models.editors.mapper import edit_in_passes, load_mapper, request
from models.generators.interface import broadcast_ws
from pipeline.edit.config import parse_changes
from pipeline.edit.one_config import EditOneConfig
from pipeline.eval.judge import Judge
from pipeline.made_with import export_trained
from pipeline.runinfo import run_header
from pipeline.train.report import image_grid
from stages.latents import seed_z

HEADER_KEY = "latent2latent"  # the PNG text chunk holding the run header


def sheet(pair: np.ndarray, titles: tuple[str, str], readings: list[list[str]], size: int = 256) -> Image.Image:
    """The before/after pair upscaled to `size` px each (nearest: every generated pixel stays visible), each with
    its title and the real labelers' readings printed below."""
    from PIL import ImageDraw, ImageFont

    images = [Image.fromarray(half).resize((size, size), Image.NEAREST) for half in np.split(pair, 2, axis=1)]
    font = ImageFont.load_default(size=max(10, size // 18))
    line = font.size + 4
    canvas = Image.new("RGB", (2 * size, size + line * (1 + max(map(len, readings))) + 8), "white")
    draw = ImageDraw.Draw(canvas)
    for i, (img, title, lines) in enumerate(zip(images, titles, readings)):
        canvas.paste(img, (i * size, 0))
        for j, text in enumerate([title, *lines]):
            draw.text((i * size + 6, size + 4 + j * line), text, fill="black", font=font)
    return canvas


def save_described(image: Image.Image, path: Path, header: dict) -> None:
    """The sheet, written whole (a temp name, then renamed); a PNG carries its run header in a text chunk
    (`latent2latent`), so the file says what made it as a run directory's config.json does."""
    from PIL.PngImagePlugin import PngInfo

    fmt = Image.registered_extensions().get(path.suffix.lower(), "PNG")
    info = PngInfo()
    info.add_text(HEADER_KEY, json.dumps(header))
    tmp = path.with_name(f".{path.name}.tmp")
    image.save(tmp, format=fmt, **({"pnginfo": info} if fmt == "PNG" else {}))
    tmp.replace(path)


def _robust(r: dict) -> str:
    """Achieved / attainable under random resamplings (zoom, rotation, blur, JPEG...) beside the views': what a kept
    copy of this face still shows of the edit."""
    return "; ".join(f"{n} robust {r['ratio_robust'][n]:.2f} (views {r['ratio'][n]:.2f})" for n in r["ratio"])


def _method(cfg: EditOneConfig) -> str:
    one = "one pass" if cfg.passes == 1 else f"{cfg.passes} passes"
    return one + (f" + {cfg.refine.steps} critic steps" if cfg.refine.steps else "")


@torch.no_grad()  # not inference_mode: the optional critic steps take gradients with respect to the latent
def edit_one(cfg: EditOneConfig) -> Path:
    t0 = time.perf_counter()
    mapper, doc = load_mapper(cfg.mapper)
    change, seed, passes = parse_changes(cfg.delta), cfg.seed, cfg.passes
    d = request(mapper, 1, change)
    judge = Judge(export_trained(doc, f"mapper export {cfg.mapper}").made, dlib=False)
    refiner = None
    if cfg.refine.steps:
        from pipeline.edit.refine import Refiner

        refiner = Refiner(doc, cfg.refine, judge.gen)  # on the judge's generator (opened once)
    psi = cfg.psi if cfg.psi is not None else judge.made.psi
    t1 = time.perf_counter()
    w = judge.gen.mapping(torch.from_numpy(seed_z(np.array([seed]), judge.gen.z_dim)), psi)
    if len(mapper.cfg.latent_shape) == 2:
        w = broadcast_ws(w, *mapper.cfg.latent_shape)
    before = judge.read(w)
    a = judge.attrs(before, mapper.cfg.attributes)
    w1 = edit_in_passes(mapper, w, a, d, passes, lambda x: judge.attrs(judge.read(x), mapper.cfg.attributes))
    if refiner is not None:
        w1 = refiner(w, w1, d)
    r = judge.compare(before, w1, change, check=True)
    t2 = time.perf_counter()
    path = Path(cfg.out or f"edit-{seed}.png")
    readings = [[f"{n} {float(x.labels[n][0]):.3f}" for n in mapper.cfg.attributes] for x in (before, r["after"])]
    readings[1] += [f"identity cos {r['identity_cos']:.3f}", _robust(r), _method(cfg)]
    summary = {n: f"{float(before.labels[n][0]):.3f} -> {float(r['after'].labels[n][0]):.3f}" for n in mapper.cfg.attributes}
    image = sheet(image_grid([before.images, r["after"].images]), ("before", "after: " + ", ".join(f"{k} {v:+g}" for k, v in change.items())),
                  readings)
    save_described(image, path, run_header("edit-one", cfg, seed=int(seed), readings=summary))
    print(f"wrote {path}: {json.dumps(summary)} (real labelers over {len(judge.views.names)} views; {_robust(r)}), identity cosine "
          f"{r['identity_cos']:.3f}; {_method(cfg)}: edit and judge {1000 * (t2 - t1):.0f} ms (loading models {1000 * (t1 - t0):.0f} ms)")
    return path
