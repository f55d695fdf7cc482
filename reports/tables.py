"""The report's tables, built from the stored verdict table (no recomputation).

* :func:`summary_table` — title page: one row per (simulation, claim), verdict counts over the
  grid and the range of the slack.
* :func:`grid_table` — a simulation's section: one row per test at a grid point (compact
  columns), grouped by claim, statistic and test.
* :func:`full_table` — the appendix: the same rows with every stored column.
* :func:`provenance_tables` — the provenance page: versions, machine, run time.
* :func:`timing_table` — where the time went, per simulation (stored block times).
* :func:`configurations_table` — every config id with its parameters, blocks and time.
"""

from __future__ import annotations

import json
import math
from dataclasses import replace

import pandas as pd
from theorycheck.reports.conditions import condition_counts
from theorycheck.reports.data import ClaimText, ReportData
from theorycheck.reports.layout import Cell, Column, GroupRow, NoteRow, Table
from theorycheck.reports.style import GREY

__all__ = [
    "PASSING",
    "REFUTING",
    "VERDICT_ORDER",
    "bottom_line_table",
    "conditions_cell",
    "conditions_table",
    "configurations_table",
    "counts_sentence",
    "fmt_num",
    "fmt_p",
    "full_table",
    "grid_table",
    "most_telling",
    "provenance_tables",
    "summary_table",
    "timing_table",
    "verdict_cell",
    "verdict_counts",
]

VERDICT_ORDER = (
    "HOLDS", "VIOLATED", "INCONCLUSIVE", "AGREES", "DISAGREES", "CONVERGES", "DOES NOT CONVERGE",
    "DESCRIPTIVE",
)  # fmt: skip
REFUTING = ("VIOLATED", "DISAGREES", "DOES NOT CONVERGE")
PASSING = ("HOLDS", "AGREES", "CONVERGES")
_DASH = "–"


def fmt_num(v) -> str:
    """A number for a table: 4 significant digits, integers above 1000, '' for NaN."""
    if v is None:
        return ""
    try:
        v = float(v)
    except (TypeError, ValueError):
        return str(v)
    if math.isnan(v):
        return ""
    if math.isinf(v):
        return "∞" if v > 0 else "-∞"
    a = abs(v)
    if a == 0:
        return "0"
    if a >= 1e6 or a < 1e-3:
        return f"{v:.3g}"
    if a >= 1000:
        return f"{v:.0f}"
    return f"{v:.4g}"


def fmt_p(p) -> str:
    """A p-value: three decimals, scientific below 0.001."""
    p = float(p)
    if math.isnan(p):
        return ""
    if p == 0:
        return "0"
    return f"{p:.3f}" if p >= 1e-3 else f"{p:.1e}"


def verdict_cell(verdict: str) -> Cell:
    """A verdict: bold when it refutes the claim, italic when inconclusive."""
    if verdict in REFUTING:
        return Cell(verdict, weight="bold")
    if verdict == "INCONCLUSIVE":
        return Cell(verdict, style="italic")
    return Cell(verdict)


def conditions_cell(conditions: str) -> Cell:
    """Whether the claim's conditions hold at the grid point: inside, outside (italic), unknown
    (grey)."""
    text = str(conditions)
    if text == "outside":
        return Cell(text, style="italic")
    return Cell(text, color=GREY if text not in ("inside", "outside") else "black")


def _conditions_note(conditions: str) -> str:
    return f"conditions {conditions}" if conditions in ("inside", "outside") else ""


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


def _params(s: str) -> dict:
    try:
        out = json.loads(s)
    except (TypeError, ValueError):
        return {"parameters": s}
    return out if isinstance(out, dict) else {"parameters": out}


def _fmt_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return f"{v:g}" if math.isfinite(v) else str(v)
    return str(v)


def _groups(verdicts: pd.DataFrame) -> list[tuple[tuple[str, str, str], pd.DataFrame]]:
    """Rows grouped by (claim, statistic, test) in the order they were stored."""
    keys = list(zip(verdicts["claim"], verdicts["statistic"], verdicts["test"], strict=True))
    order = list(dict.fromkeys(keys))
    out = []
    for key in order:
        mask = [k == key for k in keys]
        out.append((key, verdicts[mask]))
    return out


