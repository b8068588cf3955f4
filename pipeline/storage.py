"""Any pyarrow filesystem URI (local path, s3://...): atomic writes, JSON, listing."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import uuid
from dataclasses import dataclass
from typing import Any

import pyarrow.fs as pafs


def absolute(uri: str | None) -> str | None:
    """A local path made absolute by the driver before it reaches Ray's workers, which run in other directories
    (a joined cluster's, or wherever a reused local Ray was started); URIs and None unchanged."""
    return uri if uri is None or "://" in uri else os.path.abspath(uri)


@dataclass(frozen=True)
class Store:
    """A directory on some filesystem; paths below it are relative POSIX strings."""

    uri: str

    @property
    def fs_root(self) -> tuple[pafs.FileSystem, str]:
        if "://" not in self.uri:
            return pafs.LocalFileSystem(), os.path.abspath(self.uri)
        return pafs.FileSystem.from_uri(self.uri)

    def path(self, rel: str = "") -> str:
        root = self.fs_root[1].rstrip("/")
        return f"{root}/{rel}" if rel else root

    def readable(self, rels: list[str]) -> tuple[list[str], pafs.FileSystem]:
        """(paths, filesystem) for Ray Data / pyarrow readers: credentials and endpoint travel in the filesystem."""
        fs, _ = self.fs_root
        return [self.path(r) for r in rels], fs

    def exists(self, rel: str) -> bool:
        fs, _ = self.fs_root
        return fs.get_file_info(self.path(rel)).type != pafs.FileType.NotFound

    def read_bytes(self, rel: str) -> bytes:
        fs, _ = self.fs_root
        with fs.open_input_stream(self.path(rel)) as f:
            return f.read()

    def read_json(self, rel: str) -> Any:
        """The parsed file; a one-line ValueError naming it if it is not JSON (a file cut short, or not ours)."""
        try:
            return json.loads(self.read_bytes(rel))
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise ValueError(f"{self.path(rel)} is not valid JSON (cut short, or not written by this project): {e}") from None

    def write_atomic(self, rel: str, data: bytes) -> dict[str, Any]:
        """Write to a temp name then rename: readers never see half a file. Returns bytes + sha256."""
        fs, _ = self.fs_root
        final = self.path(rel)
        fs.create_dir(final.rsplit("/", 1)[0], recursive=True)
        tmp = f"{final}.tmp-{uuid.uuid4().hex[:8]}"
        with fs.open_output_stream(tmp) as f:
            f.write(data)
        fs.move(tmp, final)
        return {"path": rel, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}

    def write_json(self, rel: str, doc: Any) -> dict[str, Any]:
        from pipeline.redact import redact_doc

        return self.write_atomic(rel, (json.dumps(redact_doc(doc), indent=2, sort_keys=True) + "\n").encode())

    def append_text(self, rel: str, line: str) -> None:
        """Append-only log; object stores cannot append, so there the file is rewritten."""
        old = self.read_bytes(rel) if self.exists(rel) else b""
        self.write_atomic(rel, old + line.rstrip("\n").encode() + b"\n")

    def list(self, rel: str) -> list[str]:
        fs, _ = self.fs_root
        sel = pafs.FileSelector(self.path(rel), allow_not_found=True)
        return sorted(i.base_name for i in fs.get_file_info(sel) if i.type == pafs.FileType.File)

    def tree(self) -> list[str]:
        """Every file below the root, as relative paths (empty if the root does not exist)."""
        fs, _ = self.fs_root
        root = self.path().rstrip("/") + "/"
        sel = pafs.FileSelector(self.path(), recursive=True, allow_not_found=True)
        return sorted(i.path[len(root):] for i in fs.get_file_info(sel) if i.type != pafs.FileType.Directory)

    def delete_files(self, rels: list[str]) -> None:
        """Remove these files, then any of their folders left empty (object stores have none to remove)."""
        fs, _ = self.fs_root
        for rel in rels:
            fs.delete_file(self.path(rel))
        for d in sorted({r.rsplit("/", 1)[0] for r in rels if "/" in r}, reverse=True):
            if not fs.get_file_info(pafs.FileSelector(self.path(d), allow_not_found=True)):
                with contextlib.suppress(OSError):
                    fs.delete_dir(self.path(d))

    def check_writable(self) -> None:
        """Fail before any work if the output cannot be written (one-line error). Leaves nothing behind: the
        directories the probe had to create are removed again, so a command that fails later leaves none."""
        probe = f".write-probe-{uuid.uuid4().hex[:8]}"
        created = self._missing_local_dirs()
        try:
            self.write_atomic(probe, b"")
            self.fs_root[0].delete_file(self.path(probe))
        except OSError as e:
            raise ValueError(f"output {self.uri} is not writable: {str(e).splitlines()[0]}") from None
        finally:
            for d in created:  # deepest first
                with contextlib.suppress(OSError):
                    os.rmdir(d)

    def _missing_local_dirs(self) -> list[str]:
        """The local directories from the root upward that do not exist yet (object stores have none)."""
        if "://" in self.uri:
            return []
        missing, d = [], self.path()
        while not os.path.lexists(d) and d != os.path.dirname(d):
            missing.append(d)
            d = os.path.dirname(d)
        return missing
