"""Locating, hashing and safely opening weight files: shared by every loader."""

from __future__ import annotations

import _compat_pickle
import copyreg
import hashlib
import importlib.util
import io
import os
import pickletools
import re
import shutil
import warnings
import zipfile
from pathlib import Path
from typing import Any, BinaryIO

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


def torch_load(path: Path | str, what: str, safe: tuple[type, ...] = (), data: bytes | None = None) -> Any:
    """torch.load with weights only (tensors and plain data; `safe` adds classes) of the file at `path`, or of `data`
    (then `path` only names it). Every global its pickles import is checked against torch's allowlist first, so a
    refused one is named in a one-line CheckpointError whatever opcode imports it; any other failure is torch's
    reason in one line, without its advice to turn the check off."""
    import torch

    with torch.serialization.safe_globals(list(safe)):
        allowed = _torch_allowed()
        with _open(path, data) as f:
            refused = next((g for g in torch_file_globals(f) if g not in allowed), None)
        if refused:
            raise CheckpointError(f"refusing to load {refused} from {path}: {what} files may only contain tensors and plain data")
        try:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", "Detected pickle protocol")  # a paragraph before the error proper
                return torch.load(io.BytesIO(data) if data is not None else path, map_location="cpu", weights_only=True)
        except Exception as e:
            raise CheckpointError(f"cannot read {what} {path}: {_torch_reason(e)}") from None


def _open(path: Path | str, data: bytes | None) -> BinaryIO:
    return io.BytesIO(data) if data is not None else open(path, "rb")


def _torch_allowed() -> set[str]:
    """The globals torch's weights-only unpickler resolves now: its own allowlist and those added by safe_globals."""
    from torch import _weights_only_unpickler as wo  # the private home of the list torch.load itself consults

    return set(wo._get_allowed_globals()) | set(wo._get_user_allowed_globals())


def _torch_reason(e: Exception) -> str:
    """torch's error as one plain line: no terminal escapes, no paragraph on weights_only, no allowlisting advice."""
    text = re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", str(e))
    lines = [ln.strip().removeprefix("WeightsUnpickler error:").strip() for ln in text.splitlines()]
    keep = [ln for ln in lines if ln and "weights_only" not in ln and not ln.startswith(("Weights only load failed", "Check the documentation"))]
    return keep[0].split(" Please use `torch.serialization", 1)[0] if keep else type(e).__name__


_PUSH_STRING = {"STRING", "BINSTRING", "SHORT_BINSTRING", "UNICODE", "BINUNICODE", "SHORT_BINUNICODE", "BINUNICODE8"}
_MEMO_GET = {"GET", "BINGET", "LONG_BINGET"}
_MEMO_PUT = {"PUT", "BINPUT", "LONG_BINPUT", "MEMOIZE"}
COMPUTED = "a global whose name is computed while loading"  # a STACK_GLOBAL this scan cannot name: refused


def pickle_globals(f: BinaryIO) -> list[str]:
    """Dotted names of the globals one pickle imports (GLOBAL, INST, STACK_GLOBAL, EXT*), read from its opcodes with
    pickletools, so nothing in it runs; the file is left just past its STOP (ValueError where the bytes stop parsing
    as opcodes). A STACK_GLOBAL takes the two stack items that the pushes right before it left there, so names are
    followed through string pushes and the memo; one built any other way is COMPUTED."""
    found: list[str] = []
    memo: dict[int, str | None] = {}
    pushed: list[str | None] = []  # items pushed since the last opcode that did anything else to the stack
    for op, arg, _ in pickletools.genops(f):
        if op.name in _PUSH_STRING or op.name in _MEMO_GET:
            pushed.append(arg if op.name in _PUSH_STRING else memo.get(arg))
        elif op.name in _MEMO_PUT:  # stores the top of the stack, changes nothing on it
            memo[len(memo) if op.name == "MEMOIZE" else arg] = pushed[-1] if pushed else None
        elif op.name != "FRAME":
            if op.name in ("GLOBAL", "INST"):
                found.append(".".join(py3_global(*arg.split(" ", 1))))
            elif op.name == "STACK_GLOBAL":
                found.append(f"{pushed[-2]}.{pushed[-1]}" if len(pushed) > 1 and None not in pushed[-2:] else COMPUTED)
            elif op.name.startswith("EXT"):  # copyreg's extension registry names a global by number
                known = copyreg._inverted_registry.get(arg)
                found.append(".".join(known) if known else f"extension code {arg}")
            pushed = []
    return found


def py3_global(module: str, name: str) -> tuple[str, str]:
    """A Python 2 name as Python 3's and torch's unpicklers resolve it (__builtin__ eval -> builtins eval)."""
    module, name = _compat_pickle.NAME_MAPPING.get((module, name), (module, name))
    return _compat_pickle.IMPORT_MAPPING.get(module, module), name


def torch_file_globals(f: BinaryIO) -> list[str]:
    """The globals of every pickle torch.load would read: each *.pkl member of a zip-format file; the five pickles
    that open a legacy file (magic number, protocol, system info, the object, its storage keys). A pickle that does
    not parse whole is skipped: torch then fails on it with its own reason."""
    found: list[str] = []
    if f.read(4) == b"PK\x03\x04":
        try:
            with zipfile.ZipFile(f) as z:
                for info in z.infolist():  # by entry, not by name: a name stored twice is scanned twice
                    if info.filename.endswith(".pkl"):
                        with z.open(info) as member:
                            found += whole_pickle_globals(member) or []
        except Exception:  # zipfile gives up (a bad directory, an odd compression): torch.load fails with its reason
            pass
        return found
    f.seek(0)
    for _ in range(5):
        names = whole_pickle_globals(f)
        if names is None:
            break
        found += names
    return found


def whole_pickle_globals(f: BinaryIO) -> list[str] | None:
    """pickle_globals of one whole pickle (pickletools.dis checks each opcode finds the stack items it takes and
    one object is left at STOP), else None: names are never read from bytes that only look like opcodes."""
    start = f.tell()
    try:
        pickletools.dis(f, out=io.StringIO())
        f.seek(start)
        return pickle_globals(f)
    except ValueError:
        return None


def check_tensors(tensors: dict[str, Any], source: str | Path) -> None:
    """Every entry a dense floating-point tensor holding only finite values (a BatchNorm's integer step counter
    aside), else a one-line CheckpointError naming it: a NaN weight renders black images and an integer or bool one
    wrong images, without any error."""
    for name, t in tensors.items():
        problem = _tensor_problem(name, t)
        if problem:
            raise CheckpointError(f"{source}: tensor {name!r} {problem}")


def not_dense(t: Any) -> str | None:
    """What a tensor is when it is not a plain dense one with data (sparse_coo, nested, quantized, meta), else None."""
    import torch

    if t.layout != torch.strided or t.is_nested or t.is_quantized or t.is_meta:
        return "nested" if t.is_nested else "quantized" if t.is_quantized else "meta" if t.is_meta else str(t.layout).removeprefix("torch.")
    return None


def _tensor_problem(name: object, t: Any) -> str | None:
    import torch

    if not isinstance(t, torch.Tensor):
        return f"is a {type(t).__name__}, not a tensor"
    kind = not_dense(t)
    if kind:
        return f"is a {kind} tensor; only dense tensors with data are read"
    if not t.is_floating_point() and not (str(name).endswith("num_batches_tracked") and t.dtype == torch.int64):
        return f"has dtype {str(t.dtype).removeprefix('torch.')}; weights must be floating point"
    if t.is_floating_point() and not bool(torch.isfinite(t).all()):
        return "holds NaN or Inf"
    return None
