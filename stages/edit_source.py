"""The edit job's input rows, from a dataset's Parquet or from latents a user brings. numpy and Ray only: the task
workers that run them never import torch."""

from __future__ import annotations

from typing import Any

import numpy as np
import ray


def dataset_rows(batch: dict[str, Any], start: int, attrs: tuple[str, ...], shape: tuple[int, ...],
                 keep: set[int] | None) -> dict[str, np.ndarray]:
    """Dataset Parquet rows -> id (the seed), position (seed - start), w in its native shape, the original's
    identity and labels as src_<attr>; only the positions in `keep` (None: all)."""
    pos = np.asarray(batch["seed"], np.int64) - start
    sel = np.ones(len(pos), bool) if keep is None else np.isin(pos, np.fromiter(keep, np.int64))
    n = int(sel.sum())
    out = {"id": np.asarray(batch["seed"], np.int64)[sel], "position": pos[sel],
           "w": np.stack(list(batch["w"]))[sel].astype(np.float32).reshape(n, *shape) if n else np.zeros((0, *shape), np.float32),
           "identity_src": np.stack(list(batch["identity"]))[sel].astype(np.float32) if n else np.zeros((0, 1), np.float32)}
    out.update({f"src_{a}": np.asarray(batch[a], np.float32)[sel] for a in attrs})
    return out


def take_rows(batch: dict[str, np.ndarray], cols: Any) -> dict[str, np.ndarray]:
    """Rows of `cols` (columns in the object store) at the positions of a ray.data.range block."""
    pos = np.asarray(batch["id"], np.int64)  # ray.data.range names its column "id": here it is the position
    data = ray.get(cols) if isinstance(cols, ray.ObjectRef) else cols
    return {"position": pos, **{k: v[pos] for k, v in data.items()}}
