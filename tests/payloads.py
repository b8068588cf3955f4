"""Real malicious weight files: pickles that run code (`touch <marker>`) on a plain unpickler, in every layout the
loaders meet: torch zip and legacy `.pt`, protocol-4 and protocol-0 pickles, NVlabs `.pkl`."""

from __future__ import annotations

import copyreg
import functools
import io
import os
import pickle
import subprocess
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch


class Call:
    """Pickles as `func(*args)`; `func` may itself be a Call (a call whose result is called)."""

    def __init__(self, func: Any, *args: Any) -> None:
        self.func, self.args = func, args

    def __reduce__(self) -> tuple:
        return self.func, self.args

    def __call__(self, *args: Any) -> None:  # pickle only saves callables as a reduce's function
        raise RuntimeError("a payload stand-in: never called here")


def torch_save_bytes(obj: Any, **kwargs: Any) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf, **kwargs)
    return buf.getvalue()


# attack -> (the global a loader must name, the object whose unpickling touches `marker`)
ATTACKS: dict[str, tuple[str, Callable[[Path], Any]]] = {
    "popen": ("subprocess.Popen", lambda m: Call(subprocess.Popen, ["touch", str(m)])),
    "system": ("posix.system" if os.name == "posix" else "nt.system", lambda m: Call(os.system, f"touch {m}")),
    "eval": ("builtins.eval", lambda m: Call(eval, f"open({str(m)!r}, 'w').close()")),
    "exec": ("builtins.exec", lambda m: Call(exec, f"open({str(m)!r}, 'w').close()")),
    "getattr": ("builtins.getattr", lambda m: Call(Call(getattr, Call(__import__, "subprocess"), "Popen"), ["touch", str(m)])),
    "partial": ("functools.partial", lambda m: Call(Call(functools.partial, subprocess.Popen, ["touch", str(m)]))),
    "copyreg": ("copyreg._reconstructor", lambda m: Call(copyreg._reconstructor, subprocess.Popen, subprocess.Popen, ["touch", str(m)])),
    "from-bytes": ("torch.storage._load_from_bytes",
                   lambda m: Call(torch.storage._load_from_bytes,
                                  torch_save_bytes(Call(subprocess.Popen, ["touch", str(m)]), _use_new_zipfile_serialization=False))),
}


class _PidPickler(pickle.Pickler):
    """A pickler whose persistent id for `payload` is a tuple holding a call: the id runs it as it is rebuilt."""

    def __init__(self, f: io.BytesIO, payload: Any, protocol: int) -> None:
        super().__init__(f, protocol=protocol)
        self.payload = payload

    def persistent_id(self, obj: Any) -> Any:
        return ("storage", self.payload) if isinstance(obj, _Slot) else None


class _Slot:
    """Where a persistent id stands in the pickled object."""


def persistent_id_pickle(marker: Path, protocol: int = 2) -> bytes:
    buf = io.BytesIO()
    _PidPickler(buf, Call(subprocess.Popen, ["touch", str(marker)]), protocol).dump({"g_ema": _Slot()})
    return buf.getvalue()


def zip_with_pickle(path: Path, data_pkl: bytes) -> Path:
    """A torch zip-format file (from torch.save) whose data.pkl is `data_pkl`."""
    with zipfile.ZipFile(io.BytesIO(torch_save_bytes({}))) as src, zipfile.ZipFile(path, "w") as out:
        for info in src.infolist():
            out.writestr(info.filename, data_pkl if info.filename.endswith("/data.pkl") else src.read(info))
    return path


def inst_pickle(marker: Path) -> bytes:
    """Protocol 0, by hand: INST (`i`) calls subprocess.Popen(['touch', marker]) with the items since the mark."""
    return b"((Vtouch\nV" + str(marker).encode() + b"\nlisubprocess\nPopen\n."


def computed_global_pickle(marker: Path) -> bytes:
    """Protocol 4, by hand: STACK_GLOBAL on 'subprocess', 'Popen' with an item pushed and popped between them, so the
    names are not the two pushes right before it; then Popen(['touch', marker])."""
    def short(text: str) -> bytes:  # SHORT_BINUNICODE, then MEMOIZE
        return b"\x8c" + bytes([len(text.encode())]) + text.encode() + b"\x94"

    return b"\x80\x04" + short("subprocess") + b"N0" + short("Popen") + b"\x93](" + short("touch") + short(str(marker)) + b"e\x85R."


