"""Peak resident memory of this process and all its descendants (the driver + local Ray), sampled from /proc."""

from __future__ import annotations

import os
import threading
from pathlib import Path


def _tree(root: int) -> set[int]:
    """`root` and every process below it."""
    parents: dict[int, int] = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            parents[int(d.name)] = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
    tree, frontier = {root}, [root]
    while frontier:
        p = frontier.pop()
        kids = [c for c, pp in parents.items() if pp == p and c not in tree]
        tree.update(kids)
        frontier.extend(kids)
    return tree


def _rss_pss(pid: int) -> tuple[int, int]:
    """(RSS, PSS) bytes of one process; PSS splits each shared page (the object store's mmap) among its users."""
    try:
        rows = Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]
    except OSError:
        return 0, 0
    kb = {r.split(":")[0]: int(r.split()[1]) for r in rows if r.endswith("kB")}
    return kb.get("Rss", 0) * 1024, kb.get("Pss", 0) * 1024


def _tree_rss(root: int) -> tuple[int, int]:
    """Summed (RSS, PSS) of `root` and its descendants."""
    both = [_rss_pss(p) for p in _tree(root)]
    return sum(r for r, _ in both), sum(p for _, p in both)


class PeakMemory:
    """Context manager: `.peak_bytes` is the largest summed RSS seen every `interval` seconds, `.peak_pss_bytes`
    the same for PSS (RSS counts the object store's shared pages once per process that touched them)."""

    def __init__(self, interval: float = 0.5) -> None:
        self.interval, self.peak_bytes, self.peak_pss_bytes, self._stop = interval, 0, 0, threading.Event()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            rss, pss = _tree_rss(os.getpid())
            self.peak_bytes, self.peak_pss_bytes = max(self.peak_bytes, rss), max(self.peak_pss_bytes, pss)

    def __enter__(self) -> PeakMemory:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
