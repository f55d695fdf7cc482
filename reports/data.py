"""What the report reads: the stored results of one run, and nothing else.

The report never recomputes and never imports ``simulations`` or ``bounds``: it reads the
run's verdict table and its provenance, each simulation's summary table and figure specs, and,
when the runner stored it, the claims table with the statements as the papers give them.

Inputs (all through :class:`theorycheck.store.ResultsStore`):

* ``verdicts.parquet`` — the Holm-adjusted verdict table (fields of
  :class:`theorycheck.verdicts.VerdictRow`); its metadata holds the run's provenance, profile,
  seed, alpha and the list of simulation ids.
  Tables written before the ``conditions`` column existed load with "unknown" in it; the words
  of older tables ("hold", "fail", "n/a") are read as "inside", "outside", "unknown".
* ``<simulation>/summary-<profile>-s<seed>.parquet`` — columns figure, panel, series, x,
  estimate, ci_low, ci_high and optionally reference and bound; metadata title, claims,
  limitations, figures (name, title, xlabel, ylabel, logx, logy, caption) and provenance.
  A fitted series (:meth:`theorycheck.rates.RateFit.summary_rows` with ``verdict``) also has
  ``fitted`` (the fitted power law) and ``rate_claim``, ``rate_statistic``,
  ``rate_parameters``: the identity of its rate verdict row, whose fitted exponent, interval
  and claimed exponent label the series.
* ``claims.parquet`` (optional) — columns id, citation, statement, kind, parameters, constants,
  conditions (and optionally derived); one row per claim id.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from theorycheck.errors import UserInputError
from theorycheck.results import USER_CLAIMS, USER_VERDICTS
from theorycheck.store import ResultsStore

__all__ = [
    "CLAIM_COLUMNS",
    "SUMMARY_COLUMNS",
    "VERDICT_COLUMNS",
    "ClaimText",
    "FigureInfo",
    "FitLabel",
    "ReportData",
    "SimulationResult",
    "load_results",
]

VERDICT_COLUMNS = (
    "claim",
    "simulation",
    "parameters",
    "statistic",
    "test",
    "n",
    "bound",
    "gamma",
    "estimate",
    "ci_low",
    "ci_high",
    "slack",
    "exceedances",
    "exceed_ci_high",
    "p_value",
    "p_adjusted",
    "verdict",
    "note",
)
SUMMARY_COLUMNS = ("figure", "panel", "series", "x", "estimate", "ci_low", "ci_high")
CLAIM_COLUMNS = ("id", "citation", "statement", "kind", "parameters", "constants", "conditions")


@dataclass(frozen=True)
class ClaimText:
    """A claim as the paper states it (one row of ``claims.parquet``)."""

    id: str
    citation: str = ""
    statement: str = ""
    kind: str = ""
    parameters: str = ""
    constants: str = ""
    conditions: str = ""
    derived: bool = False


@dataclass(frozen=True)
class FitLabel:
    """The rate verdict of a fitted series: fitted log-log slope, its interval, the claim."""

    exponent: float
    ci_low: float
    ci_high: float
    claimed: float  # the claimed exponent k
    kind: str  # Theta, O, Omega or o
    variable: str  # the grid variable (d, m)
    verdict: str


@dataclass(frozen=True)
class FigureInfo:
    """A figure of a simulation: its spec and the summary rows that belong to it."""

    name: str
    title: str
    xlabel: str
    ylabel: str
    logx: bool
    logy: bool
    caption: str
    rows: pd.DataFrame
    reference_label: str = "exact value"
    bound_label: str = "paper's bound"
    #: The simulation's series names in one order, so a name has one style in all its figures.
    series_order: tuple[str, ...] = ()
    # {(panel, series): the rate verdict of the series' fit}, for series with a ``fitted`` column
    fits: dict[tuple[str, str], FitLabel] = field(default_factory=dict)


@dataclass(frozen=True)
class SimulationResult:
    """What one simulation stored for the run's profile and seed."""

    id: str
    title: str
    claims: list[str]
    limitations: str
    figures: list[FigureInfo]
    verdicts: pd.DataFrame
    meta: dict
    problem: str = ""  # why figures are missing, if they are
    summary: pd.DataFrame = field(default_factory=pd.DataFrame)  # the stored summary table


