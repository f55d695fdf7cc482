"""The report's tables, built from the stored verdict table (no recomputation).

Each function returns a :class:`theorycheck.reports.markup.Table` (plain strings, group rows,
which cells are bold or linked), typeset by :func:`theorycheck.reports.markup.render_table` and
exported as CSV and LaTeX by :mod:`theorycheck.reports.exports`.

* :func:`bottom_line_table` — page 1: per paper, one row per claim with its status (docs/theory.md,
  "The bottom line"), linked to the claim's section.
* :func:`claim_table` — a claim's verdicts aggregated over the grid: one row per statistic and
  test, with the grid points inside / outside the claim's conditions, the verdict counts, the
  slack range and the smallest Holm-adjusted p-value.
* :func:`implied_constants_table` — the implied constants of a simulation's rate claims.
* :func:`detail_table` — the appendix: one row per grid point, grouped by claim, statistic and
  test, the varying parameters first and sorted, so a reader finds a grid point by its values.
* :func:`verdicts_summary` — per claim: its status and verdict counts (``verdicts.csv``).
* :func:`conditions_table`, :func:`provenance_table`, :func:`timing_table`,
  :func:`configurations_table` — where the conditions hold and what ran where.
"""

from __future__ import annotations

import json
import math
from collections import Counter

import numpy as np
import pandas as pd

from theorycheck.numbers import sci
from theorycheck.reports.conditions import condition_counts
from theorycheck.reports.data import ReportData
from theorycheck.reports.markup import Group, Table, shipped

__all__ = [
    "PASSING",
    "REFUTING",
    "SHORT_STATUS",
    "VERDICT_ORDER",
    "bottom_line_table",
    "claim_table",
    "conditions_table",
    "configurations_frame",
    "configurations_table",
    "counts_sentence",
    "detail_table",
    "fmt_num",
    "fmt_p",
    "fmt_seconds",
    "implied_constants_table",
    "provenance_table",
    "timing_table",
    "verdict_counts",
    "verdicts_summary",
]

VERDICT_ORDER = (
    "HOLDS", "VIOLATED", "INCONCLUSIVE", "AGREES", "DISAGREES", "CONVERGES", "DOES NOT CONVERGE",
    "DESCRIPTIVE",
)  # fmt: skip
REFUTING = ("VIOLATED", "DISAGREES", "DOES NOT CONVERGE")
PASSING = ("HOLDS", "AGREES", "CONVERGES")
_DASH = "–"
#: The bottom line's statuses (:data:`theorycheck.bottom_line.STATUSES`) as the summary table
#: shows them; the table's note says what each means.
SHORT_STATUS = {
    "refuted inside its conditions": "refuted inside",
    "does not converge": "does not converge",
    "fails only outside its conditions": "fails only outside",
    "holds at every decided point inside its conditions": "holds inside",
    "converges": "converges",
    "undecided": "undecided",
}
#: Keys a rate or trend verdict adds to a grid point's parameters (how it was fitted).
_FIT_KEYS = ("grid", "rate_kind", "rate_tolerance")


def fmt_num(v) -> str:
    """A number for a table: general format with 4 significant digits (2265, 0.5, 1.139e4,
    1e8, 2.5e−4), exact zero '0', '' for NaN. Every numeric column uses it, so a column never
    holds '10000' beside '1e+08'."""
    if v is None:
        return ""
    try:
        v = float(v)
    except (TypeError, ValueError):
        return str(v)
    if math.isnan(v):
        return ""
    if math.isinf(v):
        return "∞" if v > 0 else "−∞"
    return sci(v)


def fmt_p(p) -> str:
    """A p-value: three decimals, scientific below 0.001."""
    p = float(p)
    if math.isnan(p):
        return ""
    if p == 0:
        return "0"
    return f"{p:.3f}" if p >= 1e-3 else sci(p, 2)


def verdict_counts(verdicts: pd.Series) -> dict[str, int]:
    """Counts of each verdict word (every word of :data:`VERDICT_ORDER`, zeros included)."""
    counts = verdicts.value_counts().to_dict()
    out = {v: int(counts.get(v, 0)) for v in VERDICT_ORDER}
    for other in sorted(set(counts) - set(VERDICT_ORDER)):
        out[str(other)] = int(counts[other])
    return out


def counts_sentence(verdicts: pd.Series) -> str:
    """'24 HOLDS · 0 VIOLATED · ...' over the words that occur, refuting words always shown."""
    counts = verdict_counts(verdicts)
    shown = [v for v, c in counts.items() if c or v in REFUTING or v == "INCONCLUSIVE"]
    return " · ".join(f"{counts[v]} {v}" for v in shown)


