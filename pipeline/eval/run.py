"""`python -m pipeline eval`: the mapper (one pass, and k passes) against a linear-direction baseline at
matched change, on held-out faces, all judged by pipeline/eval/judge.py."""

from __future__ import annotations

import itertools
import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from models.attributes import attribute
from models.editors.mapper import edit_in_passes, load_mapper, request
from models.open import embedder_title
from pipeline.eval.baseline import fit_direction, match_step, move
from pipeline.eval.config import EvalConfig
from pipeline.eval.judge import Judge, Reading
from pipeline.made_with import export_trained, held_out_rule
from pipeline.redact import redact_doc
from pipeline.runinfo import write_header
from pipeline.train.report import image_grid


def held_out(dataset: str, every: int, rows: int, shape: tuple[int, ...], attrs: list[str]) -> dict[str, torch.Tensor]:
    """Held-out faces and the training rows the baseline directions are fitted on."""
    from pipeline.manifest import read_rows

    test, train = (read_rows(dataset, ["w", *attrs], every, h, rows if h else None) for h in (True, False))
    t = lambda d: torch.from_numpy(np.stack(list(d["w"])).astype(np.float32).reshape(len(d["w"]), *shape))  # noqa: E731
    return {"w": t(test), "w_train": t(train), "a_train": torch.from_numpy(np.stack([train[a] for a in attrs], 1).astype(np.float32))}