@dataclass(frozen=True)
class ReportData:
    """Everything the report shows, read from one results directory."""

    verdicts: pd.DataFrame
    meta: dict
    simulations: list[SimulationResult]
    claims: dict[str, ClaimText] | None = None
    warnings: list[str] = field(default_factory=list)
    # False when the verdict table predates the ``conditions`` column (every row reads "unknown").
    conditions_recorded: bool = True
    #: The user's own claims (theorycheck.claims): their verdicts (a Holm family of their own),
    #: its provenance, and their catalogue; empty when the run checked none.
    user_verdicts: pd.DataFrame = field(default_factory=pd.DataFrame)
    user_meta: dict = field(default_factory=dict)
    user_claims: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def profile(self) -> str:
        return str(self.meta.get("profile", "?"))

    @property
    def seed(self) -> str:
        return str(self.meta.get("seed", "?"))


def load_results(results: str | Path) -> ReportData:
    """Read the stored results under ``results`` (raises ``UserInputError`` if there are none)."""
    root = Path(results)
    if not root.exists():
        raise UserInputError(
            f"results directory {root} does not exist; run `theorycheck run --out {root}` first"
        )
    if not root.is_dir():
        raise UserInputError(
            f"results {root} is a file; give the directory `theorycheck run` wrote"
        )
    store = ResultsStore(root)
    if not store.table_path("verdicts").exists():
        raise UserInputError(
            f"no verdicts.parquet in {root}; run `theorycheck run --out {root}` first"
        )
    verdicts = store.read_table("verdicts")
    missing = [c for c in VERDICT_COLUMNS if c not in verdicts.columns]
    if missing:
        raise UserInputError(
            f"{store.table_path('verdicts')} lacks column(s) {', '.join(missing)}; "
            "it was written by another version of theorycheck: rerun `theorycheck run`"
        )
    conditions_recorded = "conditions" in verdicts.columns
    if not conditions_recorded:
        verdicts = verdicts.assign(conditions="unknown")  # stored before the column existed
    old = {"hold": "inside", "fail": "outside", "n/a": "unknown"}
    verdicts["conditions"] = verdicts["conditions"].astype(str).replace(old)
    meta = store.read_meta("verdicts")
    profile, seed = meta.get("profile", "quick"), meta.get("seed", 0)
    sim_ids = list(meta.get("simulations") or [])
    for sid in verdicts["simulation"].drop_duplicates():
        if sid not in sim_ids:
            sim_ids.append(str(sid))

    warnings: list[str] = []
    simulations = []
    for sid in sim_ids:
        name = f"{sid}/summary-{profile}-s{seed}"
        sim_verdicts = verdicts[verdicts["simulation"] == sid].reset_index(drop=True)
        summary, smeta, problem = pd.DataFrame(columns=list(SUMMARY_COLUMNS)), {}, ""
        if store.table_path(name).exists():
            smeta = store.read_meta(name)
            stored = store.read_table(name)
            lacking = [c for c in SUMMARY_COLUMNS if c not in stored.columns]
            if lacking:
                problem = f"{name}.parquet lacks {', '.join(lacking)}: figures omitted"
            else:
                summary = stored
        else:
            problem = f"no stored summary for {sid} ({name}.parquet): figures omitted"
        if problem:
            warnings.append(problem)
        claims = list(smeta.get("claims") or sim_verdicts["claim"].drop_duplicates().tolist())
        simulations.append(
            SimulationResult(
                id=sid,
                title=str(smeta.get("title") or sid),
                claims=[str(c) for c in claims],
                limitations=str(smeta.get("limitations") or ""),
                figures=_figures(summary, smeta.get("figures") or [], sim_verdicts, warnings),
                verdicts=sim_verdicts,
                meta=smeta,
                problem=problem,
                summary=summary,
            )
        )
    mine, mine_meta, mine_claims = pd.DataFrame(), {}, pd.DataFrame()
    if store.table_path(USER_VERDICTS).exists():
        mine, mine_meta = store.read_table(USER_VERDICTS), store.read_meta(USER_VERDICTS)
        if store.table_path(USER_CLAIMS).exists():
            mine_claims = store.read_table(USER_CLAIMS)
    return ReportData(verdicts, meta, simulations, _claims(store), warnings, conditions_recorded,
                      mine, mine_meta, mine_claims)  # fmt: skip


