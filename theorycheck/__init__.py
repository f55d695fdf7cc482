"""theorycheck: Monte Carlo verification of adversarial-robustness theorems for two-layer
networks (Bubeck et al. 2021; Wang et al. 2022; Dohmatob & Bietti 2022).

The library in three calls::

    import theorycheck
    res = theorycheck.run(["lazy-sign-flips"], out="results")    # or theorycheck.load("results")
    res.verdicts, res.observables("lazy-sign-flips"), res.report()

What is checked: docs/theory.md. How the product is built: docs/design.md.
"""

from __future__ import annotations

import _signal  # the C module: `signal` itself takes a noticeable time to import
import os
import sys


def _interrupted_at_start_up(signum, frame) -> None:  # pragma: no cover - timing dependent
    os.write(2, b"theorycheck: interrupted; stored blocks are kept and a rerun resumes\n")
    os._exit(130)


# The console script `theorycheck` imports this package first: from here until the CLI installs
# its own handler (theorycheck.interrupts), a Ctrl-C or SIGTERM ends the start-up with the CLI's
# one line and exit code 130 instead of a KeyboardInterrupt traceback. Only for the console
# script (a notebook importing theorycheck keeps its handlers) and only where the signal was not
# ignored (a background job keeps ignoring it).
if os.path.basename(sys.argv[0] if sys.argv else "") == "theorycheck":
    for _sig in (_signal.SIGINT, _signal.SIGTERM):
        if _signal.getsignal(_sig) in (_signal.default_int_handler, _signal.SIG_DFL):
            _signal.signal(_sig, _interrupted_at_start_up)

from pathlib import Path  # noqa: E402
from typing import TYPE_CHECKING  # noqa: E402

# Installed, bounds/, simulations/ and reports/ live inside this package (setuptools
# package-dir). Imported straight from a source checkout (a notebook or `python -c` started at
# the repository's root, where ./theorycheck shadows the installed package), they sit beside
# it: the root then joins this package's search path so theorycheck.bounds is the checkout's.
_checkout = Path(__file__).resolve().parent.parent
if (
    not (Path(__file__).parent / "bounds").is_dir()
    and (_checkout / "bounds" / "__init__.py").is_file()
):
    __path__.append(str(_checkout))

if TYPE_CHECKING:
    from theorycheck.pipeline import run
    from theorycheck.results import Results, load

__all__ = ["Results", "__version__", "load", "run"]


def __getattr__(name: str):
    # Lazy: the CLI imports this package before it has installed its interrupt handler, so
    # nothing heavy (numpy, pandas, numba) may be imported here eagerly.
    if name == "run":
        from theorycheck.pipeline import run

        return run
    if name in ("load", "Results"):
        from theorycheck import results

        return getattr(results, name)
    if name == "__version__":
        from theorycheck.provenance import package_version

        return package_version()
    raise AttributeError(f"module 'theorycheck' has no attribute {name!r}")