def _counts_cell(verdicts) -> str:
    """'12 AGREES, 1 INCONCLUSIVE': the words that occur, in :data:`VERDICT_ORDER`."""
    seen = Counter(str(v) for v in verdicts)
    words = [*VERDICT_ORDER, *sorted(set(seen) - set(VERDICT_ORDER))]
    return ", ".join(f"{seen[w]} {w}" for w in words if seen[w])


def _records(verdicts) -> list[dict]:
    """Verdict rows as dicts (a frame's rows are read once: per-group frame operations cost
    seconds over a run's thousand rows)."""
    return verdicts.to_dict("records") if isinstance(verdicts, pd.DataFrame) else verdicts


def _grouped(records: list[dict], keys: tuple[str, ...]) -> dict[tuple, list[dict]]:
    """Rows grouped by ``keys``, groups in the order of their first row."""
    out: dict[tuple, list[dict]] = {}
    for r in records:
        out.setdefault(tuple(r[k] for k in keys), []).append(r)
    return out


def _finite(values) -> list[float]:
    out = []
    for v in values:
        try:
            f = float(v)
        except (TypeError, ValueError):
            continue
        if math.isfinite(f):
            out.append(f)
    return out


def _params(s: str) -> dict:
    try:
        out = json.loads(s)
    except (TypeError, ValueError):
        return {"parameters": s}
    return out if isinstance(out, dict) else {"parameters": out}


def _fmt_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float) and math.isfinite(v):
        return sci(v, 6)  # a parameter as set: up to 6 digits, 1e8 style like every number
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_fmt_value(x) for x in v) + "]"
    return str(v)


def _grid_label(params: dict) -> str:
    """The grid point of a row that varies nothing in its group: the grid a fit or trend row
    spans ("d = 49 to 400, 4 points"), else "(single point)"."""
    grid = params.get("grid")
    if isinstance(grid, list) and len(grid) > 1:
        over = params.get("over", "x")
        return f"{over} = {_fmt_value(grid[0])} to {_fmt_value(grid[-1])}, {len(grid)} points"
    return "(single point)"


def _sort_key(v):
    if isinstance(v, bool):
        return (1, 0.0, str(v))
    if isinstance(v, int | float):
        return (0, float(v), "")
    return (1, 0.0, json.dumps(v, sort_keys=True, default=str))


def _slack_range(slack) -> str:
    s = _finite(slack)
    if not s:
        return _DASH
    lo, hi = min(s), max(s)
    return f"{lo:.2f}" if lo == hi else f"{lo:.2f}–{hi:.2f}"


def _conditions_cell(conditions) -> str:
    """'3 in, 2 out, 1 n/a': grid rows by whether the claim's conditions hold there."""
    c = Counter(str(x) for x in conditions)
    n_a = sum(n for k, n in c.items() if k not in ("inside", "outside"))
    parts = [(c["inside"], "in"), (c["outside"], "out"), (n_a, "n/a")]
    return ", ".join(f"{n} {w}" for n, w in parts if n)


def bottom_line_table(line: pd.DataFrame, anchors: dict[str, str]) -> Table:
    """The bottom line (:func:`theorycheck.bottom_line.bottom_line`): per paper, one row per
    claim with its status (findings in bold) and where / why; each claim linked to
    ``anchors[claim]`` (the label of its section) when it has one."""
    t = Table(["claim", "status", "where, how"], align="lll", widths=["auto", "auto", "1fr"])
    t.ids = {0}
    for paper, sub in line.groupby("paper", sort=False):
        t.rows.append(Group(str(paper)))
        for r in sub.itertuples():
            i = len(t.rows)
            t.rows.append([str(r.claim), SHORT_STATUS.get(r.status, str(r.status)),
                           shipped(r.detail)])  # fmt: skip
            if str(r.status).startswith(("refuted", "does not")):
                t.bold |= {(i, 0), (i, 1)}
            if str(r.claim) in anchors:
                t.links[(i, 0)] = anchors[str(r.claim)]
    return t


