"""Where the claims' conditions hold, from the stored results only (docs/design.md "Reports").

Two sources, neither recomputed here:

* the ``conditions`` column of the verdict table: at each grid point, whether the claim's
  conditions held ("inside" / "outside"), evaluated by the runner with the claim's
  ``Bound.conditions`` when it stored the verdicts ("unknown": the statement has no conditions
  beyond its parameter domains, or the row's parameters do not fix them, e.g. a rate fitted over d);
* the summary and verdicts of the ``width-window`` simulation: the exact edges of Wang et al.'s
  width window against d, the dimensions Bubeck et al. allow at each width, the window at the
  dimensions of Wang et al.'s Fig. 2 and the smallest d with a non-empty window.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from theorycheck.numbers import sci
from theorycheck.reports.data import ClaimText, ReportData, SimulationResult

__all__ = [
    "NO_CONDITIONS",
    "WIDTH_WINDOW",
    "ConditionCounts",
    "ConditionPanel",
    "Curve",
    "GridPoints",
    "bubeck_panel",
    "condition_counts",
    "conditions_sentence",
    "fig2_rows",
    "grid_points",
    "wang_panel",
    "width_window",
    "window_facts",
]

#: The simulation that stores the width windows.
WIDTH_WINDOW = "width-window"
#: The conditions text of a statement without conditions beyond its parameter domains.
NO_CONDITIONS = "none beyond the parameter domains"
#: Keys a rate verdict adds to the grid point's parameters (not parameters of the statement).
_RATE_KEYS = ("rate_kind", "rate_tolerance", "over", "grid")
_MAX_VALUES = 6  # values listed per parameter where conditions fail


@dataclass(frozen=True)
class ConditionCounts:
    """Grid points (distinct parameter sets) where a claim's conditions hold, fail, or were not
    evaluated; ``fail_at`` lists the parameter values of the failing points."""

    hold: int
    fail: int
    na: int
    fail_at: str

    @property
    def evaluated(self) -> int:
        return self.hold + self.fail


def _params(text) -> dict:
    try:
        out = json.loads(text)
    except (TypeError, ValueError):
        return {}
    return out if isinstance(out, dict) else {}


def _value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float) and math.isfinite(v):
        return sci(v, 6)
    return str(v)


def _sort_key(v):
    return (0, float(v), "") if isinstance(v, int | float) else (1, 0.0, str(v))


def _names(claim: ClaimText | None) -> list[str] | None:
    """The statement's parameter names, as the claims table lists them ("d, m, C0, gamma")."""
    if claim is None or not claim.parameters:
        return None
    return [n.strip() for n in claim.parameters.split(",") if n.strip()]


