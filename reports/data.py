"""What the report reads: the stored results of one run, and nothing else.

The report never recomputes and never imports ``simulations`` or ``bounds``: it reads the
run's verdict table and its provenance, each simulation's summary table and figure specs, and,
when the runner stored it, the claims table with the statements as the papers give them.

Inputs (all through :class:`theorycheck.store.ResultsStore`):

* ``verdicts.parquet`` — the Holm-adjusted verdict table (fields of
  :class:`theorycheck.verdicts.VerdictRow`); its metadata holds the run's provenance, profile,
  seed, alpha and the list of simulation ids.
* ``<simulation>/summary-<profile>-s<seed>.parquet`` — columns figure, panel, series, x,
  estimate, ci_low, ci_high and optionally reference and bound; metadata title, claims,
  limitations, figures (name, title, xlabel, ylabel, logx, logy, caption) and provenance.
* ``claims.parquet`` (optional) — columns id, citation, statement, kind, parameters, constants,
  conditions (and optionally derived); one row per claim id.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from theorycheck.errors import UserInputError
from theorycheck.store import ResultsStore

__all__ = [
    "CLAIM_COLUMNS",
    "SUMMARY_COLUMNS",
    "VERDICT_COLUMNS",
    "ClaimText",
    "FigureInfo",
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


@dataclass(frozen=True)
class ReportData:
    """Everything the report shows, read from one results directory."""

    verdicts: pd.DataFrame
    meta: dict
    simulations: list[SimulationResult]
    claims: dict[str, ClaimText] | None = None
    warnings: list[str] = field(default_factory=list)

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
                figures=_figures(summary, smeta.get("figures") or []),
                verdicts=sim_verdicts,
                meta=smeta,
                problem=problem,
            )
        )
    return ReportData(verdicts, meta, simulations, _claims(store), warnings)


def _figures(summary: pd.DataFrame, specs: list[dict]) -> list[FigureInfo]:
    out = []
    for spec in specs:
        name = str(spec.get("name", ""))
        rows = summary[summary["figure"] == name] if "figure" in summary else summary.iloc[:0]
        out.append(
            FigureInfo(
                name=name,
                title=str(spec.get("title") or name),
                xlabel=str(spec.get("xlabel") or "x"),
                ylabel=str(spec.get("ylabel") or ""),
                logx=bool(spec.get("logx", False)),
                logy=bool(spec.get("logy", False)),
                caption=str(spec.get("caption") or ""),
                rows=rows.reset_index(drop=True),
            )
        )
    return out


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