def claim_table(verdicts) -> Table:
    """A claim's verdicts aggregated over the grid: one row per (simulation, statistic, test)
    with its grid rows by conditions, the verdict counts, slack range and smallest p (Holm)."""
    t = Table(
        ["statistic", "test", "rows", "conditions", "verdicts", "slack", "min p (Holm)"],
        align="llrllrr",
        widths=["2fr", "1fr", "auto", "auto", "1.4fr", "auto", "auto"],
    )
    groups = _grouped(_records(verdicts), ("simulation", "statistic", "test"))
    sims = list(dict.fromkeys(k[0] for k in groups))
    for sim in sims:
        if len(sims) > 1:
            t.rows.append(Group(f"simulation {sim}"))
        for (g_sim, statistic, test), rows in groups.items():
            if g_sim != sim:
                continue
            i = len(t.rows)
            p = [x for x in (float(r["p_adjusted"]) for r in rows) if not math.isnan(x)]
            t.rows.append(
                [
                    shipped(statistic),
                    str(test),
                    str(len(rows)),
                    _conditions_cell(r["conditions"] for r in rows),
                    _counts_cell(r["verdict"] for r in rows),
                    _slack_range(r["slack"] for r in rows),
                    fmt_p(min(p)) if p else "",
                ]
            )
            if any(r["verdict"] in REFUTING for r in rows):
                t.bold.add((i, 4))
    return t


def claim_export(verdicts: pd.DataFrame) -> pd.DataFrame:
    """The rows of :func:`claim_table` as a tidy frame (the per-claim CSV and LaTeX export)."""
    out = []
    for (sim, statistic, test), sub in verdicts.groupby(
        ["simulation", "statistic", "test"], sort=False
    ):
        counts = verdict_counts(sub["verdict"])
        c = sub["conditions"].astype(str)
        slack = sub["slack"].astype(float)
        slack = slack[slack.notna() & (slack.abs() != math.inf)]
        out.append(
            {
                "simulation": sim,
                "statistic": shipped(statistic),
                "test": test,
                "rows": len(sub),
                "inside": int((c == "inside").sum()),
                "outside": int((c == "outside").sum()),
                **{v.lower().replace(" ", "_"): n for v, n in counts.items() if v in VERDICT_ORDER},
                "slack_min": slack.min() if len(slack) else math.nan,
                "slack_max": slack.max() if len(slack) else math.nan,
                "min_p_holm": sub["p_adjusted"].astype(float).min(),
            }
        )
    return pd.DataFrame(out)


def implied_constants_table(verdicts: pd.DataFrame) -> Table:
    """The implied constants (rows of kind 'implied constant'), one row per (claim, constant):
    the settings it was estimated at, the range over them of the constant at the grid's largest
    value and of its log-log slope over the large end, and the trend verdicts (a free constant
    must stay bounded there)."""
    rows = verdicts[verdicts["kind"] == "implied constant"] if "kind" in verdicts else verdicts[:0]
    t = Table(
        ["claim", "implied constant", "settings", "at the largest grid value", "slope",
         "verdicts"],
        align="llrrrl",
        widths=["auto", "2fr", "auto", "auto", "auto", "1fr"],
    )  # fmt: skip
    t.ids = {0}
    for (claim, statistic), sub in rows.groupby(["claim", "statistic"], sort=False):
        constant = sub["constant"] if "constant" in sub else sub["estimate"][:0]
        i = len(t.rows)
        slope = _span(sub["estimate"], signed=True)
        t.rows.append([str(claim), shipped(statistic), str(len(sub)), _span(constant), slope,
                       _counts_cell(sub["verdict"])])  # fmt: skip
        if sub["verdict"].isin(REFUTING).any():
            t.bold.add((i, 5))
    return t


def _span(values: pd.Series, signed: bool = False) -> str:
    """'a to b' over the finite values ('a' when they agree, '' when there are none)."""
    v = values.astype(float)
    v = v[np.isfinite(v)]
    if v.empty:
        return ""
    lo, hi = (fmt_num(x) if not signed or x < 0 else "+" + fmt_num(x) for x in (v.min(), v.max()))
    return lo if lo == hi else f"{lo} to {hi}"


