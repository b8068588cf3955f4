"""The dataset job's read stage: seed ranges -> one row per seed. numpy only: the task worker that runs it
imports no torch (an idle task worker holding torch kept ~0.4 GB for the whole job)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def held_out(seeds: np.ndarray, every: int) -> np.ndarray:
    """The held-out rule, the one place it is written: seed % every == 0 (a row's split depends on its seed alone; a
    mapper export records its `every`: pipeline/made_with.py)."""
    return np.asarray(seeds) % every == 0


def expand_seed_ranges(batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Rows of [seed_lo, seed_hi) ranges -> one row per seed."""
    ranges = zip(batch["seed_lo"].tolist(), batch["seed_hi"].tolist())
    seeds = [np.arange(lo, hi, dtype=np.int64) for lo, hi in ranges]
    return {"seed": np.concatenate(seeds) if seeds else np.zeros(0, np.int64)}


@dataclass(frozen=True)
class SeedRows:
    """The dataset's input as a shard task reads it (pipeline/shards.py ShardTask): seeds [lo, hi) as rows."""

    def rows(self, lo: int, hi: int) -> dict[str, np.ndarray]:
        return {"seed": np.arange(lo, hi, dtype=np.int64)}
