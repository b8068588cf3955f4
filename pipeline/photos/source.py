"""The photos a job reads: files, folders and URIs listed once in the driver (sorted, so positions and shards are
stable across reruns), each photo's bytes read where it lies by the actor that edits it."""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import pyarrow.fs as pafs

FOLDER_EXTENSIONS = (".jpg", ".jpeg", ".jpe", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff", ".heic", ".avif")  # what a folder gives


def _fs(location: str) -> tuple[pafs.FileSystem, str]:
    if "://" in location:
        return pafs.FileSystem.from_uri(location)
    return pafs.LocalFileSystem(), os.path.abspath(location)


def list_photos(inputs: tuple[str, ...]) -> list[tuple[str, str]]:
    """(name, location) of every photo: a file as given, a folder's image files (by extension, recursively, sorted); a
    location that does not exist is a one-line error before any work."""
    found: list[tuple[str, str]] = []
    for loc in inputs:
        try:
            fs, path = _fs(loc)
            info = fs.get_file_info(path)
        except (OSError, ValueError) as e:
            raise ValueError(f"cannot read photos at {loc}: {str(e).splitlines()[0]}") from None
        if info.type == pafs.FileType.NotFound:
            raise ValueError(f"no photo or folder at {loc}")
        if info.type == pafs.FileType.File:
            found.append((os.path.basename(path), _location(loc, path)))
            continue
        files = [i for i in fs.get_file_info(pafs.FileSelector(path, recursive=True)) if i.type == pafs.FileType.File]
        found += [(f.path[len(path.rstrip("/")) + 1:], _location(loc, f.path)) for f in sorted(files, key=lambda f: f.path)
                  if f.path.lower().endswith(FOLDER_EXTENSIONS) and not os.path.basename(f.path).startswith(".")]
    if not found:
        raise ValueError(f"no photos in {', '.join(inputs)} (folders give their {', '.join(FOLDER_EXTENSIONS[:5])} ... files)")
    return found


def _location(given: str, path: str) -> str:
    """A path the workers can open: absolute for local files, the URI's scheme and query kept for remote ones."""
    if "://" not in given:
        return path
    scheme, rest = given.split("://", 1)
    query = "?" + rest.split("?", 1)[1] if "?" in rest else ""
    return f"{scheme}://{path}{query}"


def read_photo(location: str) -> bytes | None:
    """A photo's bytes; None if it has gone since it was listed."""
    try:
        fs, path = _fs(location)
        with fs.open_input_stream(path) as f:
            return f.read()
    except (FileNotFoundError, OSError):
        return None


@dataclass(frozen=True)
class PhotoFiles:
    """The job's input rows at positions [lo, hi): photo_id (the position), name, data (bytes), status."""

    entries: tuple[tuple[str, str], ...]  # (name, location) per position

    def rows(self, lo: int, hi: int) -> dict[str, np.ndarray]:
        names, data, statuses = [], [], []
        for name, location in self.entries[lo:hi]:
            raw = read_photo(location)
            names.append(name)
            data.append(raw or b"")
            statuses.append("ok" if raw is not None else "not-found")
        objects = np.empty(len(data), dtype=object)
        objects[:] = data
        return {"photo_id": np.arange(lo, lo + len(names), dtype=np.int64), "name": np.array(names, dtype=object),
                "data": objects, "status": np.array(statuses, dtype=object)}
