"""A dependency-free progress bar on stderr (a line per 10% when stderr is not a terminal)."""

from __future__ import annotations

import sys
import time


class Progress:
    def __init__(self, total: int, label: str = "", enabled: bool = True, stream=None):
        self.total, self.done, self.label = total, 0, label
        self.stream = stream or sys.stderr
        self.enabled = enabled and total > 0
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.start = time.monotonic()
        self._last_decile = -1

    def advance(self, what: str = "") -> None:
        self.done += 1
        if not self.enabled:
            return
        elapsed = time.monotonic() - self.start
        eta = elapsed / self.done * (self.total - self.done)
        frac = self.done / self.total
        if self.tty:
            bar = "#" * int(30 * frac) + "-" * (30 - int(30 * frac))
            self.stream.write(
                f"\r{self.label} [{bar}] {self.done}/{self.total} blocks, "
                f"{elapsed:5.0f}s elapsed, ~{eta:4.0f}s left  {what[:30]:<30}"
            )
            if self.done == self.total:
                self.stream.write("\n")
        elif int(frac * 10) > self._last_decile:
            self._last_decile = int(frac * 10)
            self.stream.write(
                f"{self.label} {self.done}/{self.total} blocks ({frac:.0%}), {elapsed:.0f}s\n"
            )
        self.stream.flush()
