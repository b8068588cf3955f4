"""Reading and writing NVlabs network pickles without ever running code from the file.

NVlabs pickles reduce every network through `torch_utils.persistence._reconstruct_persistent_obj(meta)`,
which exec()s the source code stored in the file. Here that name resolves to a function that keeps only
`meta["class_name"]` and `meta["state"]` as plain data; every other global outside a short allowlist
(containers, tensor/storage rebuilders, numpy scalars) is refused before it can be called.
"""

from __future__ import annotations

import codecs
import functools
import pickle
import sys
import types
import warnings
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import torch

from models.weights import CheckpointError, py3_global, torch_load

PERSISTENCE_VERSION = 6  # torch_utils.persistence._version in stylegan2-ada-pytorch and stylegan3


class EasyDict(dict):
    """Stand-in for dnnlib.util.EasyDict: a plain dict (attribute access is not needed here)."""


class Persistent:
    """One NVlabs persistent object as data: its class name and its nn.Module __dict__ (`state`)."""

    def __init__(self, class_name: str, state: dict[str, Any], module_src: str = "") -> None:
        self.class_name, self.state, self.module_src = class_name, state, module_src

    def __repr__(self) -> str:
        return f"Persistent({self.class_name})"

    def __reduce__(self) -> tuple:
        # Pickles exactly as NVlabs' persistent_class.__reduce__ does; the name resolves only inside nvlabs_names().
        meta = dict(type="class", version=PERSISTENCE_VERSION, module_src=self.module_src,
                    class_name=self.class_name, state=self.state)
        return _reconstruct_stub, (meta,)


def _reconstruct_persistent(meta: Any) -> Persistent:
    """Our `_reconstruct_persistent_obj`: keep class name and state, never look at module_src."""
    if not isinstance(meta, dict) or meta.get("type") != "class" or not isinstance(meta.get("state"), dict):
        raise CheckpointError("malformed persistent object in NVlabs pickle (expected type='class' with a state dict)")
    return Persistent(str(meta.get("class_name")), meta["state"])


def _reconstruct_stub(meta: Any) -> None:
    raise RuntimeError("write-only stand-in for torch_utils.persistence._reconstruct_persistent_obj")


_reconstruct_stub.__module__ = "torch_utils.persistence"
_reconstruct_stub.__qualname__ = _reconstruct_stub.__name__ = "_reconstruct_persistent_obj"