def _torch_file(attack: str, layout: str) -> Callable[[Path, Path], tuple[Path, str]]:
    def build(tmp: Path, marker: Path) -> tuple[Path, str]:
        name, make = ATTACKS[attack]
        path = tmp / f"{attack}-{layout}.pt"
        path.write_bytes(torch_save_bytes({"g_ema": {}, "x": make(marker)}, _use_new_zipfile_serialization=layout == "zip"))
        return path, name
    return build


def _popen_bytes(dump: Callable[[Any], bytes]) -> Callable[[Path, Path], tuple[Path, str]]:
    def build(tmp: Path, marker: Path) -> tuple[Path, str]:
        path = tmp / "popen.pt"
        path.write_bytes(dump(marker))
        return path, "subprocess.Popen"
    return build


def _zip(data_pkl: Callable[[Path], bytes], name: str) -> Callable[[Path, Path], tuple[Path, str]]:
    return lambda tmp, marker: (zip_with_pickle(tmp / "payload.pt", data_pkl(marker)), name)


def _popen(m: Path) -> Call:
    return ATTACKS["popen"][1](m)


# files a torch checkpoint or latents loader may be handed: kind -> build(tmp, marker) -> (path, the global it must name)
TORCH_PAYLOADS: dict[str, Callable[[Path, Path], tuple[Path, str]]] = {
    **{f"{a}-{layout}": _torch_file(a, layout) for a in ATTACKS for layout in ("zip", "legacy")},
    "popen-zip-protocol4": _popen_bytes(lambda m: torch_save_bytes({"x": _popen(m)}, pickle_protocol=4)),
    "popen-plain-protocol4": _popen_bytes(lambda m: pickle.dumps({"x": _popen(m)}, protocol=4)),
    "popen-plain-protocol0": _popen_bytes(lambda m: pickle.dumps({"x": _popen(m)}, protocol=0)),
    "popen-inst-protocol0": _popen_bytes(inst_pickle),
    "persistent-id-zip": _zip(persistent_id_pickle, "subprocess.Popen"),
    "computed-name-zip": _zip(computed_global_pickle, "a global whose name is computed while loading"),
    "extension-code-zip": _zip(lambda m: b"\x80\x02\x82\xf0)R.", "extension code 240"),  # EXT1 240, (), REDUCE
}


def _nvlabs_file(attack: str, protocol: int) -> Callable[[Path, Path], tuple[Path, str]]:
    def build(tmp: Path, marker: Path) -> tuple[Path, str]:
        name, make = ATTACKS[attack]
        path = tmp / f"{attack}-p{protocol}.pkl"
        path.write_bytes(pickle.dumps({"G_ema": make(marker)}, protocol=protocol))
        return path, "subprocess.Popen" if attack == "from-bytes" else name  # the call inside its storage's bytes
    return build


def _pkl(data: Callable[[Path], bytes], name: str) -> Callable[[Path, Path], tuple[Path, str]]:
    def build(tmp: Path, marker: Path) -> tuple[Path, str]:
        path = tmp / "payload.pkl"
        path.write_bytes(data(marker))
        return path, name
    return build


# files an NVlabs network-pickle loader may be handed: kind -> build(tmp, marker) -> (path, what it must name)
NVLABS_PAYLOADS: dict[str, Callable[[Path, Path], tuple[Path, str]]] = {
    **{f"{a}-protocol{p}": _nvlabs_file(a, p) for a in ATTACKS for p in (2, 4)},
    "popen-protocol0": _pkl(lambda m: pickle.dumps({"G_ema": _popen(m)}, protocol=0), "subprocess.Popen"),
    "popen-inst-protocol0": _pkl(inst_pickle, "subprocess.Popen"),
    "persistent-id-call": _pkl(lambda m: persistent_id_pickle(m, protocol=4), "subprocess.Popen"),
    # {"G_ema": persistent_load("x")}: no global at all, still refused by name
    "persistent-id": _pkl(lambda m: b"\x80\x04}\x94\x8c\x05G_ema\x94\x8c\x01x\x94Qs.", "a persistent id"),
}


def appeared(marker: Path, wait: float) -> bool:
    """Whether `marker` exists within `wait` seconds (a payload's subprocess touches it a moment after it starts)."""
    deadline = time.monotonic() + wait
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    return marker.exists()


def assert_one_clean_line(message: str) -> None:
    assert "\n" not in message and "\x1b" not in message and "weights_only" not in message, message
