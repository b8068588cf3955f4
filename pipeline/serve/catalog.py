"""What the editor offers, decided server-side: mapper exports and their run outputs under --runs, and dataset
rows. The browser names things by the ids listed here; no path it sends ever reaches the filesystem."""

from __future__ import annotations

import json
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from models.attributes import attribute
from models.weights import fetch
from pipeline.serve.refine import refinable

RUN_FILE_SUFFIXES = (".png", ".md", ".json")


class NotListed(KeyError):
    """A name the browser sent that the server never listed."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "not listed"


@dataclass(frozen=True)
class Export:
    """One mapper export the editor may load."""

    id: str  # the run directory's name: what the browser sends back
    path: Path  # the export directory (mapper.json + mapper.safetensors)
    attributes: tuple[str, ...]
    dataset: str | None  # the dataset it was trained on
    mtime: float
    refinable: bool = False  # trained with the ported critic: the refine control can take critic steps on it

    def describe(self) -> dict[str, Any]:
        attrs = [{"name": n, "low": attribute(n).low, "high": attribute(n).high, "unit": attribute(n).unit, "doc": attribute(n).doc}
                 for n in self.attributes]
        return {"id": self.id, "path": str(self.path), "attributes": attrs, "dataset": self.dataset, "refinable": self.refinable}


def find_exports(runs: str, extra: str | None = None) -> dict[str, Export]:
    """Exports under runs/*/export (unreadable ones left out) and `extra` (--mapper: it must be readable), the
    latter first, then newest first."""
    found = {e.id: e for e in filter(None, (_export(p.parent) for p in Path(runs).glob("*/export/mapper.json")))}
    found = dict(sorted(found.items(), key=lambda kv: -kv[1].mtime))
    if extra:
        first = _export(fetch(extra, "mapper export"))
        if first is None:
            raise FileNotFoundError(f"--mapper {extra} is not a readable mapper export (no valid mapper.json)")
        found = {first.id: first, **{k: v for k, v in found.items() if k != first.id}}
    return found


def _export(path: Path) -> Export | None:
    try:
        doc = json.loads((path / "mapper.json").read_text())
        return Export(path.resolve().parent.name, path, tuple(doc["architecture"]["attributes"]), doc.get("dataset"),
                      (path / "mapper.json").stat().st_mtime, refinable(doc))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def run_files(export: Export) -> dict[str, Path]:
    """The run's plots, contact sheets and eval reports, by their path relative to the run directory."""
    run = export.path.parent
    files = [p for pattern in ("*", "*/*") for p in run.glob(pattern)
             if p.is_file() and p.suffix in RUN_FILE_SUFFIXES and "checkpoint" not in p.as_posix() and p.parent.name != "export"]
    return {p.relative_to(run).as_posix(): p for p in sorted(files)}


def eval_summaries(export: Export) -> list[dict[str, Any]]:
    """Each eval directory's summary table (eval.json written by `make eval`)."""
    out = []
    for path in sorted(export.path.parent.glob("eval*/eval.json")):
        try:
            report = json.loads(path.read_text())
            out.append({"name": path.parent.name, "rows": report.get("rows"), "summary": report.get("summary", [])})
        except (OSError, ValueError):
            continue
    return out


def held_out_rows(dataset: str, every: int, count: int) -> tuple[np.ndarray, np.ndarray]:
    """(seeds, latents) of the first `count` held-out rows of a dataset, by seed."""
    from pipeline.manifest import read_rows

    rows = read_rows(dataset, ["w"], every, True, count)
    return rows["seed"].astype(np.int64), np.stack(list(rows["w"])).astype(np.float32)


def preview_rows(dataset: str, count: int, attributes: tuple[str, ...]) -> list[dict[str, Any]]:
    """The first `count` rows of the first shard: their images read from the WebDataset tar, and their labels."""
    import pyarrow.parquet as pq

    shards = sorted((Path(dataset) / "parquet").glob("*.parquet"))
    if not shards:
        raise FileNotFoundError(f"dataset {dataset} has no Parquet shards")
    cols = pq.read_schema(shards[0]).names
    table = pq.read_table(shards[0], columns=[c for c in ("seed", "image", *attributes) if c in cols]).slice(0, count)
    rows = table.to_pylist()
    images = _tar_images(Path(dataset), [r.get("image") for r in rows])
    return [{"seed": r["seed"], "image": images.get(r.get("image")), "labels": {a: r[a] for a in attributes if a in r}} for r in rows]


def _tar_images(root: Path, pointers: list[str | None]) -> dict[str, bytes]:
    """{"wds/shard-X.tar#key.png": bytes} for the pointers a Parquet shard's image column holds."""
    out: dict[str, bytes] = {}
    by_tar: dict[str, list[str]] = {}
    for ptr in filter(None, pointers):
        tar, _, member = ptr.partition("#")
        by_tar.setdefault(tar, []).append(member)
    for tar, members in by_tar.items():
        with tarfile.open(root / tar) as t:
            for m in members:
                f = t.extractfile(m)
                if f is not None:
                    out[f"{tar}#{m}"] = f.read()
    return out