def _storage_from_bytes(data: bytes, source: str = "an NVlabs pickle") -> Any:
    """torch.storage._load_from_bytes, but through torch_load: a global in the storage's own pickles is refused by name."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # TypedStorage deprecation notice
        return torch_load(f"a storage inside {source}", "NVlabs pickle", data=data)


def _numpy_global(name: str) -> Any:
    core = getattr(np, "_core", None) or np.core  # numpy 2 renamed numpy.core to numpy._core
    return getattr(core.multiarray, name)


_ALLOWED: dict[tuple[str, str], Any] = {
    ("collections", "OrderedDict"): OrderedDict,
    ("builtins", "set"): set, ("builtins", "frozenset"): frozenset,
    ("_codecs", "encode"): codecs.encode,  # protocol-2 pickles store bytes as encode(str, 'latin1')
    ("torch._utils", "_rebuild_tensor_v2"): torch._utils._rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): torch._utils._rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): torch._utils._rebuild_parameter_with_state,
    ("torch.storage", "_load_from_bytes"): _storage_from_bytes,
    ("numpy", "dtype"): np.dtype, ("numpy", "ndarray"): np.ndarray,
    ("numpy.core.multiarray", "scalar"): _numpy_global("scalar"),
    ("numpy._core.multiarray", "scalar"): _numpy_global("scalar"),
    ("numpy.core.multiarray", "_reconstruct"): _numpy_global("_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"): _numpy_global("_reconstruct"),
    ("dnnlib.util", "EasyDict"): EasyDict, ("dnnlib", "EasyDict"): EasyDict,
    ("torch_utils.persistence", "_reconstruct_persistent_obj"): _reconstruct_persistent,
}


class RestrictedUnpickler(pickle.Unpickler):
    """Resolves only the allowlisted globals; anything else is a CheckpointError before it can run."""

    def __init__(self, file: BinaryIO, source: str) -> None:
        super().__init__(file)
        self.source = source

    def find_class(self, module: str, name: str) -> Any:
        module, name = py3_global(module, name)  # as the default find_class would import it, and named so
        found = _ALLOWED.get((module, name))
        if found is None:
            raise CheckpointError(f"refusing to load {module}.{name} from {self.source}: "
                                  "NVlabs pickles may only contain tensors and plain data")
        return functools.partial(_storage_from_bytes, source=self.source) if found is _storage_from_bytes else found

    def persistent_load(self, pid: Any) -> Any:
        raise CheckpointError(f"refusing to load a persistent id from {self.source}: NVlabs pickles hold none, "
                              "only tensors and plain data")


def load_restricted(path: Path) -> Any:
    """Unpickle a file with RestrictedUnpickler; unreadable or truncated files are one-line CheckpointErrors."""
    try:
        with open(path, "rb") as f:
            return RestrictedUnpickler(f, str(path)).load()
    except CheckpointError:
        raise
    except (EOFError, pickle.UnpicklingError) as e:  # a cut or corrupt file
        raise CheckpointError(f"cannot read pickle {path} (truncated or corrupt?): {_first_line(e)}") from None
    except Exception as e:  # an allowed global called with arguments it rejects
        raise CheckpointError(f"cannot read pickle {path}: {_first_line(e)}") from None


def _first_line(e: Exception) -> str:
    return (str(e).splitlines() or [""])[0] or type(e).__name__


def flatten(obj: Persistent, prefix: str = "") -> dict[str, torch.Tensor]:
    """Parameters and buffers of a persistent module tree as one state dict with dotted keys."""
    out: dict[str, torch.Tensor] = {}
    for group in ("_parameters", "_buffers"):
        for key, value in (obj.state.get(group) or {}).items():
            if isinstance(value, torch.Tensor):
                out[prefix + key] = value.detach()
    for key, child in (obj.state.get("_modules") or {}).items():
        if isinstance(child, Persistent):
            out.update(flatten(child, f"{prefix}{key}."))
        elif child is not None:
            raise CheckpointError(f"module {prefix}{key} is a {type(child).__name__}, not an NVlabs network")
    return out


def child(obj: Persistent, dotted: str) -> Persistent:
    """The sub-module at a dotted path, or a one-line CheckpointError naming the missing part."""
    for part in dotted.split("."):
        nxt = (obj.state.get("_modules") or {}).get(part)
        if not isinstance(nxt, Persistent):
            raise CheckpointError(f"NVlabs network has no sub-module {dotted!r} (missing {part!r})")
        obj = nxt
    return obj


@contextmanager
def nvlabs_names() -> Iterator[None]:
    """Register stand-in `torch_utils.persistence` and `dnnlib.util` modules in sys.modules while pickling,
    so objects pickle under NVlabs' global names; the previous entries are restored afterwards."""
    persistence = types.ModuleType("torch_utils.persistence")
    persistence._reconstruct_persistent_obj = _reconstruct_stub
    util = types.ModuleType("dnnlib.util")
    util.EasyDict = EasyDict
    fakes = {"torch_utils": types.ModuleType("torch_utils"), "torch_utils.persistence": persistence,
             "dnnlib": types.ModuleType("dnnlib"), "dnnlib.util": util}
    saved = {name: sys.modules.get(name) for name in fakes}
    old_module = EasyDict.__module__
    EasyDict.__module__ = "dnnlib.util"
    sys.modules.update(fakes)
    try:
        yield
    finally:
        EasyDict.__module__ = old_module
        for name, previous in saved.items():
            if previous is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = previous


def dump_nvlabs(data: dict[str, Any], path: Path) -> None:
    """Pickle a dict of Persistent trees (protocol 4, as NVlabs' training loop writes)."""
    with nvlabs_names(), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # TypedStorage deprecation notice
        with open(path, "wb") as f:
            pickle.dump(data, f, protocol=4)
