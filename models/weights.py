"""Locating, hashing and safely opening weight files: shared by every loader."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import shutil
from pathlib import Path
from typing import Any

# remote weights (s3://..., gs://...) are copied here once, keyed by their location and version
CACHE = Path(os.environ.get("L2L_CACHE", "~/.cache/latent2latent")).expanduser()


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


def fetch(location: str | Path, what: str = "weights") -> Path:
    """A local path for a weights file or an export directory named by a local path or any pyarrow filesystem URI
    (s3://bucket/run/export?endpoint_override=...). A remote one is copied once into CACHE under a key made of
    its path, sizes and modification times (never its credentials), so every actor on a node reuses one copy."""
    text = str(location)
    if "://" not in text:
        return Path(text)
    import pyarrow.fs as pafs

    try:
        fs, root = pafs.FileSystem.from_uri(text)
        info = fs.get_file_info(root)
        files = ([info] if info.type == pafs.FileType.File else
                 [i for i in fs.get_file_info(pafs.FileSelector(root, recursive=True, allow_not_found=True)) if i.type == pafs.FileType.File])
    except (OSError, ValueError) as e:
        raise CheckpointError(f"cannot read {what} at {_strip(text)}: {str(e).splitlines()[0]}") from None
    if not files:
        raise CheckpointError(f"{what} not found: {_strip(text)}")
    key = hashlib.sha256(repr([(f.path, f.size, f.mtime_ns) for f in files]).encode()).hexdigest()[:16]
    dest = CACHE / key / root.rstrip("/").rsplit("/", 1)[-1]
    if not dest.exists():
        tmp = dest.parent / f".{dest.name}.tmp-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.parent.mkdir(parents=True, exist_ok=True)
        for f in files:  # a file, or every file under the directory at its relative path
            target = tmp if f.path == root else tmp / f.path[len(root.rstrip("/")) + 1:]
            target.parent.mkdir(parents=True, exist_ok=True)
            with fs.open_input_stream(f.path) as src, open(target, "wb") as out:
                shutil.copyfileobj(src, out, 1 << 20)
        try:
            tmp.rename(dest)  # atomic: a concurrent copier's rename wins and this one's is dropped
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True) if tmp.is_dir() else tmp.unlink(missing_ok=True)
    return dest


def _strip(uri: str) -> str:
    """The URI without user-info or query (where credentials may sit) for messages."""
    return re.sub(r"://[^/@]*@", "://", uri).split("?", 1)[0]


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
