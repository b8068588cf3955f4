"""Rows whose values are NaN or Inf: refused by name where a stage makes them, never written as black faces."""

from __future__ import annotations

import numpy as np
import torch


def refuse_nonfinite(what: str, values: torch.Tensor, ids: np.ndarray | None) -> None:
    """A one-line ValueError naming the rows (by `ids`, else position) where `values` (rows first) is not finite."""
    if bool(torch.isfinite(values.sum())):  # NaN and Inf survive a sum: one reduction, not a mask (W+: 6 % of a stage)
        return  # (a finite batch whose sum overflows gets the exact check below and passes it)
    bad = np.nonzero(~torch.isfinite(values.reshape(len(values), -1)).all(dim=1).cpu().numpy())[0]
    if not len(bad):
        return
    named = [int(i) for i in (ids[bad] if ids is not None else bad)[:10]]
    raise ValueError(f"{what} NaN or Inf for {len(bad)} rows ({'ids' if ids is not None else 'rows'} {named}): nothing of them was written")
