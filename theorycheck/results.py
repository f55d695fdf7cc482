"""Stored results as pandas DataFrames with the parameters as columns (docs/design.md "Library
and plugins").

:func:`load` opens a results directory written by ``theorycheck run`` (or
:func:`theorycheck.run`, which returns the same object): the Holm-adjusted verdicts, each
simulation's summary table, and its observables, i.e. the stored replicates with the config's
parameters (m, d, scaling, ...) as columns, so a notebook never needs the store's layout::

    import theorycheck
    res = theorycheck.load("theorycheck-results")
    res.verdicts.query("claim == 'wang2022.lemma_4_3'")[["m", "C0", "gamma", "verdict"]]
    res.observables("lazy-sign-flips").groupby(["m", "C0"])["flippable"].mean()
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pandas as pd

from theorycheck.errors import UserInputError
from theorycheck.store import ResultsStore

__all__ = ["USER_CLAIMS", "USER_VERDICTS", "Results", "evaluation_name", "load"]

#: Stored tables of a user's own claims (:mod:`theorycheck.claims`): their catalogue and their
#: verdicts, a Holm family of their own.
USER_CLAIMS = "user-claims"
USER_VERDICTS = "user-verdicts"


def evaluation_name(sim_id: str, what: str, profile: str, seed: int) -> str:
    """Name of a simulation's stored evaluation table (``summary`` or ``verdicts``)."""
    return f"{sim_id}/{what}-{profile}-s{seed}"


@dataclasses.dataclass(frozen=True)
class Results:
    """One run's stored results: ``verdicts``, ``summaries``, ``observables(simulation)``.

    Attributes
    ----------
    root : the results directory.
    profile, seed : the run's profile and seed.
    simulations : the ids the run evaluated (its Holm family).
    computed_blocks, reused_blocks, seconds : what the run that returned this object did
        (0, 0, nan for :func:`load`).
    report_path : the PDF the run wrote, if any.
    """

    root: Path
    profile: str
    seed: int
    simulations: tuple[str, ...]
    computed_blocks: int = 0
    reused_blocks: int = 0
    seconds: float = math.nan
    report_path: Path | None = None

    @property
    def store(self) -> ResultsStore:
        return ResultsStore(self.root)

    @property
    def verdicts(self) -> pd.DataFrame:
        """The papers' verdict rows, Holm-adjusted over the run's family: one row per claim and
        grid point, one column per parameter (``param_<name>`` where a name clashes with a
        field), plus ``parameters`` as JSON."""
        return self.store.read_table("verdicts")

    @property
    def user_verdicts(self) -> pd.DataFrame:
        """The verdicts of the user's own claims (their own Holm family); empty when none."""
        store = self.store
        if not store.table_path(USER_VERDICTS).exists():
            return pd.DataFrame()
        return store.read_table(USER_VERDICTS)

    @property
    def summaries(self) -> pd.DataFrame:
        """Every simulation's summary table (what the report plots), with a ``simulation``
        column first."""
        frames = [self.summary(s).assign(simulation=s) for s in self.simulations]
        if not frames:
            return pd.DataFrame()
        df = pd.concat(frames, ignore_index=True)
        return df[["simulation", *[c for c in df.columns if c != "simulation"]]]

    def summary(self, simulation: str) -> pd.DataFrame:
        """One simulation's summary table."""
        self._check(simulation)
        return self.store.read_table(
            evaluation_name(simulation, "summary", self.profile, self.seed)
        )

    def configs(self, simulation: str) -> list[dict]:
        """The simulation's configs as evaluated: ``id``, ``config`` (fields), ``blocks``."""
        self._check(simulation)
        name = evaluation_name(simulation, "summary", self.profile, self.seed)
        return list(self.store.read_meta(name).get("configs", []))

    def observables(self, simulation: str) -> pd.DataFrame:
        """The stored replicates of ``simulation``: one row per replicate (as measured), with
        ``config_id`` and every scalar field of the config (m, d, scaling, path, ...) as columns.

        Each block is verified against its checksum as it is read. A config field that the
        replicate rows also carry (e.g. ``C0`` per row beside ``C0s`` in the config) keeps the
        row's value; tuple-valued fields (grids the rows already spell out) are left out.
        """
        store = self.store
        frames, front = [], {"config_id": None}
        for record in self.configs(simulation):
            df = store.read_blocks(simulation, record["id"], self.seed, int(record["blocks"]))
            fields = {
                k: v
                for k, v in record["config"].items()
                if not isinstance(v, list | dict) and k not in df.columns
            }
            front.update(dict.fromkeys(fields))
            frames.append(df.assign(config_id=record["id"], **fields))
        if not frames:
            return pd.DataFrame()
        df = pd.concat(frames, ignore_index=True)
        return df[[*front, *[c for c in df.columns if c not in front]]]

    def check(self, claims, alpha: float | None = None) -> pd.DataFrame:
        """Evaluate your own claims (Bound objects naming an observable, or a path to a claims
        file) against these stored observables, in their own Holm family; nothing is
        recomputed and the papers' verdicts do not change (:mod:`theorycheck.claims`)."""
        from theorycheck.claims import check_claims, resolve_claims
        from theorycheck.verdicts import DEFAULT_ALPHA

        return check_claims(resolve_claims(claims), self, DEFAULT_ALPHA if alpha is None else alpha)

    def report(self, path: str | Path | None = None) -> Path:
        """Write the PDF report of these results (default ``ROOT/report.pdf``); its path."""
        from theorycheck.reports import build_report

        return build_report(self.root, path)

    def _check(self, simulation: str) -> None:
        if simulation not in self.simulations:
            raise UserInputError(
                f"no results for simulation {simulation!r} in {self.root}; it holds "
                f"{', '.join(self.simulations) or 'none'}"
            )


def load(out: str | Path = "theorycheck-results") -> Results:
    """The results stored in ``out`` by the last ``theorycheck run`` into it."""
    store = ResultsStore(out)
    if not store.table_path("verdicts").exists():
        raise UserInputError(f"no results in {out}: run `theorycheck run --out {out}` first")
    meta = store.read_meta("verdicts")
    sims = meta.get("simulations")
    if sims is None:  # written before the run recorded its simulations
        sims = list(dict.fromkeys(store.read_table("verdicts")["simulation"]))
    return Results(Path(store.root), str(meta.get("profile", "quick")), int(meta.get("seed", 0)),
                   tuple(sims))  # fmt: skip