class Evaluation:
    """One mapper, its baseline directions and the judge, loaded once."""

    def __init__(self, cfg: EvalConfig) -> None:
        self.cfg = cfg
        self.mapper, self.doc = load_mapper(cfg.mapper)
        self.trained = export_trained(self.doc, f"mapper export {cfg.mapper}")
        self.holdout_every = held_out_rule(cfg.holdout_every, self.trained)  # a contradicting flag: refused before any work
        if cfg.refine.steps:  # refused (export or views) before the held-out faces are read and judged
            from pipeline.edit.refine import check_refinable

            check_refinable(self.doc, cfg.refine.views)
        self.names = self.mapper.cfg.attributes
        request(self.mapper, 0, dict.fromkeys(cfg.attributes, 0.0))  # an attribute the mapper does not edit: one line, before any work
        self.judged_names = tuple(n for n in self.names if n in cfg.attributes) if cfg.attributes else self.names
        data = held_out(cfg.dataset or self.doc["dataset"], self.holdout_every, cfg.rows, self.mapper.cfg.latent_shape, list(self.names))
        self.judge = Judge(self.trained.made, dlib_rows=cfg.dlib_rows, resampling=cfg.robust)
        self.before = self.judge.read(data["w"])
        self.a = self.judge.attrs(self.before, self.names)  # the mapper's input: view-averaged real labels
        self.directions = {n: fit_direction(data["w_train"], data["a_train"][:, j]) for j, n in enumerate(self.names)}
        self.reread_views = tuple((self.doc.get("critic") or {}).get("views") or self.judge.views.names)
        self.refiner = None
        if cfg.refine.steps:
            from pipeline.edit.refine import Refiner

            self.refiner = Refiner(self.doc, cfg.refine, self.judge.gen, batch=cfg.refine_batch)  # on the judge's generator

    def _read(self, w: torch.Tensor) -> torch.Tensor:
        labels, _ = self.judge.label(self.judge.render(w), self.reread_views)
        return torch.from_numpy(np.stack([labels[n] for n in self.names], axis=1).astype(np.float32))

    def mapper_edit(self, change: dict[str, float], passes: int) -> tuple[torch.Tensor, float]:
        t0 = time.perf_counter()
        w = edit_in_passes(self.mapper, self.before.w, self.a, request(self.mapper, len(self.a), change), passes, self._read)
        return w, (time.perf_counter() - t0) / len(w)

    def judged(self, w1: torch.Tensor, change: dict[str, float], seconds: float | None = None) -> dict[str, Any]:
        r = self.judge.compare(self.before, w1, change, dlib=True, check=True)
        r["images"] = r.pop("after").images[: self.cfg.sheet_faces]
        return {**r, "seconds_per_face": seconds}

    def baseline(self, change: dict[str, float], goal: float, scale: float) -> tuple[dict[str, Any], float]:
        """The direction stepped so that its mean achieved change matches `goal` (pipeline/eval/baseline.py match_step,
        probing at multiples of the other method's latent distance), judged there against the user's request."""
        (name, _), = change.items()
        alpha = self.matched_step(name, goal, scale)
        return self.judged(move(self.before.w, self.directions[name], alpha), change), alpha

    def matched_step(self, name: str, goal: float, scale: float) -> float:
        """The step along `name`'s direction alone whose mean achieved change on `name` is `goal`."""
        n, w = self.directions[name], self.before.w
        reading = lambda a: self.judge.compare(self.before, move(w, n, a), {name: goal})["achieved"][name]  # noqa: E731
        return match_step(reading, goal, scale, self.cfg.baseline_tolerance, self.cfg.baseline_tries)[0]

    def summed_steps(self, change: dict[str, float], alphas: dict[str, float]) -> dict[str, Any]:
        """A pair's baseline: the single-attribute steps added (InterFaceGAN's multi-attribute edit)."""
        w = self.before.w
        for name in change:
            w = move(w, self.directions[name], alphas[name])
        return self.judged(w, change)

    def single_step(self, name: str, change: float, strength: float, alphas: dict[str, float]) -> float:
        """The baseline's step matched to the one-pass mapper on `name` alone; fitted here when no single request
        was judged (--no-singles)."""
        key = f"{name}@{strength}"
        if key not in alphas:
            w1, _ = self.mapper_edit({name: change}, 1)
            got = self.judge.compare(self.before, w1, {name: change})
            _, alphas[key] = self.baseline({name: change}, got["achieved"][name], max(got["latent_dist"], 1e-3))
        return alphas[key]

    def one_request(self, change: dict[str, float], strength: float, alphas: dict[str, float]) -> dict[str, Any]:
        w1, sec = self.mapper_edit(change, 1)
        out = {"request": change, "strength": strength, "mapper": self.judged(w1, change, sec)}
        if self.cfg.step_scale != 1.0:  # still one forward pass: only the length of its step changes
            out[f"mapper-x{self.cfg.step_scale:g}"] = self.judged(self.before.w + self.cfg.step_scale * (w1 - self.before.w), change, sec)
        if self.cfg.passes > 1:
            wk, seck = self.mapper_edit(change, self.cfg.passes)
            out[f"mapper-{self.cfg.passes}-pass"] = self.judged(wk, change, seck)
        if self.refiner is not None:
            t0 = time.perf_counter()
            wr = self.refiner(self.before.w, w1, request(self.mapper, len(w1), change))
            out[f"mapper+{self.cfg.refine.steps}-critic-steps"] = self.judged(wr, change, sec + (time.perf_counter() - t0) / len(w1))
        variants = [k for k in out if k.startswith(("mapper-", "mapper+"))]  # each gets its own matched baseline
        if len(change) == 1:
            (name, _), = change.items()
            b, alphas[f"{name}@{strength}"] = self.baseline(change, out["mapper"]["achieved"][name], max(out["mapper"]["latent_dist"], 1e-3))
            for v in variants:
                out[f"baseline@{v}"], _ = self.baseline(change, out[v]["achieved"][name], max(out[v]["latent_dist"], 1e-3))
        else:  # single-attribute steps added: matched to the one-pass mapper's singles, and to each variant's change per attribute
            b = self.summed_steps(change, {n: self.single_step(n, change[n], strength, alphas) for n in change})
            for v in variants:
                scale = max(out[v]["latent_dist"], 1e-3) / len(change) ** 0.5
                out[f"baseline@{v}"] = self.summed_steps(change, {n: self.matched_step(n, out[v]["achieved"][n], scale) for n in change})
        out["baseline"] = b
        order = ["request", "strength", "mapper", "baseline"]
        for v in variants:  # each variant next to its matched baseline
            order += [v] + ([f"baseline@{v}"] if f"baseline@{v}" in out else [])
        return {k: out[k] for k in order}


