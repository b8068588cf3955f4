"""Peak resident memory of this process and all its descendants (the driver + local Ray), sampled with psutil."""

from __future__ import annotations

import os
import threading

import psutil


def _tree(root: int) -> set[int]:
    """`root` and every process below it."""
    return {root} | {p.pid for p in psutil.Process(root).children(recursive=True)}


def _rss_pss(pid: int) -> tuple[int, int]:
    """(RSS, PSS) bytes of one process; PSS splits each shared page (the object store's mmap) among its users."""
    try:
        mem = psutil.Process(pid).memory_full_info()
    except psutil.Error:
        return 0, 0
    return mem.rss, mem.pss


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
