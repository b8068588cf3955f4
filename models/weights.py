"""Locating, hashing and safely opening weight files: shared by every loader."""

from __future__ import annotations

import hashlib
import importlib.util
import re
from pathlib import Path
from typing import Any


class CheckpointError(ValueError):
    """A weights file that is missing, truncated, or of the wrong kind."""


def package_file(package: str, relative: str) -> Path:
    """Path of a weight file shipped inside an installed package, without importing the package."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise CheckpointError(f"package {package!r} is not installed (run `make env`)")
    path = Path(next(iter(spec.submodule_search_locations))) / relative
    if not path.is_file():
        raise CheckpointError(f"weight file {relative!r} is missing from package {package!r}")
    return path


def existing_file(path: str | Path, what: str) -> Path:
    """The path as a Path, or a one-line CheckpointError naming what is missing."""
    p = Path(path)
    if not p.is_file():
        raise CheckpointError(f"{what} not found: {p}")
    return p


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def model_id(name: str, path: str | Path) -> str:
    """Stable id recorded in every output: network name + first 12 hex of the weights' sha256."""
    return f"{name}-{sha256_file(path)[:12]}"


def torch_load(path: Path, what: str, safe: tuple[type, ...] = ()) -> Any:
    """torch.load with weights only (tensors and plain data; `safe` adds classes); a refused class is named in a
    one-line CheckpointError, and torch's advice to turn the check off is not repeated."""
    import torch

    try:
        with torch.serialization.safe_globals(list(safe)):
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        refused = re.search(r"unsupported GLOBAL (\S+)", str(e))
        if refused:
            raise CheckpointError(f"refusing to load {refused[1]} from {path}: {what} files may only contain tensors and plain data") from None
        raise CheckpointError(f"cannot read {what} {path}: {str(e).splitlines()[0]}") from None
