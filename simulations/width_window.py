"""width-window: where the theorems' width conditions can hold (no sampling).

Wang et al. (2022), Theorem 3.1 (and Corollary 3.2, "in the parameter settings of Theorem 3.1")
needs max{d^2.4, C3 log(1/gamma)} <= m <= C4 exp(d^0.24); Lemma 4.4 needs
d^2.4 <= m <= O(exp(d^0.24)). Bubeck et al. (2021) need k >= C1 log^3(1/gamma) and
d >= C2 log(k/gamma) log(1/gamma). For d on a log grid from 10 to 1e8 this simulation computes the
window edges exactly (in log space, :mod:`bounds.conditions`), and for widths on a log grid the
dimensions each paper allows. It checks docs/theory.md's [derived] number: with C4 = 1 the window
first
becomes non-empty (for good) at d ~ 2.97e6, and is empty at every d of Wang et al.'s Fig. 2.
Derivation: docs/derivations/width_window.md.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from theorycheck.bounds.conditions import first_dimension_with_window, width_window
from theorycheck.simulation import Evaluation, FigureSpec, Simulation
from theorycheck.simulations._common import main
from theorycheck.verdicts import EXACT_POWER, VerdictRow

#: docs/theory.md Sec. 5 (Wang et al.): "with C4 = 1, d^2.4 <= exp(d^0.24) needs d >= 2.97e6"
#: [derived].
THEORY_STATED_THRESHOLD = 2.97e6
#: The stated number is given to 3 significant digits: agreement within 1% is required.
THRESHOLD_TOLERANCE = 0.01
#: Input dimensions of Wang et al. (2022), Fig. 2 (5^2 .. 28^2), and the widths used there.
FIG2_DIMENSIONS = (25, 49, 100, 196, 400, 625, 784)
FIG2_WIDTHS = (1e3, 1e4, 1e5)
#: Statements whose windows are computed over d (Corollary 3.2 shares Theorem 3.1's window).
WANG_STATEMENTS = ("wang2022.theorem_3_1", "wang2022.lemma_4_4")
BUBECK = "bubeck2021.theorem"


@dataclass(frozen=True)
class WindowConfig:
    d_min: float
    d_max: float
    points_per_decade: int
    gamma: float
    # Free constants (none is given by the papers): Wang C3, C4; Bubeck C1, C2.
    C3: float = 1.0
    C4: float = 1.0
    C1: float = 1.0
    C2: float = 1.0
    m_max: float = 1e20  # widths for the "dimensions" figure: 10 .. m_max


def _grid(lo: float, hi: float, per_decade: int) -> np.ndarray:
    n = round(math.log10(hi / lo) * per_decade) + 1
    return np.unique(np.round(np.geomspace(lo, hi, n)))


class WidthWindow(Simulation):
    id = "width-window"
    title = "Where the width conditions hold (Wang et al. 2022; Bubeck et al. 2021)"
    claims = ("wang2022.theorem_3_1", "wang2022.corollary_3_2", "wang2022.lemma_4_4", BUBECK)
    limitations = (
        "No sampling: the windows are exact (computed in log space). The papers give no values "
        "for the constants C3, C4 (Wang et al.) and C1, C2 (Bubeck et al.); all are set to 1 here, "
        "and `theorycheck conditions CLAIM --d D --constant NAME=VALUE` shows the effect of "
        "others (C4 = 100 moves the threshold to 1.26e6, C4 = 0.01 to 5.79e6). The simulations of "
        "these claims run anyway, outside the window, and say so."
    )

    def _configs(self, profile):
        per_decade = 8 if profile == "quick" else 40
        yield WindowConfig(10.0, 1e8, per_decade, 0.05)

    def measure(self, config: WindowConfig, rng) -> pd.DataFrame:
        # Deterministic: the generator is not used.
        rows = []
        grid = _grid(config.d_min, config.d_max, config.points_per_decade)
        dims = np.unique(np.concatenate([grid, FIG2_DIMENSIONS]))
        for claim in WANG_STATEMENTS:
            consts = {k: getattr(config, k) for k in _WINDOW_CONSTANTS[claim]}
            for d in dims:
                w = width_window(claim, float(d), config.gamma, **consts)
                rows.append(_row("window", claim, d=float(d), log_m_low=w.log_m_low,
                                 log_m_high=w.log_m_high, empty=float(w.empty)))  # fmt: skip
            d_star = first_dimension_with_window(claim, config.gamma, **consts)
            rows.append(_row("threshold", claim, d=float(d_star), constants=json.dumps(consts)))
        bubeck = {k: getattr(config, k) for k in _WINDOW_CONSTANTS[BUBECK]}
        L = math.log(1.0 / config.gamma)
        widths = _grid(10.0, config.m_max, config.points_per_decade // 2)
        for m in widths:
            # Bubeck et al.: at width k, d >= C2 log(k/gamma) log(1/gamma) (and k >= C1 L^3).
            # Wang et al.: d^2.4 <= m gives d <= m^(1/2.4); m <= C4 exp(d^0.24) gives
            # d >= log(m/C4)^(1/0.24).
            if m >= config.C1 * L**3:
                rows.append(
                    _row(
                        "dimensions",
                        BUBECK,
                        m=float(m),
                        d_low=config.C2 * (math.log(m) + L) * L,
                        d_high=math.inf,
                    )
                )
            log_ratio = max(math.log(m / config.C4), 0.0)
            rows.append(_row("dimensions", "wang2022.theorem_3_1", m=float(m),
                             d_low=log_ratio ** (1 / 0.24), d_high=m ** (1 / 2.4)))  # fmt: skip
        d_star = first_dimension_with_window(BUBECK, config.gamma, **bubeck)
        rows.append(_row("threshold", BUBECK, d=float(d_star), constants=json.dumps(bubeck)))
        return pd.DataFrame(rows)

    def evaluate(self, data) -> Evaluation:
        verdicts, summary = [], []
        for cfg, df in data.items():
            windows = df[df["kind"] == "window"]
            thresholds = df[df["kind"] == "threshold"].set_index("statement")
            for claim in WANG_STATEMENTS:
                d_star = float(thresholds.loc[claim, "d"])
                verdicts.append(
                    _threshold_row(
                        self.id, claim, cfg, d_star, json.loads(thresholds.loc[claim, "constants"])
                    )
                )
            theorem = windows[windows["statement"] == "wang2022.theorem_3_1"]
            fig2 = theorem[theorem["d"].isin(FIG2_DIMENSIONS)].sort_values("d")
            verdicts.append(_fig2_row(self.id, cfg, fig2))
            summary += _window_rows(windows, cfg)
            summary += _fig2_table(fig2)
            summary += _dimension_rows(df[df["kind"] == "dimensions"], cfg)
        figures = [
            FigureSpec(
                "window",
                "Width window of Wang et al. (2022): lower and upper edge of m vs d",
                "input dimension d",
                "width m",
                logx=True,
                logy=True,
                caption="The window holds the widths between the two edges: it is empty where "
                "the lower edge lies above the upper one, i.e. for every d below about 2.97e6 "
                "(C3 = C4 = 1, gamma = 0.05). Theorem 3.1 (and Corollary 3.2) and Lemma 4.4 "
                "coincide here because C3 log(1/gamma) = 3.0 < d^2.4 for d >= 10.",
            ),
            FigureSpec(
                "dimensions",
                "Input dimensions each paper allows at a given width",
                "width m (k in Bubeck et al.)",
                "input dimension d",
                logx=True,
                logy=True,
                caption="Bubeck et al. (2021): d >= C2 log(k/gamma) log(1/gamma) (no upper "
                "limit; C1 = C2 = 1, gamma = 0.05). Wang et al. (2022): log(m/C4)^(1/0.24) <= d "
                "<= m^(1/2.4), an empty range for every m below about 3.6e15 (C4 = 1).",
            ),
        ]
        return Evaluation(verdicts, pd.DataFrame(summary), figures)


def _row(kind: str, statement: str, **values) -> dict:
    """One row of the measured table; every row has every column (no mixed-type columns)."""
    row = {"kind": kind, "statement": statement, "d": math.nan, "m": math.nan,
           "log_m_low": math.nan, "log_m_high": math.nan, "empty": math.nan,
           "d_low": math.nan, "d_high": math.nan, "constants": ""}  # fmt: skip
    row.update(values)
    return row


#: The window constants of each statement (the config's C2 is Bubeck's, not Wang's step C2).
_WINDOW_CONSTANTS = {"wang2022.theorem_3_1": ("C3", "C4"), "wang2022.lemma_4_4": ("C4",),
                     BUBECK: ("C1", "C2")}  # fmt: skip


def _params(cfg: WindowConfig, claim: str, **extra) -> str:
    chosen = {k: getattr(cfg, k) for k in _WINDOW_CONSTANTS[claim]}
    return json.dumps({"gamma": cfg.gamma, **chosen, **extra}, sort_keys=True, default=float)


def _exact_row(sim_id: str, claim: str, params: str, statistic: str, estimate: float,
               reference: float, agrees: bool, note: str) -> VerdictRow:  # fmt: skip
    """A deterministic verdict: an exact computation compared with a stated number (no sampling,
    no p-value, outside the Holm family)."""
    return VerdictRow(
        claim, sim_id, params, statistic, "exact computation", 1, float(reference), math.nan,
        float(estimate), float(estimate), float(estimate), math.nan, -1, math.nan, math.nan,
        math.nan, "AGREES" if agrees else "DISAGREES", note, evidence="exact", kind="comparison",
        # About where the claim's conditions hold, not a test of the claim: the bottom line
        # leaves these rows out.
        family="conditions", power=EXACT_POWER,
    )  # fmt: skip


def _threshold_row(sim_id, claim, cfg, d_star, consts) -> VerdictRow:
    rel = d_star / THEORY_STATED_THRESHOLD - 1.0
    agrees = abs(rel) <= THRESHOLD_TOLERANCE
    note = (
        f"window empty for d <= {int(d_star) - 1:,}, non-empty for every d >= {int(d_star):,} "
        f"({', '.join(f'{k} = {v:g}' for k, v in consts.items())}); docs/theory.md states 2.97e6: "
        f"{rel:+.2%}"
    )
    return _exact_row(
        sim_id, claim, _params(cfg, claim), "smallest d with a non-empty width window "
        "(docs/theory.md [derived]: 2.97e6 at C4 = 1)",
        d_star, THEORY_STATED_THRESHOLD, agrees, note,
    )  # fmt: skip


def _fig2_row(sim_id, cfg, fig2: pd.DataFrame) -> VerdictRow:
    nonempty = fig2.loc[~fig2["empty"].astype(bool), "d"].astype(int).tolist()
    note = (
        "empty at every d of the paper's Fig. 2" if not nonempty
        else f"non-empty at d = {', '.join(map(str, nonempty))}"
    )  # fmt: skip
    dims = ",".join(str(d) for d in FIG2_DIMENSIONS)
    return _exact_row(
        sim_id, "wang2022.theorem_3_1", _params(cfg, "wang2022.theorem_3_1", d=dims),
        "number of Fig. 2 dimensions (d = 25..784) with a non-empty width window "
        "(docs/theory.md: empty unless d is astronomically large)", len(nonempty), 0.0,
        not nonempty, note,
    )  # fmt: skip


def _point(figure: str, panel: str, series: str, x: float, value: float) -> dict:
    """A summary row for an exact value (its interval is the value itself)."""
    return {"figure": figure, "panel": panel, "series": series, "x": float(x),
            "estimate": value, "ci_low": value, "ci_high": value}  # fmt: skip


def _edge(log_value: float) -> float:
    return math.exp(log_value) if log_value < 709 else math.inf


def _window_rows(windows: pd.DataFrame, cfg: WindowConfig) -> list[dict]:
    rows = []
    theorem = windows[windows["statement"] == "wang2022.theorem_3_1"].sort_values("d")
    for rec in theorem.itertuples():
        for series, value in (
            ("lower edge max{d^2.4, C3 log(1/gamma)}", _edge(rec.log_m_low)),
            ("upper edge C4 exp(d^0.24)", _edge(rec.log_m_high)),
        ):
            rows.append(_point("window", "main", series, rec.d, value))
    return rows


def _fig2_table(fig2: pd.DataFrame) -> list[dict]:
    """The window at the dimensions of Wang et al. Fig. 2 (a table, not drawn as a figure)."""
    rows = []
    for rec in fig2.itertuples():
        for series, value in (
            ("m_low", _edge(rec.log_m_low)),
            ("m_high", _edge(rec.log_m_high)),
            ("window empty (1 = yes)", float(rec.empty)),
            *((f"m = {m:g} inside (1 = yes)", float(not rec.empty and
               rec.log_m_low <= math.log(m) <= rec.log_m_high)) for m in FIG2_WIDTHS),
        ):  # fmt: skip
            rows.append(_point("fig2-table", "Theorem 3.1", series, rec.d, value))
    return rows


def _dimension_rows(dims: pd.DataFrame, cfg: WindowConfig) -> list[dict]:
    rows = []
    labels = {
        (BUBECK, "d_low"): "Bubeck et al.: smallest d",
        ("wang2022.theorem_3_1", "d_low"): "Wang et al.: smallest d, log(m/C4)^(1/0.24)",
        ("wang2022.theorem_3_1", "d_high"): "Wang et al.: largest d, m^(1/2.4)",
    }
    for (claim, column), series in labels.items():
        sub = dims[dims["statement"] == claim].sort_values("m")
        for rec in sub.itertuples():
            value = float(getattr(rec, column))
            if value >= 1.0 and math.isfinite(value):
                rows.append(_point("dimensions", "main", series, rec.m, value))
    return rows


SIMULATION = WidthWindow()

if __name__ == "__main__":
    main(SIMULATION)
