"""Exports beside the PDF, for a paper and a notebook (docs/design.md "Reports").

``OUT/export/`` holds:

* ``verdicts.csv`` and ``verdicts.tex`` — per claim: paper, status (the bottom line), rows,
  grid rows inside / outside its conditions, verdict counts, slack range;
* ``verdicts.parquet`` — every verdict row, tidy: the grid point's parameters as columns;
* ``claims/<claim>.csv`` and ``claims/<claim>.tex`` — a claim's summary table (its verdicts
  aggregated over the grid, per simulation, statistic and test);
* ``configurations.csv`` — every config of the run with its parameters, blocks and time;
* ``figures/<simulation>.<figure>.pdf`` — every figure of the report, and ``figures.csv``: each
  file with its simulation, title and the claims its simulation checks;
* ``figures/<claim>.pdf`` — per claim, a page per figure of the simulations that check it.

LaTeX tables use booktabs (``\\toprule``, ``\\midrule``, ``\\bottomrule``); every cell is
escaped by :func:`latex_escape`.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd

from theorycheck.verdicts import VerdictRow

__all__ = ["latex_escape", "latex_table", "tidy_verdicts", "write_frame"]

_LATEX = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "<": r"\textless{}",
    ">": r"\textgreater{}",
    "|": r"\textbar{}",
    "−": "-",
    "–": "--",
    "∞": r"$\infty$",
}


def latex_escape(value) -> str:
    """``value`` as LaTeX text that prints its characters (``& % $ # _ { } ~ ^ \\ < > |``)."""
    return "".join(_LATEX.get(ch, ch) for ch in str(value))


def _cell(v) -> str:
    if isinstance(v, float):
        if math.isnan(v):
            return ""
        return latex_escape(f"{v:.4g}")
    return latex_escape(v)


def latex_table(frame: pd.DataFrame) -> str:
    """A booktabs tabular of ``frame`` (numeric columns right-aligned)."""
    align = "".join("r" if pd.api.types.is_numeric_dtype(frame[c]) else "l" for c in frame.columns)
    lines = [
        "% theorycheck export; needs \\usepackage{booktabs}",
        f"\\begin{{tabular}}{{{align}}}",
        "\\toprule",
        " & ".join(latex_escape(c) for c in frame.columns) + " \\\\",
        "\\midrule",
    ]
    for row in frame.itertuples(index=False):
        lines.append(" & ".join(_cell(v) for v in row) + " \\\\")
    lines += ["\\bottomrule", "\\end{tabular}", ""]
    return "\n".join(lines)


def write_frame(frame: pd.DataFrame, stem: Path) -> None:
    """``stem``.csv and ``stem``.tex of ``frame``."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    # Not with_suffix: a claim id has dots of its own (toy.lemma_1).
    frame.to_csv(stem.parent / f"{stem.name}.csv", index=False)
    (stem.parent / f"{stem.name}.tex").write_text(latex_table(frame), encoding="utf-8")


def tidy_verdicts(verdicts: pd.DataFrame) -> pd.DataFrame:
    """Every verdict row with its grid point's parameters as columns (``param_<name>``; lists
    as JSON text), the parameters' JSON kept in ``parameters``."""
    dicts = []
    for text in verdicts["parameters"]:
        try:
            d = json.loads(text)
        except (TypeError, ValueError):
            d = {}
        dicts.append(d if isinstance(d, dict) else {})
    names = list(dict.fromkeys(k for d in dicts for k in d))
    cols = {}
    for k in names:
        values = [d.get(k) for d in dicts]
        if any(isinstance(v, list | dict) for v in values):
            values = [None if v is None else json.dumps(v) for v in values]
        elif any(isinstance(v, str) for v in values):
            values = [None if v is None else str(v) for v in values]
        cols[f"param_{k}"] = values
    # The verdict fields only: parameter columns a run may have added are rebuilt here.
    keep = [c for c in verdicts.columns if c in VerdictRow.__dataclass_fields__]
    return pd.concat(
        [verdicts[keep].reset_index(drop=True), pd.DataFrame(cols, index=range(len(dicts)))],
        axis=1,
    )