def detail_table(verdicts) -> Table:
    """The appendix: one row per grid point, grouped by (claim, statistic, test), the varying
    parameters sorted by value; the group row names the fixed parameters and the group's
    distinct notes follow its title."""
    t = Table(
        ["grid point", "n", "estimate", "bound or exact", "slack", "p (Holm)", "cond.", "verdict"],
        align="lrrrrrll",
        widths=["1fr", "auto", "auto", "auto", "auto", "auto", "auto", "auto"],
    )
    groups = _grouped(_records(verdicts), ("claim", "statistic", "test"))
    for (claim, statistic, test), rows in groups.items():
        dicts = [_params(r["parameters"]) for r in rows]
        names = list(dict.fromkeys(k for d in dicts for k in d if k not in _FIT_KEYS))
        varying, fixed = [], {}
        for k in names:
            values = {json.dumps(d.get(k), sort_keys=True, default=str) for d in dicts}
            if len(values) > 1:
                varying.append(k)
            else:
                fixed[k] = dicts[0].get(k)
        fixed_text = ", ".join(f"{k} = {_fmt_value(v)}" for k, v in fixed.items())
        title = f"{claim} · {shipped(statistic)} · {test}"
        notes = list(dict.fromkeys(str(r["note"]) for r in rows if r["note"]))
        note = (f"fixed: {fixed_text}. " if fixed_text else "") + " | ".join(
            shipped(n) for n in notes[:3]
        )
        if len(notes) > 3:
            note += f" (+{len(notes) - 3} more notes)"
        t.rows.append(Group(title, note))
        order = sorted(
            range(len(rows)), key=lambda i: tuple(_sort_key(dicts[i].get(k)) for k in varying)
        )
        for i in order:
            r = rows[i]
            k = len(t.rows)
            slack = float(r["slack"])
            t.rows.append(
                [
                    ", ".join(f"{n} = {_fmt_value(dicts[i].get(n))}" for n in varying)
                    or _grid_label(_params(r["parameters"])),
                    str(int(r["n"])) if float(r["n"]) >= 0 else "",
                    fmt_num(r["estimate"]),
                    fmt_num(r["bound"]),
                    "" if math.isnan(slack) else fmt_num(slack),
                    fmt_p(r["p_adjusted"]),
                    {"inside": "in", "outside": "out"}.get(str(r["conditions"]), "n/a"),
                    str(r["verdict"]),
                ]
            )
            if r["verdict"] in REFUTING:
                t.bold.add((k, 7))
    return t


def verdicts_summary(data: ReportData, line: pd.DataFrame) -> pd.DataFrame:
    """Per claim: paper, status (the bottom line), rows, verdict counts and slack range."""
    status = line.set_index("claim") if len(line) else pd.DataFrame(columns=["paper", "status"])
    out = []
    v = data.verdicts
    for claim, sub in v.groupby("claim", sort=True):
        counts = verdict_counts(sub["verdict"])
        slack = sub["slack"].astype(float)
        slack = slack[slack.notna() & (slack.abs() != math.inf)]
        c = sub["conditions"].astype(str)
        out.append(
            {
                "claim": claim,
                "paper": status["paper"].get(claim, "") if len(status) else "",
                "status": status["status"].get(claim, "") if len(status) else "",
                "rows": len(sub),
                "inside": int((c == "inside").sum()),
                "outside": int((c == "outside").sum()),
                **{w.lower().replace(" ", "_"): n for w, n in counts.items() if w in VERDICT_ORDER},
                "slack_min": slack.min() if len(slack) else math.nan,
                "slack_max": slack.max() if len(slack) else math.nan,
            }
        )
    return pd.DataFrame(out)


def conditions_table(data: ReportData) -> Table:
    """Per claim of the run: the statement's conditions and at how many grid points they hold,
    fail or were not evaluated (the verdict rows' ``conditions``), and where they fail."""
    t = Table(
        ["claim", "conditions of the statement", "inside", "outside", "n/a", "where they fail"],
        align="llrrrl",
        widths=["auto", "1.3fr", "auto", "auto", "auto", "1fr"],
    )
    t.ids = {0}
    v = data.verdicts
    claims = list(dict.fromkeys([*(c for s in data.simulations for c in s.claims), *v["claim"]]))
    for claim in claims:
        text = data.claims.get(claim) if data.claims is not None else None
        sub = v[v["claim"] == claim]
        c = condition_counts(sub, text)
        t.rows.append(
            [
                claim,
                shipped(text.conditions) if text is not None else "",
                str(c.hold) if c.hold else _DASH,
                str(c.fail) if c.fail else _DASH,
                str(c.na) if c.na else _DASH,
                c.fail_at,
            ]
        )
    return t


def provenance_table(data: ReportData) -> Table:
    """The run's provenance (key, value): versions, revision, machine, profile, seed."""
    m = data.meta
    items: list[tuple[str, str]] = [
        ("theorycheck version", str(m.get("theorycheck", "unknown"))),
        ("git revision", str(m.get("git_revision") or "not recorded (not run from a checkout)")),
        ("python", str(m.get("python", "unknown"))),
    ]
    deps = sorted((m.get("dependencies") or {}).items())
    if deps:
        items.append(("python packages", ", ".join(f"{k} {v}" for k, v in deps)))
    inv = m.get("invocation") or {}
    if inv:
        items.append(("run time", _invocation_text(inv)))
    items += [
        ("machine", str(m.get("machine", "unknown"))),
        ("numba threading layer", str(m.get("numba_threading_layer", "unknown"))),
        ("numba threads", str(m.get("numba_threads", "unknown"))),
        ("profile", data.profile),
        ("seed", data.seed),
        ("alpha (family-wise, Holm)", str(m.get("alpha", "unknown"))),
        ("Holm family size", str(m.get("family_size", "not recorded"))),
        ("simulations", ", ".join(s.id for s in data.simulations)),
        ("verdict rows", str(len(data.verdicts))),
    ]
    return Table(["run", "value"], [[k, v] for k, v in items], align="ll",
                 widths=["auto", "1fr"])  # fmt: skip


