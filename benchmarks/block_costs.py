"""Write the reference block times the scheduler orders a fresh run by (theorycheck/costs.py).

    python benchmarks/block_costs.py RESULTS [RESULTS ...]

RESULTS are results directories of runs on an otherwise idle machine (the quick and the full
profile, one seed each): the median measured seconds of each (simulation, config) over their
stored blocks go to theorycheck/block_seconds.json. Rerun it when configs or their costs change;
a config missing from the table is estimated by its simulation's mean.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from theorycheck.costs import REFERENCE, measured_table


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("results", nargs="+", help="results directories")
    args = p.parse_args()
    table = measured_table(args.results)
    target = Path(__file__).resolve().parents[1] / "theorycheck" / REFERENCE
    target.write_text(json.dumps(table, indent=1, sort_keys=True) + "\n")
    n = sum(len(v) for v in table.values())
    print(f"{target}: {n} configs of {len(table)} simulations")


if __name__ == "__main__":
    main()
