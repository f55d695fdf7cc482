"""The benchmark harness (docs/design.md "Performance"; not a test): ``python benchmarks/bench.py``.

The timing code lives in :mod:`theorycheck.bench` so that ``theorycheck bench`` works from an
installed package; this script is the same command for a source checkout. Options: ``--repeats N``,
``--seed N``, ``--quick`` (small workload only), ``--no-walk``, ``--csv FILE``.
"""

from __future__ import annotations

import sys

from theorycheck.bench import main

if __name__ == "__main__":
    sys.exit(main())