def _invocation_text(inv: dict) -> str:
    """The last `theorycheck run` call: wall time, blocks computed and reused, backend."""
    text = (
        f"{fmt_seconds(inv.get('seconds'))} wall for the last `theorycheck run` "
        f"({inv.get('computed_blocks', '?')} blocks computed, {inv.get('reused_blocks', '?')} "
        f"reused from the store; {inv.get('backend', 'backend not recorded')})"
    )
    sims = inv.get("simulations")
    if sims:
        text += f"; it ran {len(sims)} simulation" + ("s" if len(sims) != 1 else "")
    return text


def fmt_seconds(v) -> str:
    """A duration: seconds below 2 minutes, else minutes (and hours)."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "not recorded"
    v = float(v)
    if v < 10:
        return f"{v:.2f} s"
    if v < 120:
        return f"{v:.1f} s"
    if v < 7200:
        return f"{v / 60:.1f} min"
    return f"{v / 3600:.2f} h"


def _config_seconds(configs: list[dict]) -> float | None:
    times = [c.get("seconds") for c in configs]
    return None if not times or any(t is None for t in times) else float(sum(times))


def timing_table(data: ReportData) -> Table:
    """Per simulation: configs, blocks, the summed measurement time of its stored blocks (each
    block timed where it ran, whichever run computed it), its share, and the evaluation time."""
    per_sim = [(s, s.meta.get("configs") or []) for s in data.simulations]
    known = [t for _, cfgs in per_sim if (t := _config_seconds(cfgs)) is not None]
    total = sum(known)
    t = Table(["simulation", "configs", "blocks", "block time", "share", "evaluation"],
              align="lrrrrr")  # fmt: skip
    t.ids = {0}
    for sim, cfgs in per_sim:
        secs = _config_seconds(cfgs)
        share = f"{secs / total:.0%}" if secs is not None and total > 0 else ""
        t.rows.append(
            [
                sim.id,
                str(len(cfgs)) if cfgs else "",
                str(sum(int(c.get("blocks", 0)) for c in cfgs)) if cfgs else "",
                fmt_seconds(secs),
                share,
                fmt_seconds(sim.meta.get("evaluate_seconds")),
            ]
        )
    # Simulations whose blocks were stored without times are left out of the total, and said so.
    label = "all" if len(known) == len(per_sim) else f"{len(known)} of {len(per_sim)} recorded"
    t.bold |= {(len(t.rows), 0), (len(t.rows), 3)}
    t.rows.append([label, "", "", fmt_seconds(total), "", ""])
    return t


def configurations_frame(data: ReportData) -> pd.DataFrame:
    """Every config of the run, tidy: simulation, config id, parameters (text), blocks and the
    summed measurement time of its blocks in seconds (``export/configurations.csv``)."""
    out = []
    for sim in data.simulations:
        for c in sim.meta.get("configs") or []:
            params = ", ".join(f"{k} = {_fmt_value(v)}" for k, v in c["config"].items())
            out.append({"simulation": sim.id, "config_id": str(c["id"]), "parameters": params,
                        "blocks": c.get("blocks"), "seconds": c.get("seconds")})  # fmt: skip
    return pd.DataFrame(out, columns=["simulation", "config_id", "parameters", "blocks", "seconds"])


def configurations_table(data: ReportData) -> Table:
    """Every config of the run: config id (the store's directory name), its parameters, blocks
    and the summed measurement time of its blocks, grouped by simulation."""
    t = Table(["config id", "parameters", "blocks", "time"], align="llrr",
              widths=["auto", "1fr", "auto", "auto"])  # fmt: skip
    for sim in data.simulations:
        cfgs = sim.meta.get("configs") or []
        if not cfgs:
            continue
        t.rows.append(Group(sim.id))
        for c in cfgs:
            params = ", ".join(f"{k} = {_fmt_value(v)}" for k, v in c["config"].items())
            t.rows.append([str(c["id"]), params, str(c.get("blocks", "")),
                           fmt_seconds(c.get("seconds"))])  # fmt: skip
    return t
