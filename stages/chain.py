"""Several stages as one: one process holds all their models and a batch goes through them in turn (the dataset's
one pool, where each actor runs the chain over whole shards, and the bench's bare loop)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np

Batch = dict[str, np.ndarray]


class Chain:
    """`parts` = [(stage class or function, its keyword arguments)], applied in order; classes get `device`."""

    def __init__(self, parts: list[tuple[Callable[..., Any], dict[str, Any]]], device: str = "cpu") -> None:
        self.parts = [f(**kw, device=device) if isinstance(f, type) else functools.partial(f, **kw) for f, kw in parts]

    def __call__(self, batch: Batch) -> Batch:
        for part in self.parts:
            batch = part(batch)
        return batch