def _split_params(rows: pd.DataFrame) -> tuple[list[str], dict]:
    """Parameter names that vary within ``rows`` and the fixed ones with their values."""
    dicts = [_params(s) for s in rows["parameters"]]
    names = list(dict.fromkeys(k for d in dicts for k in d))
    varying, fixed = [], {}
    for k in names:
        values = {json.dumps(d.get(k), sort_keys=True, default=str) for d in dicts}
        if len(values) > 1:
            varying.append(k)
        else:
            fixed[k] = dicts[0].get(k)
    return varying, fixed


def _group_title(key: tuple[str, str, str], rows: pd.DataFrame, fixed: dict) -> str:
    claim, statistic, test = key
    text = f"{claim} — {statistic} — {test} test"
    if fixed:
        text += " — fixed: " + ", ".join(f"{k} = {_fmt_value(v)}" for k, v in fixed.items())
    return text


def _point(parameters: str, varying: list[str]) -> str:
    d = _params(parameters)
    return ", ".join(f"{k} = {_fmt_value(d.get(k))}" for k in varying) or "(single point)"


def bottom_line_table(line: pd.DataFrame) -> Table:
    """The bottom line (:func:`theorycheck.bottom_line.bottom_line`): per paper, one row per
    claim with its status (refutations in bold) and where / why."""
    columns = [Column("claim"), Column("status", wrap=True), Column("where, how", wrap=True)]
    rows: list = []
    for paper, sub in line.groupby("paper", sort=False):
        rows.append(GroupRow(str(paper)))
        for r in sub.itertuples():
            bold = r.status.startswith(("refuted", "does not"))
            rows.append([Cell(r.claim), Cell(r.status, "bold" if bold else "normal"),
                         Cell(str(r.detail))])  # fmt: skip
    return Table(columns, rows)


def summary_table(data: ReportData) -> Table:
    """One row per (simulation, claim): verdict counts over the grid and the slack range."""
    columns = [Column("claim\n(paper)" if data.claims is not None else "claim", wrap=True)]
    # Only the verdicts that occur: eight columns of dashes squeeze the claim column unreadable.
    seen = set(data.verdicts["verdict"])
    order = [v for v in VERDICT_ORDER if v in seen]
    columns += [Column(v, align="right") for v in order]
    columns += [Column("slack\nmin", align="right"), Column("slack\nmax", align="right")]
    rows: list = []
    for sim in data.simulations:
        rows.append(GroupRow(f"{sim.title} ({sim.id})"))
        v = sim.verdicts
        claims = list(dict.fromkeys([*sim.claims, *v["claim"].tolist()]))
        for claim in claims:
            sub = v[v["claim"] == claim]
            citation = ""
            if data.claims is not None:
                citation = data.claims.get(claim, ClaimText(claim)).citation.split(";")[0].strip()
            row: list = [Cell(claim, note=citation)]
            counts = verdict_counts(sub["verdict"])
            for word in order:
                c = counts[word]
                if c == 0:
                    row.append(Cell(_DASH, color=GREY))
                else:
                    row.append(Cell(str(c), "bold" if word in REFUTING else "normal"))
            slack = sub["slack"].astype(float)
            slack = slack[slack.notna()]
            if len(slack):
                row += [Cell(f"{slack.min():.2f}"), Cell(f"{slack.max():.2f}")]
            else:
                row += [Cell(_DASH, color=GREY), Cell(_DASH, color=GREY)]
            rows.append(row)
    return Table(columns, rows)


