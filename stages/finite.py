"""Rows whose values are NaN or Inf: refused by name where a stage makes them, never written as black faces."""

from __future__ import annotations

import numpy as np
import torch


def nonfinite_rows(values: torch.Tensor) -> np.ndarray:
    """Positions of the rows of `values` (rows first) holding a NaN or Inf."""
    if bool(torch.isfinite(values.sum())):  # NaN and Inf survive a sum: one reduction, not a mask (W+: 6 % of a stage)
        return np.zeros(0, np.int64)  # (a finite batch whose sum overflows gets the exact check below and passes it)
    return np.nonzero(~torch.isfinite(values.reshape(len(values), -1)).all(dim=1).cpu().numpy())[0]


def refuse_nonfinite(what: str, values: torch.Tensor, ids: np.ndarray | None) -> None:
    """A one-line ValueError naming the rows (by `ids`, else position) where `values` (rows first) is not finite."""
    bad = nonfinite_rows(values)
    if not len(bad):
        return
    named = [int(i) for i in (ids[bad] if ids is not None else bad)[:10]]
    raise ValueError(f"{what} NaN or Inf for {len(bad)} rows ({'ids' if ids is not None else 'rows'} {named}): nothing of them was written")