def requests(names: tuple[str, ...], cfg: EvalConfig) -> list[tuple[dict[str, float], float]]:
    span = {n: attribute(n).high - attribute(n).low for n in names}
    pairs = list(itertools.combinations(names, 2))
    groups = [(n,) for n in names] * cfg.singles + {"first": pairs[:1], "all": pairs, "none": []}[cfg.pairs]
    return [({n: s * span[n] for n in g}, s) for g in groups for s in cfg.strengths]


def run_eval(cfg: EvalConfig) -> dict[str, Any]:
    print(f"eval: reading {cfg.rows} held-out faces with the real labelers and fitting the baseline directions", flush=True)
    ev = Evaluation(cfg)
    out_dir = Path(cfg.out) if cfg.out else Path(cfg.mapper).parent / "eval"
    write_header(out_dir, "eval", cfg, holdout_every=ev.holdout_every)  # the judged faces: the export's held-out rule
    alphas: dict[str, float] = {}
    rows, todo = [], requests(ev.judged_names, cfg)
    for i, (change, s) in enumerate(todo):
        rows.append(ev.one_request(change, s, alphas))
        print(f"[{i + 1}/{len(todo)}] {one_line(rows[-1])}", flush=True)
    sheets = save_sheets(rows, ev.before, cfg, out_dir)
    report = {"mapper": cfg.mapper, "dataset": cfg.dataset or ev.doc["dataset"], "rows": len(ev.before.w),
              "generator_id": ev.doc["generator_id"], "judge_views": list(ev.judge.views.names),
              "check_views": list(ev.judge.check_views), "robust": asdict(cfg.robust),
              "reread_views": list(ev.reread_views), "passes": cfg.passes,
              "baseline_match": {"tolerance": cfg.baseline_tolerance, "tries": cfg.baseline_tries},
              "refine": {**cfg.refine.described(), "views_per_step": cfg.refine.views_per_step if ev.refiner.schedule and not
                         cfg.refine.eot.per_step else 0,
                         "batch": cfg.refine_batch} if cfg.refine.steps else None,
              "dlib_rows": min(cfg.dlib_rows, len(ev.before.w)),
              "holdout_every": ev.holdout_every, "identity_embedder": ev.trained.made.embedder,
              "identity_embedders": [embedder_title(ev.trained.made.embedder)] + (["dlib"] if ev.judge.dlib is not None else []),
              "results": [{k: _plain(v) for k, v in r.items()} for r in rows], "sheets": sheets}
    report["summary"] = summarise(report)
    report = redact_doc(report)
    (out_dir / "eval.json").write_text(json.dumps(report, indent=2))
    (out_dir / "eval.md").write_text(markdown(report))
    plot(report, out_dir)
    print(markdown(report))
    print(f"eval written to {out_dir}")
    return report


def _plain(v: Any) -> Any:
    return {k: x for k, x in v.items() if k != "images"} if isinstance(v, dict) else v


def methods(row: dict[str, Any]) -> list[str]:
    return [k for k in row if k.startswith(("mapper", "baseline"))]


def save_sheets(rows: list[dict[str, Any]], before: Reading, cfg: EvalConfig, out_dir: Path) -> dict[str, str]:
    """One PNG per request group and method: rows = faces, columns = original then each strength."""
    sheets: dict[str, str] = {}
    for key in dict.fromkeys("+".join(r["request"]) for r in rows):
        group = [r for r in rows if "+".join(r["request"]) == key]
        for m in methods(group[0]):
            path = out_dir / f"sheet-{key}-{m}.png"
            Image.fromarray(image_grid([before.images[: cfg.sheet_faces]] + [r[m]["images"] for r in group])).save(path)
            sheets[f"{key}/{m}"] = str(path)
    return sheets


def one_line(row: dict[str, Any]) -> str:
    parts = []
    for m in methods(row):
        r = row[m]
        parts.append(f"{m}: " + ", ".join(f"{n} {r['achieved'][n]:+.3f}/{r['attainable'][n]:+.3f}" for n in row["request"])
                     + f" id {r['identity_cos']:.3f}")
    return f"{'+'.join(row['request'])} {row['strength']:+.2f}: " + "; ".join(parts)


