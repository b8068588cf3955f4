"""What a run directory says about itself: resolved config, git revision, package versions."""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import subprocess
from pathlib import Path
from typing import Any

from pipeline.config import to_jsonable

PACKAGES = ("torch", "ray", "pyarrow", "pandas", "numpy", "webdataset", "pillow", "onnxruntime", "opencv-python-headless")


def git_revision() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def package_versions() -> dict[str, str | None]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def run_header(kind: str, cfg: Any, **extra: Any) -> dict[str, Any]:
    return {"kind": kind, "created": now(), "config": to_jsonable(cfg), "git_revision": git_revision(),
            "packages": package_versions(), **extra}


def write_header(directory: Path, kind: str, cfg: Any, **extra: Any) -> Path:
    """`directory`/config.json with the run header, written whole (a temp name, then renamed): the directory's first file."""
    import json

    from pipeline import names

    directory.mkdir(parents=True, exist_ok=True)
    tmp = directory / f".{names.CONFIG}.tmp"
    tmp.write_text(json.dumps(run_header(kind, cfg, **extra), indent=2))
    return tmp.replace(directory / names.CONFIG)