def most_telling(verdicts: pd.DataFrame, max_rows: int) -> pd.DataFrame:
    """At most ``max_rows`` rows, in stored order, chosen to show where the claims are weakest.

    Each (claim, statistic, test) group keeps a share proportional to its size; within a group,
    refuting verdicts come first, then INCONCLUSIVE, then the smallest slack, then the smallest
    p-value.
    """
    if len(verdicts) <= max_rows:
        return verdicts
    rank = {v: i for i, v in enumerate((*REFUTING, "INCONCLUSIVE"))}
    keep: list[int] = []
    for _, sub in _groups(verdicts):
        quota = max(1, math.floor(max_rows * len(sub) / len(verdicts)))
        order = sorted(
            range(len(sub)),
            key=lambda i: (
                rank.get(sub["verdict"].iloc[i], len(rank)),
                _finite_or_inf(sub["slack"].iloc[i]),
                _finite_or_inf(sub["p_value"].iloc[i]),
                i,
            ),
        )
        keep.extend(sub.index[i] for i in order[:quota])
    return verdicts.loc[sorted(keep)]


def _finite_or_inf(v) -> float:
    v = float(v)
    return v if math.isfinite(v) else math.inf


def grid_table(verdicts: pd.DataFrame) -> Table:
    """A simulation's verdicts at each grid point: the compact columns of its section."""
    columns = [
        Column("grid point", wrap=True),
        Column("estimate", align="right"),
        Column("bound or\nexact value", align="right"),
        Column("slack", align="right"),
        Column("p (Holm)", align="right"),
        Column("conditions"),
        Column("verdict"),
    ]
    rows: list = []
    for key, sub in _groups(verdicts):
        varying, fixed = _split_params(sub)
        rows.append(GroupRow(_group_title(key, sub, fixed)))
        for r in sub.itertuples(index=False):
            rows.append(
                [
                    _point(r.parameters, varying),
                    fmt_num(r.estimate),
                    fmt_num(r.bound),
                    "" if math.isnan(r.slack) else f"{r.slack:.2f}",
                    fmt_p(r.p_adjusted),
                    conditions_cell(r.conditions),
                    verdict_cell(r.verdict),
                ]
            )
    return Table(columns, rows)


def full_table(verdicts: pd.DataFrame) -> Table:
    """Every stored column of a simulation's verdicts (the appendix, landscape pages); each
    verdict's note on a line of its own under its row."""
    columns = [
        Column("grid point", wrap=True),
        Column("n", align="right"),
        Column("estimate", align="right"),
        Column("CI low", align="right"),
        Column("CI high", align="right"),
        Column("bound or\nexact value", align="right"),
        Column("γ", align="right"),
        Column("slack", align="right"),
        Column("k", align="right"),
        Column("P(exceed)\nupper", align="right"),
        Column("p", align="right"),
        Column("p (Holm)", align="right"),
        Column("verdict"),
    ]
    rows: list = []
    for key, sub in _groups(verdicts):
        varying, fixed = _split_params(sub)
        rows.append(GroupRow(_group_title(key, sub, fixed)))
        for r in sub.itertuples(index=False):
            k = int(r.exceedances)
            rows.append(
                [
                    _point(r.parameters, varying),
                    str(int(r.n)),
                    fmt_num(r.estimate),
                    fmt_num(r.ci_low),
                    fmt_num(r.ci_high),
                    fmt_num(r.bound),
                    fmt_num(r.gamma),
                    "" if math.isnan(r.slack) else f"{r.slack:.2f}",
                    str(k) if k >= 0 else "",
                    fmt_p(r.exceed_ci_high),
                    fmt_p(r.p_value),
                    fmt_p(r.p_adjusted),
                    # The conditions under the verdict: these pages have no room for a column.
                    replace(verdict_cell(r.verdict), note=_conditions_note(r.conditions)),
                ]
            )
            if r.note:
                # Notes run across the page under their row: in a column of their own they
                # would be squeezed beside a dozen numeric columns.
                rows.append(NoteRow(str(r.note)))
    return Table(columns, rows)