def _points(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per grid point (simulation, parameters), first stored order."""
    if rows.empty:
        return rows
    return rows.drop_duplicates(["simulation", "parameters"], keep="first")


def condition_counts(rows: pd.DataFrame, claim: ClaimText | None = None) -> ConditionCounts:
    """Count the grid points of ``rows`` (verdict rows of one claim) by their ``conditions``."""
    points = _points(rows)
    status = points["conditions"].astype(str) if len(points) else pd.Series(dtype=str)
    failing = [_params(p) for p in points.loc[status == "outside", "parameters"]]
    names = _names(claim)
    if names is None:
        names = list(dict.fromkeys(k for d in failing for k in d if k not in _RATE_KEYS))
    parts = []
    for name in names:
        values = sorted({json.dumps(d[name]) for d in failing if name in d})
        if not values:
            continue
        decoded = sorted((json.loads(v) for v in values), key=_sort_key)
        shown = ", ".join(_value(v) for v in decoded[:_MAX_VALUES])
        parts.append(f"{name} = {shown}{', …' if len(decoded) > _MAX_VALUES else ''}")
    return ConditionCounts(
        hold=int((status == "inside").sum()),
        fail=int((status == "outside").sum()),
        na=int((~status.isin(["inside", "outside"])).sum()),
        fail_at="; ".join(parts),
    )


def conditions_sentence(
    rows: pd.DataFrame, claim: ClaimText | None = None, recorded: bool = True
) -> str:
    """'Conditions hold at 0 of 12 grid points (fail at: d = 25, 100, 400; m = 1000).'"""
    if not recorded:
        return (
            "Whether the grid satisfies the conditions was not recorded with these results "
            "(they predate it); a new `theorycheck run` records it."
        )
    c = condition_counts(rows, claim)
    if c.evaluated + c.na == 0:
        return "No verdict of this claim is stored here, so there is no grid point to check."
    if c.evaluated == 0:
        if claim is not None and claim.conditions.lower().startswith(NO_CONDITIONS):
            return "No conditions beyond the parameter domains."
        return (
            f"Conditions not evaluated at the {c.na} grid point{'s' if c.na != 1 else ''}: "
            "the stored parameters do not fix every parameter of the statement (e.g. a rate "
            "fitted over a grid)."
        )
    text = (
        f"Conditions hold at {c.hold} of {c.evaluated} grid point{'s' if c.evaluated != 1 else ''}"
    )
    if c.fail:
        text += f" (fail at: {c.fail_at})" if c.fail_at else f" (fail at {c.fail})"
    text += "."
    if c.na:
        text += (
            f" Not evaluated at {c.na} further grid point{'s' if c.na != 1 else ''} whose "
            "parameters do not fix them (e.g. a rate fitted over a grid)."
        )
    return text


# -- the width-window simulation's stored windows ----------------------------------------------
def width_window(data: ReportData) -> SimulationResult | None:
    """The width-window simulation's stored results, if this run has a summary of it."""
    for sim in data.simulations:
        if sim.id == WIDTH_WINDOW and not sim.summary.empty:
            return sim
    return None


@dataclass(frozen=True)
class Curve:
    """A stored curve (x, y), drawn as a line."""

    label: str
    x: np.ndarray
    y: np.ndarray
    linestyle: str = "-"


@dataclass(frozen=True)
class GridPoints:
    """Grid points of the run for one claim, where its conditions hold (or fail)."""

    claim: str
    holds: bool
    x: np.ndarray
    y: np.ndarray


@dataclass(frozen=True)
class ConditionPanel:
    """One figure of the conditions page: stored curves, the region where the conditions hold
    (between ``shade_low`` and ``shade_high``; ``None`` high: up to the top of the axes), a
    threshold and the run's grid points."""

    title: str
    xlabel: str
    ylabel: str
    curves: list[Curve]
    shade_label: str = ""
    shade_x: np.ndarray | None = None
    shade_low: np.ndarray | None = None
    shade_high: np.ndarray | None = None
    vline: tuple[float, str] | None = None
    points: list[GridPoints] = field(default_factory=list)
    empty_note: str = ""  # said when no grid point of the run falls under this panel


def _series(summary: pd.DataFrame, figure: str) -> dict[str, pd.DataFrame]:
    rows = summary[summary["figure"] == figure]
    out = {}
    for name in dict.fromkeys(rows["series"].astype(str)):
        sub = rows[rows["series"].astype(str) == name].sort_values("x", kind="stable")
        out[name] = sub
    return out


def _pick(series: dict[str, pd.DataFrame], *words: str) -> tuple[str, pd.DataFrame] | None:
    for name, sub in series.items():
        if all(w.lower() in name.lower() for w in words):
            return name, sub
    return None


def grid_points(verdicts: pd.DataFrame, prefix: str, x: str, y: str) -> list[GridPoints]:
    """The run's grid points (parameters ``x``, ``y``) of the claims whose id starts with
    ``prefix``, grouped by claim and by whether the claim's conditions hold there."""
    out = []
    rows = verdicts[
        verdicts["claim"].astype(str).str.startswith(prefix)
        & verdicts["conditions"].isin(["inside", "outside"])
    ]
    for (claim, status), sub in rows.groupby(["claim", "conditions"], sort=True):
        pts = set()
        for text in sub["parameters"]:
            p = _params(text)
            try:
                xv, yv = float(p[x]), float(p[y])
            except (KeyError, TypeError, ValueError):
                continue
            if math.isfinite(xv) and math.isfinite(yv) and xv > 0 and yv > 0:
                pts.add((xv, yv))
        if pts:
            xy = np.array(sorted(pts))
            out.append(GridPoints(str(claim), status == "inside", xy[:, 0], xy[:, 1]))
    return out


def window_threshold(sim: SimulationResult, claim: str = "wang2022.theorem_3_1") -> float | None:
    """The smallest d with a non-empty window, as the width-window verdicts stored it."""
    v = sim.verdicts
    rows = v[(v["claim"] == claim) & v["statistic"].astype(str).str.startswith("smallest d")]
    return float(rows["estimate"].iloc[0]) if len(rows) else None


def wang_panel(data: ReportData, sim: SimulationResult) -> ConditionPanel | None:
    """Wang et al.'s width window against d, with the run's grid points of Wang et al.'s claims."""
    series = _series(sim.summary, "window")
    low, high = _pick(series, "lower"), _pick(series, "upper")
    if low is None or high is None:
        return None
    x = low[1]["x"].to_numpy(float)
    lo = low[1]["estimate"].to_numpy(float)
    hi = high[1].set_index("x")["estimate"].reindex(x).to_numpy(float)
    d_star = window_threshold(sim)
    return ConditionPanel(
        title="Wang et al. (2022), Theorem 3.1: the width window against d",
        xlabel="input dimension d",
        ylabel="width m",
        curves=[Curve(low[0], x, lo, "-"), Curve(high[0], x, hi, "--")],
        shade_label="widths inside the window",
        shade_x=x,
        shade_low=lo,
        shade_high=hi,
        vline=(d_star, f"window opens at d = {d_star:,.0f}") if d_star else None,
        points=grid_points(data.verdicts, "wang2022.", "d", "m"),
        empty_note="No grid point of this run tests a claim of Wang et al. whose conditions "
        "could be evaluated there.",
    )


def bubeck_panel(data: ReportData, sim: SimulationResult) -> ConditionPanel | None:
    """The dimensions Bubeck et al.'s theorem allows at each width k, with the run's points."""
    series = _series(sim.summary, "dimensions")
    found = _pick(series, "bubeck")
    if found is None:
        return None
    name, sub = found
    x = sub["x"].to_numpy(float)
    y = sub["estimate"].to_numpy(float)
    return ConditionPanel(
        title="Bubeck et al. (2021): the dimensions allowed at width k",
        xlabel="width k (m)",
        ylabel="input dimension d",
        curves=[Curve(name, x, y, "-")],
        shade_label="d ≥ C2 log(k/γ) log(1/γ), for k ≥ C1 log^3(1/γ)",
        shade_x=x,
        shade_low=y,
        shade_high=None,
        points=grid_points(data.verdicts, "bubeck2021.", "m", "d"),
        empty_note="No grid point of this run tests a claim of Bubeck et al. whose conditions "
        "could be evaluated there.",
    )


def window_facts(sim: SimulationResult) -> list[str]:
    """The width-window verdicts' notes (smallest d with a window, Fig. 2 dimensions)."""
    out = []
    for r in sim.verdicts.itertuples(index=False):
        if r.note:
            out.append(f"{r.claim}: {r.note}.")
    return out


def fig2_rows(sim: SimulationResult) -> tuple[list[str], list[list[str]]] | None:
    """The stored window at the dimensions of Wang et al.'s Fig. 2 (summary figure
    ``fig2-table``): column headers and one row of cells per d."""
    rows = sim.summary[sim.summary["figure"] == "fig2-table"]
    if rows.empty:
        return None
    series = list(dict.fromkeys(rows["series"].astype(str)))
    table = rows.pivot_table(index="x", columns="series", values="estimate", aggfunc="first")
    headers = ["d"]
    for s in series:
        headers.append(s.replace(" (1 = yes)", ""))
    body = []
    for d, rec in table.iterrows():
        cells = [sci(float(d))]
        for s in series:
            v = float(rec[s])
            if s.endswith("(1 = yes)"):
                cells.append("yes" if v == 1 else "no")
            elif math.isinf(v):
                cells.append("∞")
            else:
                cells.append(sci(v))
        body.append(cells)
    return headers, body
