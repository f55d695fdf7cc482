"""The report's figures: estimates with 95% CIs against exact values and the papers' bounds.

One subplot per panel and one series per line, as the simulation's figure spec says. Each
series has its own colour *and* marker; the exact value (reference) is a dashed line and the
paper's bound a dotted line in the series' colour, so the figure reads in greyscale. The
legend sits below the axes, never on the data. Points of different series at the same x are
offset slightly (a few hundredths of the axis) so their error bars do not hide each other.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pandas as pd
from matplotlib.artist import Artist
from matplotlib.figure import SubFigure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FixedLocator, FuncFormatter, LogFormatterSciNotation, NullFormatter
from theorycheck.reports.conditions import ConditionPanel
from theorycheck.reports.data import FigureInfo, FitLabel
from theorycheck.reports.layout import CELL_PAD, LEADING, text_width, wrap
from theorycheck.reports.style import SMALL_SIZE, series_style
from theorycheck.reports.tables import fmt_num

__all__ = [
    "claimed_text",
    "condition_panels_height",
    "draw_condition_panels",
    "draw_figure",
    "figure_height",
    "figure_note",
    "fit_text",
    "fmt_exponent",
]

PANEL_HEIGHT = 190.0  # points per row of panels (axes, title, tick and axis labels)
_DODGE = 0.012  # offset between series at the same x, as a fraction of the x range
_HANDLE = 34.0  # legend handle + padding, points
_MAX_ERRORBARS = 12  # series with more points get a confidence band instead of error bars
_LABEL_SIZE = 10.0  # axis labels and panel titles (rc axes.labelsize, axes.titlesize)
_MAX_GRID_TICKS = 7  # up to this many distinct x values are ticked at the values themselves


def _panels(rows: pd.DataFrame) -> list[str]:
    return [str(p) for p in dict.fromkeys(rows["panel"])] if len(rows) else []


def _series(rows: pd.DataFrame) -> list[str]:
    return [str(s) for s in dict.fromkeys(rows["series"])] if len(rows) else []


def _grid(n_panels: int) -> tuple[int, int]:
    ncols = 1 if n_panels <= 1 else 2 if n_panels in (2, 4) else 3
    return math.ceil(max(n_panels, 1) / ncols), ncols


def fmt_exponent(k: float) -> str:
    """An exponent as the papers write it: -0.5 -> '−1/2', 0 -> '0', 2.4 -> '2.4'."""
    if not math.isfinite(k):
        return fmt_num(k)
    frac = Fraction(k).limit_denominator(12)
    if abs(float(frac) - k) < 1e-9:
        text = (
            str(abs(frac.numerator))
            if frac.denominator == 1
            else f"{abs(frac.numerator)}/{frac.denominator}"
        )
    else:
        text = f"{abs(k):g}"
    return ("−" if k < 0 else "") + text


def _signed(v: float) -> str:
    return f"{v:.2f}".replace("-", "−")


def fit_text(fit: FitLabel, claimed: bool = True) -> str:
    """'slope −0.54 [−0.59, −0.49] (claimed −1/2)': the rate verdict's fitted exponent, its
    interval and the claimed exponent (≤ k for O, ≥ k for Omega, < k for o)."""
    if math.isfinite(fit.ci_low) and math.isfinite(fit.ci_high):
        text = f"slope {_signed(fit.exponent)} [{_signed(fit.ci_low)}, {_signed(fit.ci_high)}]"
    else:
        text = f"slope {_signed(fit.exponent)} (no interval)"
    return text + (f" (claimed {claimed_text(fit)})" if claimed else "")


def claimed_text(fit: FitLabel) -> str:
    """The claimed slope: 'k' (Theta), '≤ k' (O), '≥ k' (Omega), '< k' (o)."""
    sign = {"O": "≤ ", "Omega": "≥ ", "o": "< "}.get(fit.kind, "")
    return sign + fmt_exponent(fit.claimed)


def _fit_labels(info: FigureInfo) -> tuple[dict[str, str], str]:
    """The slope text of each fitted series and the label of the fitted-line entry.

    A series fitted in one panel reads 'W0: slope ...'; one fitted in several panels lists
    the panels. When every fit of the figure has the same claim, the claimed slope is said once,
    in the fitted line's entry.
    """
    if not info.fits:
        return {}, ""
    claims = {claimed_text(f) for f in info.fits.values()}
    shared = len(claims) == 1
    by_series: dict[str, list[tuple[str, FitLabel]]] = {}
    for (panel, series), fit in info.fits.items():
        by_series.setdefault(series, []).append((panel, fit))
    texts = {}
    for series, fits in by_series.items():
        if len(fits) == 1:
            texts[series] = fit_text(fits[0][1], not shared)
        else:
            # 'slope 0.01 [−0.01, 0.02] (wang scaling), 0.00 [−0.02, 0.01] (bubeck scaling)'
            parts = [
                fit_text(f, False).removeprefix("slope ")
                + f" ({p}{'' if shared else '; claimed ' + claimed_text(f)})"
                for p, f in fits
            ]
            texts[series] = "slope " + ", ".join(parts)
    line = "fitted power law"
    if shared:
        line += f", claimed slope {next(iter(claims))}"
    return texts, line


def _legend_entries(info: FigureInfo) -> list[tuple[str, Line2D]]:
    slopes, fit_line = _fit_labels(info)
    entries = []
    for i, name in enumerate(_series(info.rows)):
        st = series_style(i)
        label = f"{name}: {slopes[name]}" if name in slopes else name
        entries.append(
            (label, Line2D([], [], color=st.color, marker=st.marker, markerfacecolor=st.facecolor))
        )
    for column, label, ls in (("reference", "exact value", "--"), ("bound", "paper's bound", ":")):
        if column in info.rows and info.rows[column].notna().any():
            entries.append((label, Line2D([], [], color="0.15", linestyle=ls, linewidth=1.4)))
    if fit_line:
        entries.append((fit_line, Line2D([], [], color="0.15", linestyle="-.", linewidth=1.2)))
    return entries


def _legend_layout(info: FigureInfo, width: float) -> tuple[list[tuple[str, Line2D]], int]:
    """Legend entries with labels wrapped to the figure's width, and the number of columns."""
    entries = _legend_entries(info)
    if not entries:
        return entries, 1
    room = width - _HANDLE - 2 * CELL_PAD
    entries = [("\n".join(wrap(label, room, SMALL_SIZE)), h) for label, h in entries]
    widest = max(text_width(line, SMALL_SIZE) for label, _ in entries for line in label.split("\n"))
    cols = max(1, min(len(entries), int(width // (widest + _HANDLE + CELL_PAD))))
    return entries, cols


def figure_height(info: FigureInfo, width: float) -> float:
    """Height in points of the block that draws ``info`` at ``width`` points."""
    n_panels = len(_panels(info.rows))
    nrows, _ = _grid(n_panels)
    entries, cols = _legend_layout(info, width)
    lines = [label.count("\n") + 1 for label, _ in entries]
    # Each legend row is as tall as its tallest entry, plus the spacing between rows.
    rows = [max(lines[i : i + cols]) for i in range(0, len(lines), cols)]
    legend = sum(n * SMALL_SIZE * LEADING + 0.25 * SMALL_SIZE * LEADING for n in rows)
    panels = PANEL_HEIGHT * (1.15 if n_panels == 1 else nrows)
    return panels + legend + 10.0


def figure_note(info: FigureInfo) -> str:
    """Sentences for the caption on how the figure was drawn (offsets, bands)."""
    rows = info.rows
    if not len(rows):
        return "No summary rows were stored for this figure."
    notes = []
    sizes = rows.groupby(["panel", "series"])["x"].size()
    has_ci = bool(((rows["ci_high"] - rows["ci_low"]).abs() > 0).any())
    ends = rows[["ci_low", "ci_high"]].astype(float).to_numpy()
    if np.isinf(ends).any():
        notes.append("Intervals with an unbounded end (too few replicates) are drawn without it.")
    if has_ci and (sizes > _MAX_ERRORBARS).any():
        notes.append("Shaded bands: 95% confidence intervals.")
    shared = rows.groupby(["panel", "x"])["series"].nunique()
    if (shared > 1).any() and (sizes <= _MAX_ERRORBARS).any():
        notes.append(
            "Series sharing an x value are drawn slightly apart so their intervals stay visible."
        )
    if "fitted" in rows and rows["fitted"].notna().any():
        notes.append(
            "Dash-dot: the power law C x^k fitted by least squares on the log-log scale; the "
            "slopes in the legend are the rate verdicts' fitted exponents with their 95% "
            "stratified-bootstrap intervals."
        )
    return " ".join(notes)


def draw_figure(sf: SubFigure, info: FigureInfo, width: float) -> None:
    """Draw ``info`` into the subfigure ``sf`` (``width``: its width in points, for the legend)."""
    rows = info.rows
    panels = _panels(rows)
    if not panels:
        sf.text(
            0.5, 0.5, "no data stored for this figure", ha="center", va="center", parse_math=False
        )
        return
    series = _series(rows)
    nrows, ncols = _grid(len(panels))
    if len(panels) == 1:
        # One panel across the whole page would be a letterbox: keep a readable aspect.
        gs = sf.add_gridspec(1, 3, width_ratios=[1.0, 5.0, 1.0])
        axes = [sf.add_subplot(gs[0, 1])]
    else:
        axes = list(sf.subplots(nrows, ncols, squeeze=False).flat)
        for k in range(len(panels), nrows * ncols):
            axes[k].remove()
    # Axis labels longer than their axes are wrapped rather than left to run off the figure.
    panel_w = (width * 5 / 7 if len(panels) == 1 else width / ncols) - 60.0
    panel_h = PANEL_HEIGHT * (1.15 if len(panels) == 1 else 1.0) - 70.0
    xlabel = "\n".join(wrap(info.xlabel, panel_w, _LABEL_SIZE))
    ylabel = "\n".join(wrap(info.ylabel, panel_h, _LABEL_SIZE))
    for k, panel in enumerate(panels):
        ax = axes[k]
        r, c = divmod(k, ncols)
        _draw_panel(ax, rows[rows["panel"] == panel], series, info)
        if len(panels) > 1 or panel not in ("", "main"):
            ax.set_title("\n".join(wrap(panel, panel_w, _LABEL_SIZE, "bold")), parse_math=False)
        if c == 0:
            ax.set_ylabel(ylabel, parse_math=False)
        # An x label under the lowest axes of each column.
        if r == nrows - 1 or k + ncols >= len(panels):
            ax.set_xlabel(xlabel, parse_math=False)
    entries, legend_cols = _legend_layout(info, width)
    # Matplotlib fills legend columns first; reorder so the entries read row by row.
    entries = [e for j in range(legend_cols) for e in entries[j::legend_cols]]
    legend = sf.legend(
        [h for _, h in entries],
        [label for label, _ in entries],
        loc="outside lower center",
        ncols=legend_cols,
        handlelength=2.4,
        columnspacing=1.4,
        borderaxespad=0.2,
        borderpad=0.8,
    )
    for text in legend.get_texts():
        text.set_parse_math(False)


def _tick_label(values: np.ndarray):
    """Tick labels for grid values: 10^k when every value is a power of ten, else plain."""
    exps = np.log10(values, out=np.full(values.shape, 0.5), where=values > 0)
    if np.allclose(exps, np.round(exps)) and values.max() >= 1000:
        return lambda v, _pos: f"$10^{{{round(math.log10(v))}}}$" if v > 0 else ""
    return lambda v, _pos: fmt_num(v)


class _LogLabels(LogFormatterSciNotation):
    """Log-axis labels: plain numbers (1, 2, 5, 10, 200) when every labelled tick lies in
    [0.01, 10^4), powers of ten otherwise; which ticks get a label is matplotlib's choice."""

    def format_ticks(self, values):
        labels = super().format_ticks(values)
        shown = [v for v, label in zip(values, labels, strict=True) if label]
        if shown and all(1e-2 <= abs(v) < 1e4 for v in shown):
            return [fmt_num(v) if label else "" for v, label in zip(values, labels, strict=True)]
        return labels


def _log_labels(axis) -> None:
    axis.set_major_formatter(_LogLabels())
    axis.set_minor_formatter(_LogLabels(labelOnlyBase=False))


def _grid_ticks(ax, x: np.ndarray, log: bool) -> None:
    # A few grid values: tick exactly there (the default log labels of a narrow range, such as
    # 2x10^1 3x10^1 4x10^1, run into each other).
    values = np.unique(x[np.isfinite(x) & ((x > 0) if log else True)])
    if 1 < values.size <= _MAX_GRID_TICKS:
        ax.xaxis.set_major_locator(FixedLocator(values))
        ax.xaxis.set_major_formatter(FuncFormatter(_tick_label(values)))
        ax.xaxis.set_minor_formatter(NullFormatter())


def _draw_panel(ax, rows: pd.DataFrame, series: list[str], info: FigureInfo) -> None:
    if info.logx:
        ax.set_xscale("log")
        _log_labels(ax.xaxis)
    if info.logy:
        ax.set_yscale("log")
        _log_labels(ax.yaxis)
    _grid_ticks(ax, info.rows["x"].astype(float).to_numpy(), info.logx)
    x_all = rows["x"].astype(float).to_numpy()
    x_ok = x_all[np.isfinite(x_all) & ((x_all > 0) if info.logx else True)]
    if x_ok.size == 0:
        return
    if info.logx:
        span = math.log10(x_ok.max() / x_ok.min()) if x_ok.max() > x_ok.min() else 1.0
    else:
        span = float(x_ok.max() - x_ok.min()) or max(abs(float(x_ok.max())), 1.0)
    step = _DODGE * max(span, 1.0) if info.logx else _DODGE * span
    present: dict[float, list[str]] = {}
    for xv, name in zip(rows["x"].astype(float), rows["series"].astype(str), strict=True):
        at = present.setdefault(float(xv), [])
        if name not in at:
            at.append(name)

    def shift(x: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray]:
        offsets = []
        for xv in x:
            at = present.get(float(xv), [name])
            offsets.append(at.index(name) - (len(at) - 1) / 2 if name in at else 0.0)
        off = np.asarray(offsets, dtype=float) * step
        return (x * 10.0**off if info.logx else x + off), off

    for i, name in enumerate(series):
        sub = rows[rows["series"].astype(str) == name].sort_values("x", kind="stable")
        if sub.empty:
            continue
        st = series_style(i)
        x = sub["x"].astype(float).to_numpy()
        est = sub["estimate"].astype(float).to_numpy()
        lo = sub["ci_low"].astype(float).to_numpy()
        hi = sub["ci_high"].astype(float).to_numpy()
        ok = np.isfinite(x) & np.isfinite(est)
        if info.logx:
            ok &= x > 0
        if info.logy:
            ok &= est > 0
        xd, _ = shift(x, name)
        yerr = np.vstack(
            [
                np.nan_to_num(np.clip(est - lo, 0, None), posinf=0.0),
                np.nan_to_num(np.clip(hi - est, 0, None), posinf=0.0),
            ]
        )
        if info.logy:
            # A lower limit at or below zero cannot be drawn on a log axis: stop the bar at est/10.
            yerr[0] = np.minimum(yerr[0], est * 0.9)
        if ok.sum() > _MAX_ERRORBARS:
            # Many points: a 95% band and a line, markers on a few points to tell series apart.
            ax.fill_between(
                x[ok],
                (est - yerr[0])[ok],
                (est + yerr[1])[ok],
                color=st.color,
                alpha=0.22,
                linewidth=0,
                zorder=2,
            )
            ax.plot(
                x[ok],
                est[ok],
                color=st.color,
                marker=st.marker,
                markerfacecolor=st.facecolor,
                markevery=max(1, int(ok.sum()) // 8),
                linewidth=1.1,
                zorder=3,
            )
        else:
            ax.errorbar(
                xd[ok],
                est[ok],
                yerr=yerr[:, ok],
                color=st.color,
                marker=st.marker,
                markerfacecolor=st.facecolor,
                markeredgecolor=st.color,
                linestyle="-",
                linewidth=0.9,
                elinewidth=1.0,
                zorder=3,
            )
        for column, ls, lw in (
            ("reference", "--", 1.1),
            ("bound", ":", 1.6),
            ("fitted", "-.", 1.2),
        ):
            if column not in sub:
                continue
            y = sub[column].astype(float).to_numpy()
            good = np.isfinite(x) & np.isfinite(y)
            if info.logy:
                good &= y > 0
            if info.logx:
                good &= x > 0
            if not good.any():
                continue
            xs, ys = x[good], y[good]
            if xs.size == 1:
                # A single grid point: a short horizontal segment around its (offset) marker.
                half = step * (len(present.get(float(xs[0]), [name])) / 2 + 1)
                xs = (
                    xs[0] * 10.0 ** np.array([-half, half])
                    if info.logx
                    else xs[0] + np.array([-half, half])
                )
                ys = np.repeat(ys, 2)
            ax.plot(xs, ys, color=st.color, linestyle=ls, linewidth=lw, zorder=2)


# -- the conditions page ------------------------------------------------------------------------
def _condition_entries(panel: ConditionPanel) -> list[tuple[str, Artist]]:
    entries: list[tuple[str, Artist]] = []
    for i, c in enumerate(panel.curves):
        st = series_style(i)
        entries.append((c.label, Line2D([], [], color=st.color, linestyle=c.linestyle, lw=1.6)))
    if panel.shade_x is not None:
        entries.append((panel.shade_label, Patch(facecolor=_SHADE, edgecolor="none")))
    if panel.vline is not None:
        entries.append((panel.vline[1], Line2D([], [], color="0.15", linestyle=":", lw=1.4)))
    for pts in panel.points:
        st = _point_style(panel, pts.claim)
        what = "inside" if pts.holds else "outside"
        n = len(pts.x)
        entries.append(
            (
                f"{pts.claim}: conditions {what} ({n} grid point{'s' if n != 1 else ''})",
                Line2D(
                    [], [], color=st.color, marker=st.marker, linestyle="none",
                    markerfacecolor=st.color if pts.holds else "white", markersize=6,
                ),
            )
        )  # fmt: skip
    return entries


_SHADE = "#9ecae1"  # light blue: reads as a light grey in print


def _point_style(panel: ConditionPanel, claim: str):
    claims = list(dict.fromkeys(p.claim for p in panel.points))
    return series_style(len(panel.curves) + claims.index(claim))


def _condition_legend(panel: ConditionPanel, width: float) -> tuple[list, int]:
    entries = _condition_entries(panel)
    room = width - _HANDLE - 2 * CELL_PAD
    entries = [("\n".join(wrap(label, room, SMALL_SIZE)), h) for label, h in entries]
    widest = max(text_width(ln, SMALL_SIZE) for label, _ in entries for ln in label.split("\n"))
    cols = max(1, min(len(entries), int(width // (widest + _HANDLE + CELL_PAD))))
    return entries, cols


def condition_panels_height(panels: list[ConditionPanel], width: float) -> float:
    """Height in points of the block that draws ``panels`` side by side at ``width`` points."""
    each = width / max(len(panels), 1)
    heights = []
    for panel in panels:
        entries, cols = _condition_legend(panel, each)
        lines = [label.count("\n") + 1 for label, _ in entries]
        rows = [max(lines[i : i + cols]) for i in range(0, len(lines), cols)]
        legend = sum(n * SMALL_SIZE * LEADING + 0.25 * SMALL_SIZE * LEADING for n in rows)
        title = len(wrap(panel.title, each - 30.0, _LABEL_SIZE, "bold")) * _LABEL_SIZE * LEADING
        heights.append(PANEL_HEIGHT * 1.15 + title + legend + 10.0)
    return max(heights, default=0.0)


def draw_condition_panels(sf: SubFigure, panels: list[ConditionPanel], width: float) -> None:
    """Draw the figures of the conditions page side by side, each with its own legend: stored
    edges, the region where the conditions hold (shaded), the threshold and the run's grid
    points (filled: the claim's conditions hold there, open: they fail)."""
    each = width / max(len(panels), 1)
    for sub, panel in zip(sf.subfigures(1, len(panels), squeeze=False).flat, panels, strict=True):
        _draw_condition_panel(sub, panel, each)


def _draw_condition_panel(sf: SubFigure, panel: ConditionPanel, width: float) -> None:
    ax = sf.add_subplot(1, 1, 1)
    ax.set_xscale("log")
    ax.set_yscale("log")
    _log_labels(ax.xaxis)
    _log_labels(ax.yaxis)
    for i, c in enumerate(panel.curves):
        ok = np.isfinite(c.x) & np.isfinite(c.y) & (c.x > 0) & (c.y > 0)
        ax.plot(c.x[ok], c.y[ok], color=series_style(i).color, linestyle=c.linestyle, lw=1.6,
                zorder=3)  # fmt: skip
    for pts in panel.points:
        st = _point_style(panel, pts.claim)
        ax.plot(pts.x, pts.y, color=st.color, marker=st.marker, linestyle="none", markersize=6,
                markerfacecolor=st.color if pts.holds else "white", zorder=5)  # fmt: skip
    if panel.vline is not None:
        ax.axvline(panel.vline[0], color="0.15", linestyle=":", lw=1.4, zorder=2)
    bottom, top = ax.get_ylim()
    if panel.shade_x is not None and panel.shade_low is not None:
        x, low = panel.shade_x, panel.shade_low
        high = panel.shade_high if panel.shade_high is not None else np.full(x.shape, top)
        ok = np.isfinite(x) & np.isfinite(low) & (low > 0)
        high = np.where(np.isfinite(high), high, top)
        ax.fill_between(x[ok], low[ok], high[ok], where=(low <= high)[ok], interpolate=True,
                        color=_SHADE, alpha=0.55, linewidth=0, zorder=1)  # fmt: skip
    ax.set_ylim(bottom, top)
    ax.set_title("\n".join(wrap(panel.title, width - 30.0, _LABEL_SIZE, "bold")),
                 parse_math=False)  # fmt: skip
    ax.set_xlabel(panel.xlabel, parse_math=False)
    ax.set_ylabel(panel.ylabel, parse_math=False)
    entries, cols = _condition_legend(panel, width)
    entries = [e for j in range(cols) for e in entries[j::cols]]
    legend = sf.legend(
        [h for _, h in entries], [label for label, _ in entries], loc="outside lower center",
        ncols=cols, handlelength=2.4, columnspacing=1.4, borderaxespad=0.2, borderpad=0.8,
    )  # fmt: skip
    for text in legend.get_texts():
        text.set_parse_math(False)
