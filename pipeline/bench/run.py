"""`python -m pipeline bench`: every benchmark, ratios measured within one run, written to one JSON report."""

from __future__ import annotations

import json
import platform
import statistics
import time
from pathlib import Path
from typing import Any

from pipeline.bench.config import SUITES, BenchConfig
from pipeline.runinfo import git_revision, package_versions


def run_bench(cfg: BenchConfig) -> dict[str, Any]:
    only, out, dataset, mapper = cfg.only, cfg.out, cfg.dataset, cfg.resolved_mapper()
    report: dict[str, Any] = {"created": time.strftime("%FT%TZ", time.gmtime()), "git_revision": git_revision(),
                              "machine": {"cpus": __import__("os").cpu_count(), "platform": platform.platform()},
                              "packages": package_versions()}
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():  # --only re-runs some suites and keeps the others' last results
        report = {**json.loads(path.read_text()), **report}
    for suite in only:
        t0, runs = time.time(), []
        for i in range(cfg.repeats):
            runs.append(_suite(suite, cfg, dataset, mapper))
            print(f"{suite}: run {i + 1}/{cfg.repeats} done", flush=True)
            if runs[-1].get("available") is False:  # nothing was measured (the GPU suite without a GPU)
                break
        report[suite] = summarise_runs(runs)
        report[suite]["bench_seconds"] = round(time.time() - t0, 1)
        path.write_text(json.dumps(report, indent=2))  # partial reports survive a later failure
        print(f"{suite}: {json.dumps(report[suite])}")
    print(f"report written to {path}")
    return report


def summarise_runs(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """A suite's repeated runs as one result: each figure the median over runs (ratios are taken within a run,
    then their median), `range` its [min, max], `runs` every run as measured."""
    median, spread = median_of(runs)
    return {**median, "repeats": len(runs), "range": spread, "runs": runs}


def median_of(values: list[Any]) -> tuple[Any, Any]:
    """(median, [min, max]) of one figure over runs; dicts figure by figure; a non-number: the first run's, no range."""
    first = values[0]
    if isinstance(first, dict):
        both = {k: median_of([v[k] for v in values]) for k in first}
        return {k: m for k, (m, _) in both.items()}, {k: s for k, (_, s) in both.items() if s is not None}
    if isinstance(first, (int, float)) and not isinstance(first, bool):
        xs = sorted(float(v) for v in values)
        return statistics.median(xs), [xs[0], xs[-1]]
    return first, None


def _suite(suite: str, cfg: BenchConfig, dataset: str, mapper: str | None) -> dict[str, Any]:
    if suite == "synthesis":
        from pipeline.bench.synthesis import bench_synthesis

        return bench_synthesis()
    if suite == "dataset":
        from pipeline.bench.dataset_bench import bench_dataset

        return bench_dataset()
    if suite == "train":
        from pipeline.bench.train_bench import bench_train

        return bench_train(dataset)
    if suite == "edit":
        from pipeline.bench.edit_bench import bench_edit

        latents = {"dcgan_z100": cfg.dcgan_latents, "stylegan2_wplus_18x512": cfg.wplus_latents}
        return bench_edit(mapper, dataset, latents)  # without a trained export: the mapper-only jobs
    if suite == "serve":
        from pipeline.bench.serve_bench import bench_serve

        if mapper is None:
            raise ValueError("the serve benchmark needs --mapper (train one with `make train`)")
        return bench_serve(mapper)
    if suite == "photos":
        from pipeline.bench.photos_bench import bench_photos

        return bench_photos(mapper, cfg.photos, cfg.photos_project)  # without a trained export: reconstructions pasted back
    if suite == "gpu":
        from pipeline.bench.gpu_bench import bench_gpu

        return bench_gpu()
    raise ValueError(f"unknown benchmark {suite!r} (choose from {', '.join(SUITES)})")