def _figures(
    summary: pd.DataFrame, specs: list[dict], verdicts: pd.DataFrame, warnings: list[str]
) -> list[FigureInfo]:
    out = []
    # Every series name of the simulation, in order of appearance: a series keeps its style in
    # every figure of the simulation (robustifying W is the same colour and marker throughout).
    order = tuple(str(s) for s in dict.fromkeys(summary["series"])) if "series" in summary else ()
    for spec in specs:
        name = str(spec.get("name", ""))
        rows = summary[summary["figure"] == name] if "figure" in summary else summary.iloc[:0]
        rows = rows.reset_index(drop=True)
        out.append(
            FigureInfo(
                name=name,
                title=str(spec.get("title") or name),
                xlabel=str(spec.get("xlabel") or "x"),
                ylabel=str(spec.get("ylabel") or ""),
                logx=bool(spec.get("logx", False)),
                logy=bool(spec.get("logy", False)),
                caption=str(spec.get("caption") or ""),
                rows=rows,
                reference_label=str(spec.get("reference_label") or "exact value"),
                bound_label=str(spec.get("bound_label") or "paper's bound"),
                series_order=order,
                fits=_fits(rows, verdicts, name, warnings),
            )
        )
    return out


_RATE_KEY = ("rate_claim", "rate_statistic", "rate_parameters")


def _fits(
    rows: pd.DataFrame, verdicts: pd.DataFrame, figure: str, warnings: list[str]
) -> dict[tuple[str, str], FitLabel]:
    """The rate verdict of each fitted (panel, series), matched on the stored identity of the
    verdict row (claim, statistic, parameters): nothing is refitted."""
    if not all(c in rows.columns for c in _RATE_KEY) or verdicts.empty:
        return {}
    linked = rows[rows["rate_claim"].notna()]
    out: dict[tuple[str, str], FitLabel] = {}
    # The first verdict row of each (claim, statistic, parameters): one pass over the table
    # instead of a filter of it per fitted series.
    first: dict[tuple, int] = {}
    for i, identity in enumerate(
        zip(verdicts["claim"], verdicts["statistic"], verdicts["parameters"], strict=True)
    ):
        first.setdefault(identity, i)
    for (panel, series, *key), _ in linked.groupby(
        ["panel", "series", *_RATE_KEY], sort=False, dropna=True
    ):
        at = first.get(tuple(key))
        if at is None:
            warnings.append(
                f"figure {figure}: no stored verdict for the fit of {series} ({key[0]}); "
                "its slope is not shown"
            )
            continue
        row = verdicts.iloc[at]
        params = _json(row["parameters"])
        out.setdefault(
            (str(panel), str(series)),
            FitLabel(
                exponent=float(row["estimate"]),
                ci_low=float(row["ci_low"]),
                ci_high=float(row["ci_high"]),
                claimed=float(row["bound"]),
                kind=str(params.get("rate_kind", "Theta")),
                variable=str(params.get("over", "x")),
                verdict=str(row["verdict"]),
            ),
        )
    return out


def _json(text) -> dict:
    try:
        out = json.loads(text)
    except (TypeError, ValueError):
        return {}
    return out if isinstance(out, dict) else {}


def _claims(store: ResultsStore) -> dict[str, ClaimText] | None:
    if not store.table_path("claims").exists():
        return None
    table = store.read_table("claims")
    if "id" not in table.columns:
        return None
    out = {}
    for rec in table.to_dict("records"):
        fields = {k: _text(rec.get(k)) for k in CLAIM_COLUMNS}
        out[fields["id"]] = ClaimText(**fields, derived=bool(rec.get("derived", False)))
    return out


def _text(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value).strip()