def summarise(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Per request group and method: mean achieved/attainable over strengths, worst dlib same-person rate, and
    against the baseline at the same strengths: identity and drift counts."""
    out = []
    results = report["results"]
    for key in dict.fromkeys("+".join(r["request"]) for r in results):
        group = [r for r in results if "+".join(r["request"]) == key]
        for m in methods(group[0]):
            rs = [r[m] for r in group]
            base = [r.get(f"baseline@{m}", r["baseline"]) for r in group]  # the baseline matched to this method
            out.append({"request": key, "method": m,
                        "ratio": {n: float(np.mean([r["ratio"][n] for r in rs])) for n in group[0]["request"]},
                        "ratio_check": {n: float(np.mean([r["ratio_check"][n] for r in rs])) for n in group[0]["request"]},
                        "ratio_robust": {n: float(np.mean([r["ratio_robust"][n] for r in rs])) for n in group[0]["request"]},
                        "identity_cos": float(np.mean([r["identity_cos"] for r in rs])),
                        "dlib_same_min": min((r.get("dlib_same_person", float("nan")) for r in rs), default=float("nan")),
                        "identity_ge_baseline": sum(r["identity_cos"] >= b["identity_cos"] - 1e-9 for r, b in zip(rs, base)),
                        "drift_le_baseline": sum(r["drift"] <= b["drift"] + 1e-9 for r, b in zip(rs, base)),
                        "drift": float(np.mean([r["drift"] for r in rs])), "strengths": len(rs),
                        "seconds_per_face": rs[0].get("seconds_per_face")})
    return out


def markdown(report: dict[str, Any]) -> str:
    def f(r: dict[str, Any], key: str, names: list[str], fmt: str) -> str:
        return " / ".join(format(r[key][n], fmt) for n in names)

    ident = report["identity_embedders"][0]
    head = (f"| request | strength | method | attainable | achieved | achieved / attainable | check views | robust | drift | {ident} cos "
            "| dlib same | latent dist |\n|" + "---|" * 12 + "\n")
    body = ""
    for row in report["results"]:
        for m in methods(row):
            r, names = row[m], list(row["request"])
            dl = f"{r['dlib_same_person']:.2f}" if "dlib_same_person" in r else "n/a"
            body += (f"| {'+'.join(names)} | {row['strength']:+.2f} | {m} | {f(r, 'attainable', names, '+.3f')} | "
                     f"{f(r, 'achieved', names, '+.3f')} | {f(r, 'ratio', names, '.2f')} | {f(r, 'ratio_check', names, '.2f')} | "
                     f"{f(r, 'ratio_robust', names, '.2f')} | "
                     f"{r['drift']:.3f} | {r['identity_cos']:.3f} | {dl} | {r['latent_dist']:.2f} |\n")
    summ = (f"\n| request | method | mean achieved / attainable | on the check views | robust | mean {ident} cos | identity >= baseline "
            "| drift <= baseline | min dlib same | ms per face |\n|" + "---|" * 10 + "\n")
    for s in report["summary"]:
        ms = f"{1000 * s['seconds_per_face']:.2f}" if s["seconds_per_face"] is not None else "n/a"
        ratio = " / ".join(f"{v:.2f}" for v in s["ratio"].values())
        check = " / ".join(f"{v:.2f}" for v in s["ratio_check"].values())
        robust = " / ".join(f"{v:.2f}" for v in s["ratio_robust"].values())
        summ += (f"| {s['request']} | {s['method']} | {ratio} | {check} | {robust} | {s['identity_cos']:.3f} | "
                 f"{s['identity_ge_baseline']}/{s['strengths']} | {s['drift_le_baseline']}/{s['strengths']} | "
                 f"{s['dlib_same_min']:.2f} | {ms} |\n")
    refine = report.get("refine") or {}
    note = (f"\n{report['rows']} held-out faces. Labels by the real labelers on 8-bit images, averaged over the views "
            f"{', '.join(report['judge_views'])}; on the check views = the same ratio over {', '.join(report['check_views'])}, "
            "shifts that no critic, critic step or judge view uses (an edit that is the face reads there as in the judge's "
            f"views); robust = the same ratio read by the labelers under {report['robust']['draws']} random resamplings per face "
            "that nothing optimises on, the same draws before and after (models/labelers/resampling.py ResampleConfig: zoom, "
            "rotation, shift, brightness, contrast, blur, JPEG; what a kept image goes through); "
            "attainable = the request clipped to the attribute's range; drift = mean "
            "|change| of the attributes that should hold (aliases of a requested one excluded), as a fraction of their range; "
            f"{ident} cosine to the original; dlib same = share of the first {report['dlib_rows']} faces within dlib's 0.6 "
            "same-person distance (an embedder training never saw). The baseline (ridge direction) is stepped until its mean achieved change matches the one-pass "
            f"mapper's within {report['baseline_match']['tolerance']:.0%} ({report['baseline_match']['tries']} readings after two probes at most, "
            "then the nearest reading; baseline@<method>: matched to that method's); for pairs it adds the single-attribute steps, "
            "each matched alone to the method's change on its attribute; the "
            "summary compares each method with the baseline matched to it. "
            f"mapper-k-pass re-reads the attributes ({', '.join(report['reread_views'])}) between passes "
            "and asks for what is left; mapper+k-critic-steps takes k gradient steps from the mapper's output on the "
            f"labelers the mapper was trained on, averaged over {drawn(refine)}"
            f"{f', identity hinge at cosine {m:.2f}' if (m := refine.get('identity_margin')) is not None else ''}"
            f"{', each face stopping at its target' if refine.get('stop_at_target') else ''}"
            f"{f', {b} faces a batch' if (b := refine.get('batch')) else ''} "
            "(pipeline/edit/refine.py). Neither is the paper's one forward pass; their cost per face is in the "
            "summary's last column. mapper-x<s> is the one forward pass with its step w' - w scaled by s at inference "
            "(a longer step along the same direction: more change on average, more miss per face).\n")
    return head + body + summ + note


def drawn(refine: dict[str, Any]) -> str:
    """The critic steps' views as eval.md names them: all of them, or k drawn from them for each step (the report's
    views_per_step is 0 where the refiner takes every view at every step)."""
    views, k = refine.get("views") or [], refine.get("views_per_step") or 0
    if not views:
        return "the views (not run here)"
    if (eot := (refine.get("eot") or {}).get("per_step")):
        return (f"{eot} random differentiable transformations drawn for each step (zoom, rotation, sub-pixel shift, mirror, "
                "colour, blur, down-/up-sampling, noise: models/labelers/eot.py, a family and seed apart from the robust "
                f"figure's), the originals read over {', '.join(views)}")
    return f"{k} views drawn for each step from {', '.join(views)}" if k else f"the views {', '.join(views)}"


def plot(report: dict[str, Any], out_dir: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    singles = [r for r in report["results"] if len(r["request"]) == 1]
    for name in dict.fromkeys(next(iter(r["request"])) for r in singles):
        rs = [r for r in singles if name in r["request"]]
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
        for key, style in zip(methods(rs[0]), ("o-", "^-", "v-", "s--")):
            ax1.plot([r["request"][name] for r in rs], [r[key]["achieved"][name] for r in rs], style, label=key)
            pts = sorted((abs(r[key]["achieved"][name]), r[key]["identity_cos"]) for r in rs)
            ax2.plot([p[0] for p in pts], [p[1] for p in pts], style, label=key)
        ax1.plot([r["request"][name] for r in rs], [r["mapper"]["attainable"][name] for r in rs], ":", color="grey", label="attainable")
        ax1.set(xlabel=f"requested change in {name}", ylabel=f"achieved change in {name} (view-averaged)")
        ax2.set(xlabel=f"|achieved change in {name}|", ylabel=f"identity cosine ({report['identity_embedders'][0]})")
        ax1.legend()
        ax2.legend()
        fig.tight_layout()
        fig.savefig(out_dir / f"plot-{name}.png", dpi=90)
        plt.close(fig)