def provenance_tables(data: ReportData) -> tuple[Table, Table]:
    """The run's provenance (key, value) and the provenance of each simulation's summary."""
    m = data.meta
    items: list[tuple[str, str]] = [
        ("theorycheck version", str(m.get("theorycheck", "unknown"))),
        ("git revision", str(m.get("git_revision") or "not a git checkout")),
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
        ("simulations", ", ".join(s.id for s in data.simulations)),
        ("verdict rows", str(len(data.verdicts))),
    ]
    run = Table([Column("run"), Column("value", wrap=True)], [[k, v] for k, v in items])
    sims = Table(
        [
            Column("simulation"),
            Column("theorycheck"),
            Column("git revision"),
            Column("python"),
            Column("numba threading layer", wrap=True),
            Column("threads", align="right"),
        ],
        [
            [
                s.id,
                str(s.meta.get("theorycheck", "")),
                str(s.meta.get("git_revision") or "")[:12],
                str(s.meta.get("python", "")),
                str(s.meta.get("numba_threading_layer", "")),
                str(s.meta.get("numba_threads", "")),
            ]
            for s in data.simulations
        ],
    )
    return run, sims


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
    rows = []
    for sim, cfgs in per_sim:
        t = _config_seconds(cfgs)
        share = f"{t / total:.0%}" if t is not None and total > 0 else ""
        rows.append(
            [
                sim.id,
                str(len(cfgs)) if cfgs else "",
                str(sum(int(c.get("blocks", 0)) for c in cfgs)) if cfgs else "",
                fmt_seconds(t),
                share,
                fmt_seconds(sim.meta.get("evaluate_seconds")),
            ]
        )
    # Simulations whose blocks were stored without times are left out of the total, and said so.
    label = "all" if len(known) == len(per_sim) else f"{len(known)} of {len(per_sim)} recorded"
    rows.append([Cell(label, weight="bold"), "", "", Cell(fmt_seconds(total), weight="bold"),
                 "", ""])  # fmt: skip
    columns = [
        Column("simulation"),
        Column("configs", align="right"),
        Column("blocks", align="right"),
        Column("block time", align="right"),
        Column("share", align="right"),
        Column("evaluation", align="right"),
    ]
    return Table(columns, rows)


def configurations_table(data: ReportData) -> Table:
    """Every config of the run: simulation, config id (the store's directory name), its
    parameters, blocks and the summed measurement time of its blocks."""
    columns = [
        Column("config id"),
        Column("parameters", wrap=True),
        Column("blocks", align="right"),
        Column("time", align="right"),
    ]
    rows: list = []
    for sim in data.simulations:
        cfgs = sim.meta.get("configs") or []
        if not cfgs:
            continue
        rows.append(GroupRow(sim.id))
        for c in cfgs:
            params = ", ".join(f"{k} = {_fmt_config_value(v)}" for k, v in c["config"].items())
            rows.append([c["id"], params, str(c.get("blocks", "")),
                         fmt_seconds(c.get("seconds"))])  # fmt: skip
    return Table(columns, rows)


def _fmt_config_value(v) -> str:
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_fmt_value(x) for x in v) + "]"
    return _fmt_value(v)


def conditions_table(data: ReportData) -> Table:
    """Per claim of the run: the statement's conditions and at how many grid points they hold,
    fail or were not evaluated (the verdict rows' ``conditions``), and where they fail."""
    columns = [
        Column("claim"),
        Column("conditions of\nthe statement", wrap=True),
        Column("inside", align="right"),
        Column("outside", align="right"),
        Column("unknown", align="right"),
        Column("where they fail", wrap=True),
    ]
    v = data.verdicts
    rows: list = []
    claims = list(dict.fromkeys([*(c for s in data.simulations for c in s.claims), *v["claim"]]))
    for claim in claims:
        text = data.claims.get(claim) if data.claims is not None else None
        sub = v[v["claim"] == claim]
        c = condition_counts(sub, text)
        rows.append(
            [
                claim,
                Cell(text.conditions if text is not None else "", color=GREY),
                _count(c.hold),
                _count(c.fail, bold=True),
                _count(c.na),
                Cell(c.fail_at),
            ]
        )
    return Table(columns, rows)


def _count(n: int, bold: bool = False) -> Cell:
    if n == 0:
        return Cell(_DASH, color=GREY)
    return Cell(str(n), weight="bold" if bold else "normal")
