"""The run's progress bar on stderr (tqdm), weighted by each block's estimated cost.

The bar advances by a block's estimated seconds, not by one block, so its ETA does not assume
equal blocks; the estimate of a block is its config's measured time in the store when one is
there (from any seed), else the mean measured time of the simulation's blocks, else the mean of
what is known (uniform when nothing is). The description names the block by its simulation and
parameters (``lazy-output m=1000 d=25``), never by a config hash, and the line fits the
terminal's width (tqdm's ``dynamic_ncols``). When stderr is not a terminal, a line is written
per tenth of the work.
"""

from __future__ import annotations

import sys
import time

from tqdm import tqdm

__all__ = ["Progress", "describe_config"]

#: Config fields shown in the progress line, in this order, when a config has them.
_SHOWN = ("d", "m", "C0", "activation", "scaling", "path")


def describe_config(sim_id: str, config: dict) -> str:
    """``sim_id`` and the config's most telling parameters, e.g. ``lazy-output m=100 d=4``."""
    parts = [f"{k}={config[k]:g}" if isinstance(config[k], float) else f"{k}={config[k]}"
             for k in _SHOWN if k in config and not isinstance(config[k], list | dict)]  # fmt: skip
    return " ".join([sim_id, *parts])


class Progress:
    """``total`` blocks of summed estimated cost ``weight``; :meth:`advance` per finished block."""

    def __init__(self, total: int, label: str = "", enabled: bool = True, stream=None, weight=None):
        self.total, self.done, self.label = total, 0, label
        self.stream = stream or sys.stderr
        self.enabled = enabled and total > 0
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.start = time.monotonic()
        self._last_decile = -1
        self._bar = None
        if self.enabled and self.tty:
            self._bar = tqdm(
                total=float(weight if weight is not None else total), desc=label,
                file=self.stream, dynamic_ncols=True, leave=True, unit="s",
                bar_format="{desc} {percentage:3.0f}%|{bar}| {postfix} [{elapsed}<{remaining}]",
            )  # fmt: skip
            self._bar.set_postfix_str(f"0/{total} blocks", refresh=True)

    def advance(self, what: str = "", weight: float = 1.0) -> None:
        self.done += 1
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.set_postfix_str(f"{self.done}/{self.total} blocks, {what}", refresh=False)
            self._bar.update(weight)
            if self.done == self.total:
                self._bar.close()
            return
        frac = self.done / self.total
        if int(frac * 10) > self._last_decile:
            self._last_decile = int(frac * 10)
            elapsed = time.monotonic() - self.start
            self.stream.write(
                f"{self.label} {self.done}/{self.total} blocks ({frac:.0%}), {elapsed:.0f}s\n"
            )
            self.stream.flush()
