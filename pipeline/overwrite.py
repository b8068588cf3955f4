"""`--overwrite`: an earlier output is removed only after the new run's inputs checked out, only the files this
project wrote there (pipeline/names.py written_by_a_run), and only from a folder an earlier run of the same verb
made; never the working directory, a folder above it, the home directory or a filesystem root."""

from __future__ import annotations

from pathlib import Path

from pipeline import names
from pipeline.manifest import FORMATS
from pipeline.storage import Store

# a manifest's format says which verb made it, where the config that says so is gone
MADE_BY = {fmt: verb for verb, fmt in FORMATS.items()}


def refuse_protected(uri: str) -> None:
    """A local output that is the working directory, one of its parents, the home directory or a root."""
    if "://" in uri:
        return
    p, cwd = Path(uri).resolve(), Path.cwd().resolve()
    if p == cwd or p in cwd.parents or p == Path.home().resolve() or p == Path(p.anchor):
        what = "the working directory" if p == cwd else "a folder that holds the working directory" if p in cwd.parents else "the home directory or a filesystem root"
        raise ValueError(f"--overwrite refused: --out {uri!r} is {what}; nothing was deleted (give the run's own folder)")


def made_by(store: Store) -> str | None:
    """Which verb's run wrote this folder: its config's kind, else its manifest's format; None if neither is there."""
    if store.exists(names.CONFIG):
        return _field(store, names.CONFIG, "kind")
    if store.exists(names.MANIFEST):
        return MADE_BY.get(_field(store, names.MANIFEST, "format"))
    return None


def _field(store: Store, rel: str, key: str) -> str | None:
    doc = store.read_json(rel)
    return doc.get(key) if isinstance(doc, dict) else None


def owned_files(store: Store, kind: str) -> list[str]:
    """The files --overwrite would remove for a `kind` run; a one-line error, before any work, where the folder is
    not an earlier `kind` run's (its user's files are never ours to delete)."""
    refuse_protected(store.uri)
    files = store.tree()
    if not files:
        return []
    made = made_by(store)
    if made is None and all(names.written_by_a_run(f) or f == names.RAY_LOG for f in files):
        made = kind  # a run that stopped before its config was written: nothing but its own files
    if made != kind:
        held = f"the output of `{made}`" if made else f"files this project did not write (no {names.CONFIG} or {names.MANIFEST} of a run)"
        raise ValueError(f"--overwrite refused: {store.uri} holds {held}, not an earlier `{kind}` output; nothing was deleted")
    return [f for f in files if names.written_by_a_run(f)]


def clear_earlier(store: Store, kind: str) -> int:
    """Remove what an earlier `kind` run wrote at the store (checked again: the folder may have changed since);
    returns how many files went."""
    files = owned_files(store, kind)
    store.delete_files(files)
    return len(files)
