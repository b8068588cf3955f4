"""`python -m pipeline eval`: the mapper against a linear-direction baseline at matched target change."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from models.attributes import attribute
from models.mapper import load_mapper
from models.open import open_embedder, open_generator, open_labeler
from pipeline.baseline import fit_direction, move
from pipeline.train_report import image_grid
from stages.render import from_uint8, to_uint8

ALIASES = {"young": {"age"}, "smiling": {"happy"}, "age": {"young"}, "happy": {"smiling"}}


@dataclass(frozen=True)
class EvalConfig:
    """Held-out faces; each attribute pushed by +-strengths (fractions of its range) by both methods."""

    mapper: str = ""  # mapper export directory
    dataset: str | None = None  # default: the dataset the mapper was trained on
    out: str | None = None  # default: <run dir>/eval
    rows: int = 48  # held-out faces
    strengths: tuple[float, ...] = (-0.3, -0.15, 0.15, 0.3)  # fractions of the attribute's range
    holdout_every: int = 10
    sheet_faces: int = 6

    def __post_init__(self) -> None:
        if not self.mapper:
            raise ValueError("--mapper is required (a mapper export directory)")
        if self.rows < 2 or not self.strengths:
            raise ValueError("eval needs --rows >= 2 and at least one strength")


class Judge:
    """Renders latents and labels them with the real labelers and embedder."""

    def __init__(self, generator: str | None, labelers: tuple[str, ...]) -> None:
        self.gen = open_generator(generator)
        self.labelers = [open_labeler(n, self.gen.framing) for n in labelers]
        self.embedder = open_embedder("sface", self.gen.framing)
        self.second = _dlib(self.gen.framing)  # an embedder the mapper never trained against

    @torch.no_grad()
    def __call__(self, w: torch.Tensor) -> tuple[torch.Tensor, dict[str, np.ndarray], np.ndarray]:
        images = from_uint8(to_uint8(self.gen.synthesis(w)))
        labels = {k: v for lab in self.labelers for k, v in lab(images).items()}
        return images, labels, self.embedder(images)


def _dlib(framing: Any) -> Any:
    try:
        from models.dlib_face import DlibFaceEmbedder

        return DlibFaceEmbedder(framing)
    except ImportError:  # dlib-bin is optional: the table then has SFace only
        return None


def score(judge: Judge, w0: torch.Tensor, w1: torch.Tensor, base: tuple, target: str, second: bool = False) -> dict[str, Any]:
    images0, lab0, emb0 = base
    images, lab1, emb1 = judge(w1)
    others = [k for k in lab0 if k != target and k not in ALIASES.get(target, set())]
    drift = float(np.mean([np.mean(np.abs(lab1[k] - lab0[k])) / (attribute(k).high - attribute(k).low) for k in others]))
    out = {"achieved": float(np.mean(lab1[target] - lab0[target])), "drift": drift,
           "identity_cos": float(np.mean(np.sum(emb0 * emb1, axis=1))),
           "latent_dist": float((w1 - w0).reshape(len(w0), -1).norm(dim=1).mean()), "images": images}
    if second and judge.second is not None:
        d0, d1 = judge.second(images0, raw=True), judge.second(images, raw=True)
        out["dlib_same_person"] = float(np.mean(np.linalg.norm(d1 - d0, axis=1) < 0.6))  # dlib's own threshold
    return out


def matched_baseline(judge: Judge, w: torch.Tensor, n: torch.Tensor, base: tuple, target: str, goal: float,
                     scale: float) -> dict[str, Any]:
    """Step size alpha giving the baseline the mapper's mean achieved change `goal`: the achieved change is
    measured at a few steps (multiples of the mapper's latent distance `scale`), a slope through the origin
    is fitted, and the baseline is scored at goal / slope (clipped to the probed range)."""
    sign = 1.0 if goal >= 0 else -1.0
    probes = [sign * scale * f for f in (0.5, 1.0, 2.0)]
    achieved = [score(judge, w, move(w, n, a), base, target)["achieved"] for a in probes]
    slope = float(np.dot(probes, achieved) / np.dot(probes, probes))
    alpha = float(np.clip(goal / slope, -3 * scale, 3 * scale)) if abs(slope) > 1e-9 else probes[-1]
    return {**score(judge, w, move(w, n, alpha), base, target, second=True), "alpha": alpha}


def held_out(manifest_dir: str, attrs: list[str], every: int, rows: int, shape: tuple[int, ...]) -> dict[str, torch.Tensor]:
    import pandas as pd

    df = pd.read_parquet(Path(manifest_dir) / "parquet", columns=["seed", "w", *attrs]).sort_values("seed")
    test, train = df[df.seed % every == 0].head(rows), df[df.seed % every != 0]
    t = lambda d: torch.from_numpy(np.stack(list(d["w"])).astype(np.float32).reshape(len(d), *shape))  # noqa: E731
    return {"w": t(test), "a": torch.tensor(test[attrs].to_numpy(np.float32)),
            "w_train": t(train), "a_train": torch.tensor(train[attrs].to_numpy(np.float32))}


def run_eval(cfg: EvalConfig) -> dict[str, Any]:
    mapper, doc = load_mapper(cfg.mapper)
    attrs = list(mapper.cfg.attributes)
    dataset = cfg.dataset or doc["dataset"]
    data = held_out(dataset, attrs, cfg.holdout_every, cfg.rows, tuple(mapper.cfg.latent_shape))
    judge = Judge(doc.get("generator"), ("age-gender", "emotion"))
    base = judge(data["w"])
    out_dir = Path(cfg.out) if cfg.out else Path(cfg.mapper).parent / "eval"
    out_dir.mkdir(parents=True, exist_ok=True)
    rows, sheets = [], {}
    for j, name in enumerate(attrs):
        n = fit_direction(data["w_train"], data["a_train"][:, j])
        span = attribute(name).high - attribute(name).low
        cols_m, cols_b = [base[0][: cfg.sheet_faces]], [base[0][: cfg.sheet_faces]]
        for s in cfg.strengths:
            delta = torch.zeros(len(data["w"]), len(attrs))
            delta[:, j] = s * span
            with torch.no_grad():
                w_m = mapper(data["w"], data["a"], delta)
            m = score(judge, data["w"], w_m, base, name, second=True)
            b = matched_baseline(judge, data["w"], n, base, name, m["achieved"], max(m["latent_dist"], 1e-3))
            cols_m.append(m.pop("images")[: cfg.sheet_faces])
            cols_b.append(b.pop("images")[: cfg.sheet_faces])
            rows.append({"attribute": name, "strength": s, "requested": s * span, "mapper": m, "baseline": b})
        sheets[name] = [_save(out_dir / f"sheet-{name}-{k}.png", image_grid(c)) for k, c in (("mapper", cols_m), ("baseline", cols_b))]
    report = {"mapper": cfg.mapper, "dataset": dataset, "rows": len(data["w"]), "generator_id": doc["generator_id"],
              "identity_embedders": ["sface"] + (["dlib"] if judge.second is not None else []), "results": rows, "sheets": {k: [str(p) for p in v] for k, v in sheets.items()}}
    (out_dir / "eval.json").write_text(json.dumps(report, indent=2))
    (out_dir / "eval.md").write_text(markdown_table(report))
    plot(report, out_dir)
    print(markdown_table(report))
    print(f"eval written to {out_dir}")
    return report


def _save(path: Path, grid: np.ndarray) -> Path:
    Image.fromarray(grid).save(path)
    return path


def markdown_table(report: dict[str, Any]) -> str:
    head = ("| attribute | strength | requested | mapper achieved | baseline achieved | mapper drift | baseline drift "
            "| mapper id cos | baseline id cos | mapper dlib same | baseline dlib same | mapper latent dist "
            "| baseline latent dist |\n|" + "---|" * 13 + "\n")
    dl = lambda r: f"{r['dlib_same_person']:.2f}" if "dlib_same_person" in r else "n/a"  # noqa: E731
    body = "".join(
        f"| {r['attribute']} | {r['strength']:+.2f} | {r['requested']:+.3f} | {r['mapper']['achieved']:+.3f} | "
        f"{r['baseline']['achieved']:+.3f} | {r['mapper']['drift']:.3f} | {r['baseline']['drift']:.3f} | "
        f"{r['mapper']['identity_cos']:.3f} | {r['baseline']['identity_cos']:.3f} | {dl(r['mapper'])} | {dl(r['baseline'])} | "
        f"{r['mapper']['latent_dist']:.2f} | {r['baseline']['latent_dist']:.2f} |\n" for r in report["results"])
    note = (f"\n{report['rows']} held-out faces; changes and drift measured on rendered images by the real labelers "
            "(drift = mean |change| of the other attributes as a fraction of their range); identity cosine by SFace; "
            "dlib same = share of faces within dlib's 0.6 same-person distance of the original (an embedder not used in training); "
            "the baseline's step is chosen so its mean achieved change matches the mapper's.\n")
    return head + body + note


def plot(report: dict[str, Any], out_dir: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    for name in sorted({r["attribute"] for r in report["results"]}):
        rs = [r for r in report["results"] if r["attribute"] == name]
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
        for key, style in (("mapper", "o-"), ("baseline", "s--")):
            ax1.plot([r["requested"] for r in rs], [r[key]["achieved"] for r in rs], style, label=key)
            pts = sorted((abs(r[key]["achieved"]), r[key]["identity_cos"]) for r in rs)
            ax2.plot([p[0] for p in pts], [p[1] for p in pts], style, label=key)
        ax1.plot([r["requested"] for r in rs], [r["requested"] for r in rs], ":", color="grey", label="requested")
        ax1.set(xlabel=f"requested change in {name}", ylabel=f"achieved change in {name}")
        ax2.set(xlabel=f"|achieved change in {name}|", ylabel="identity cosine (SFace)")
        ax1.legend()
        ax2.legend()
        fig.tight_layout()
        fig.savefig(out_dir / f"plot-{name}.png", dpi=90)
        plt.close(fig)
