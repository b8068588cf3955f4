"""One progress line per long phase (tqdm): updated in place on a terminal; off a terminal (CI, `| tee`, a log
file) one compact line when the phase starts, every `every_s` seconds, and when it ends."""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

from tqdm import tqdm


class Progress:
    """`with Progress(total, "train", "step") as p: p.update(1, loss="0.10")`; postfix values are shown as given."""

    def __init__(self, total: int, desc: str, unit: str = "it", every_s: float = 30.0, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.total, self.desc, self.unit, self.every_s = total, desc, unit, every_s
        self.n, self.postfix, self.t0, self.last = 0, "", time.monotonic(), None
        self.bar = tqdm(total=total, desc=desc, unit=unit, file=self.stream, dynamic_ncols=True, disable=not self.tty)
        if not self.tty:
            self.update(0)  # the phase has started: say so before its first unit is done

    def update(self, n: int = 1, **postfix: Any) -> None:
        self.n += n
        if postfix:
            self.postfix = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in postfix.items())
        if self.tty:
            self.bar.set_postfix_str(self.postfix, refresh=False)
            self.bar.update(n)
            return
        now = time.monotonic()
        if self.last is None or now - self.last >= self.every_s or self.n >= self.total:
            self.last = now
            self.stream.write(self.line(now - self.t0) + "\n")
            self.stream.flush()

    def line(self, elapsed: float) -> str:
        return tqdm.format_meter(self.n, self.total, elapsed, prefix=self.desc, unit=self.unit, postfix=self.postfix or None, ncols=0)

    def close(self) -> None:
        self.bar.close()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
