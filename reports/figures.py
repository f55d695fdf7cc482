"""The report's figures: estimates with 95% CIs against exact values and the papers' bounds.

Each stored figure spec becomes one matplotlib figure at the width of the page's text, saved as
an SVG file that the typst document includes (``OUT/export/figures/`` keeps each as a PDF for a
paper). One subplot per panel and one series per line, as the simulation's spec says.

Style (one for every figure, :mod:`theorycheck.reports.style`): each series has its own colour
*and* marker, so the figure reads in grey. An exact value (reference) is dashed and a paper's
bound dotted: in black when it is the same for every series of a panel (as the legend shows
it), otherwise in its series' colour, and the legend says so. The legend sits below the axes.
Tick labels never collide: after layout, labels whose tight boxes would touch a neighbour are
dropped from the axis until none do (:func:`tick_label_overlaps` is the check).

Same input, same bytes: no date in the SVG, ``svg.hashsalt`` fixed by the style, text kept as
text (``svg.fonttype`` none) and set by typst from matplotlib's own font files.
"""

from __future__ import annotations

import functools
import hashlib
import math
import re
import sys
import textwrap
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path

import matplotlib as mpl
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import (
    FixedFormatter,
    FixedLocator,
    FuncFormatter,
    LogFormatterSciNotation,
    LogLocator,
    MaxNLocator,
    NullFormatter,
)

from theorycheck.reports.conditions import ConditionPanel
from theorycheck.reports.data import FigureInfo, FitLabel
from theorycheck.reports.style import (
    SMALL_SIZE,
    TEXT_WIDTH,
    series_style,
    series_styles,
    style_context,
)
from theorycheck.reports.tables import fmt_num

__all__ = [
    "FigureJob",
    "claimed_text",
    "condition_figure",
    "fit_text",
    "fmt_exponent",
    "font_paths",
    "numpy_columns",
    "panel_key",
    "render",
    "stored_figure",
    "tick_label_overlaps",
    "uncrowded",
]

PANEL_HEIGHT = 2.0  # inches per row of panels (axes, title, tick and axis labels)
MAX_HEIGHT = 8.4  # inches: a figure, its caption and a heading fit on an A4 page
_TITLE_LINES = 2  # panel titles longer than this many lines become letters, keyed in the caption
_PAD = 2.0  # points of clear space around every tick label
_DODGE = 0.012  # offset between series at the same x, as a fraction of the x range
_MAX_ERRORBARS = 12  # series with more points get a confidence band instead of error bars
_MAX_GRID_TICKS = 7  # up to this many distinct x values are ticked at the values themselves
_CHAR = 0.6 * SMALL_SIZE / 72  # width of a character of the legend font, inches (generous)
_HANDLE_W = 0.75  # a legend entry's handle and the space between columns, inches
_REF = "0.15"  # an exact value or bound shared by every series of a panel
_MAX_SERIES = 8  # series in one panel: one marker each (the style has eight)


def _panels(rows: pd.DataFrame) -> list[str]:
    return [str(p) for p in dict.fromkeys(rows["panel"])] if len(rows) else []


def _series(rows: pd.DataFrame) -> list[str]:
    return [str(s) for s in dict.fromkeys(rows["series"])] if len(rows) else []


def _grid(n_panels: int) -> tuple[int, int]:
    ncols = 1 if n_panels <= 1 else 2 if n_panels in (2, 4) else 3
    return math.ceil(max(n_panels, 1) / ncols), ncols


def _wrap(label: str, width_in: float, size: float = SMALL_SIZE) -> str:
    """``label`` wrapped to ``width_in`` inches at ``size`` points (DejaVu Sans: a character
    is 0.55-0.62 em wide on average; bold titles use the wider figure)."""
    em = 0.62 if size >= 10.0 else 0.55
    chars = max(12, int(width_in / (em * size / 72)))
    return "\n".join(textwrap.wrap(label, chars, break_on_hyphens=False)) or label


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
    """The slope text of each fitted series and the label of the fitted-line entry."""
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


def _split_position(names_by_panel: dict[str, list[list[str]]]) -> int | None:
    """The part of the series names (``'d = 25, m = 1000, wang'`` split at ', ') to move into
    the panel titles so that no panel holds more than :data:`_MAX_SERIES` series: the one
    giving the fewest panels (the later part on a tie); None when no part does."""
    lengths = {len(parts) for names in names_by_panel.values() for parts in names}
    if len(lengths) != 1 or (n_parts := lengths.pop()) < 2:
        return None
    best: tuple[int, int] | None = None
    for j in range(n_parts):
        sizes = [
            sum(parts[j] == value for parts in names)
            for names in names_by_panel.values()
            for value in {parts[j] for parts in names}
        ]
        if len({parts[j] for names in names_by_panel.values() for parts in names}) < 2:
            continue
        if max(sizes) <= _MAX_SERIES and (best is None or len(sizes) <= best[0]):
            best = (len(sizes), j)
    return None if best is None else best[1]


def uncrowded(info: FigureInfo) -> FigureInfo:
    """``info`` with no panel holding more than :data:`_MAX_SERIES` series: when one does, a
    part of the series names (the scaling of ``'d = 25, m = 1000, wang'``) moves into the panel
    titles (``'relu, wang'``), one panel per value; the rows, their values and the fits are
    unchanged. Figures whose series names have no such part are returned as they are
    (docs/design.md "Reports": figures a reader takes in at a glance)."""
    rows = info.rows
    if not len(rows) or rows.groupby("panel")["series"].nunique().max() <= _MAX_SERIES:
        return info
    by_panel = {
        p: [s.split(", ") for s in _series(rows[rows["panel"].astype(str) == p])]
        for p in _panels(rows)
    }
    j = _split_position(by_panel)
    if j is None:
        return info

    def moved(panel: str, series: str) -> tuple[str, str]:
        parts = series.split(", ")
        head = "" if panel in ("", "main") else f"{panel}, "
        return head + parts[j], ", ".join(parts[:j] + parts[j + 1 :])

    pairs = [moved(str(p), str(s)) for p, s in zip(rows["panel"], rows["series"], strict=True)]
    # Panels in the order of the old panels, then of the moved part's first appearance.
    old_order = {p: k for k, p in enumerate(_panels(rows))}
    parts = [str(s).split(", ")[j] for s in rows["series"]]
    part_order = {v: k for k, v in enumerate(dict.fromkeys(parts))}
    order = np.argsort(
        [old_order[str(p)] * len(part_order) + part_order[v]
         for p, v in zip(rows["panel"], parts, strict=True)],
        kind="stable",
    )  # fmt: skip
    new = rows.assign(panel=[p for p, _ in pairs], series=[s for _, s in pairs]).iloc[order]
    fits = {moved(p, s): fit for (p, s), fit in info.fits.items()}
    return replace(info, rows=new.reset_index(drop=True), fits=fits)


def _shared(rows: pd.DataFrame, column: str) -> bool:
    """Whether ``column`` (reference or bound) is the same for every series at each (panel, x):
    then it is one line, drawn in black."""
    if column not in rows or not rows[column].notna().any():
        return True
    sub = rows[rows[column].notna()]
    spread = sub.groupby(["panel", "x"])[column].agg(lambda s: s.max() - s.min())
    scale = sub[column].abs().max()
    return bool((spread <= 1e-12 * max(scale, 1.0)).all())


def _legend_entries(info: FigureInfo) -> list[tuple[str, Line2D]]:
    slopes, fit_line = _fit_labels(info)
    entries = []
    names = _series(info.rows)
    for name, st in zip(names, series_styles(names, info.series_order), strict=True):
        label = f"{name}: {slopes[name]}" if name in slopes else name
        entries.append(
            (label, Line2D([], [], color=st.color, marker=st.marker, markerfacecolor=st.facecolor))
        )
    for column, label, ls in (("reference", info.reference_label, "--"),
                              ("bound", info.bound_label, ":")):  # fmt: skip
        if column in info.rows and info.rows[column].notna().any():
            if not _shared(info.rows, column):
                label += " (in its series' colour)"
            entries.append((label, Line2D([], [], color=_REF, linestyle=ls, linewidth=1.4)))
    if fit_line:
        entries.append(
            (fit_line + " (in its series' colour)",
             Line2D([], [], color=_REF, linestyle="-.", linewidth=1.2))
        )  # fmt: skip
    return entries


@functools.lru_cache(maxsize=4096)
def _text_width(label: str, size: float = SMALL_SIZE) -> float:
    """The width of ``label`` in the legend's font, inches (measured, not estimated)."""
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import text_to_path

    w, _, _ = text_to_path.get_text_width_height_descent(
        label, FontProperties(family="DejaVu Sans", size=size), ismath=False
    )
    return w / 72


def _legend_layout(entries: list, width: float) -> tuple[int, list[str]]:
    """The most legend columns (up to 6) whose widest entries fit side by side in ``width``
    inches, entries read row by row; one column with labels wrapped when none fit."""
    lens = [_text_width(label) for label, _ in entries]
    for cols in range(min(len(entries), 6), 1, -1):
        need = sum(max(lens[j::cols]) + _HANDLE_W for j in range(cols))
        if need <= width:
            return cols, [label for label, _ in entries]
    return 1, [_wrap(label, width - _HANDLE_W) for label, _ in entries]


def _legend(fig: Figure, entries: list, width: float, height: float | None = None) -> None:
    if not entries:
        return
    cols, labels = _legend_layout(entries, width)
    handles = [h for _, h in entries]
    # Matplotlib fills legend columns first; reorder so the entries read row by row.
    order = [k for j in range(cols) for k in range(j, len(entries), cols)]
    legend = fig.legend(
        [handles[k] for k in order],
        [labels[k] for k in order],
        ncols=cols,
        handlelength=2.4,
        columnspacing=1.4,
        **(
            {"loc": "outside lower center"}
            if height is None
            else {"loc": "lower center", "bbox_to_anchor": (0.5, 0.0), "borderaxespad": 0.1}
        ),
    )
    for text in legend.get_texts():
        text.set_parse_math(False)


def _legend_lines(entries: list, width: float) -> int:
    """Lines of text the legend of ``entries`` takes (rows of the layout, wrapped labels)."""
    if not entries:
        return 0
    cols, labels = _legend_layout(entries, width)
    return sum(
        max(label.count("\n") + 1 for label in labels[k : k + cols])
        for k in range(0, len(labels), cols)
    )


_LINE = 10.0 * 1.3 / 72  # one line of a panel title or axis label, inches
_TICKS = 0.3  # x tick labels under an axes, inches
_YTICKS = 0.58  # y tick labels left of an axes, inches


def stored_figure(info: FigureInfo, width: float = TEXT_WIDTH) -> Figure:
    """A stored figure spec drawn as one matplotlib figure ``width`` inches wide.

    The panels sit on a fixed grid (margins in inches for the wrapped titles, tick and axis
    labels, the legend below): a layout engine would measure every label twice per figure,
    the report's slowest step.
    """
    info = uncrowded(replace(info, rows=numpy_columns(info.rows)))
    rows = info.rows
    panels = _panels(rows)
    nrows, ncols = _grid(len(panels))
    keyed = panel_key(info, width) is not None
    entries = _legend_entries(info) if panels else []
    legend_h = _legend_lines(entries, width) * SMALL_SIZE * 1.45 / 72 + 0.2
    one = len(panels) <= 1
    panel_w = (width * 4 / 6) if one else width / ncols
    axes_room = (panel_w - _YTICKS - 0.2) if not one else panel_w - 1.0
    titles = [
        _panel_title(k, p, axes_room, keyed)
        for k, p in enumerate(panels)
        if len(panels) > 1 or p not in ("", "main")
    ]
    title_h = max((t.count("\n") + 1 for t in titles), default=0) * _LINE + 0.08
    xlabel = _wrap(info.xlabel, panel_w - 0.4, 10.0)
    xlabel_h = (xlabel.count("\n") + 1) * _LINE
    # Between rows: the lower row's titles and the upper row's tick labels, and its x label
    # when a panel of it stands above an empty slot of a partial last row.
    partial = nrows > 1 and len(panels) % ncols != 0
    gap_h = title_h + _TICKS + (xlabel_h if partial else 0.0) + 0.1
    fixed = title_h + (nrows - 1) * gap_h + _TICKS + xlabel_h + legend_h + 0.1
    row_h = PANEL_HEIGHT * (1.1 if one else 1.0) - title_h - _TICKS - xlabel_h
    # Many rows of panels: shorter axes rather than a figure taller than the page.
    axes_h = max(0.9, min(row_h, (MAX_HEIGHT - fixed) / nrows))
    # The y label: one line along the axes (all rows), else one line above them.
    block = nrows * axes_h + (nrows - 1) * gap_h
    ysize = _ylabel_size(info.ylabel, block + 2 * min(title_h, _TICKS + xlabel_h))
    header = "" if ysize else _wrap(info.ylabel, width - 0.3, 10.0)
    header_h = (header.count("\n") + 1) * _LINE + 0.04 if header else 0.0
    if header:
        fixed += header_h
        axes_h = max(0.9, min(row_h, (MAX_HEIGHT - fixed) / nrows))
        block = nrows * axes_h + (nrows - 1) * gap_h
    ylabel_w = _LINE if ysize else 0.0
    height = fixed + nrows * axes_h
    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)  # measures text for the tick-label check
    if not panels:
        fig.text(0.5, 0.5, "no data stored for this figure", ha="center", va="center",
                 parse_math=False)  # fmt: skip
        return fig
    series = _series(rows)
    left = 0.12 + ylabel_w + _YTICKS
    right = 0.12
    if one:
        left = right = (width - (panel_w - left)) / 2
    gap_w = _YTICKS + 0.12
    axes_w = (width - left - right - (ncols - 1) * gap_w) / ncols
    gs = fig.add_gridspec(
        nrows, ncols,
        left=left / width, right=1 - right / width,
        top=1 - (header_h + title_h + 0.05) / height,
        bottom=(legend_h + _TICKS + xlabel_h + 0.05) / height,
        wspace=gap_w / axes_w, hspace=gap_h / axes_h,
    )  # fmt: skip
    axes = [fig.add_subplot(gs[divmod(k, ncols)]) for k in range(len(panels))]
    for k, panel in enumerate(panels):
        ax = axes[k]
        r = k // ncols
        _draw_panel(ax, rows[rows["panel"] == panel], series, info)
        if _is_proportion(info):
            ax.set_ylim(*_proportion_limits(rows[rows["panel"] == panel]))
        if len(panels) > 1 or panel not in ("", "main"):
            ax.set_title(_panel_title(k, panel, axes_room, keyed), parse_math=False)
        if r == nrows - 1 or k + ncols >= len(panels):
            ax.set_xlabel(xlabel, parse_math=False)
    label_x = (left - _YTICKS - ylabel_w) / width
    if ysize:
        # One label for every row, centred on them (no row's label wraps in its own height).
        mid = 1 - (header_h + title_h + 0.05 + block / 2) / height
        fig.text(label_x, mid, info.ylabel, rotation=90, ha="left", va="center",
                 fontsize=ysize, parse_math=False)  # fmt: skip
    else:
        fig.text(label_x, 1 - 0.04 / height, header, ha="left", va="top",
                 fontsize=mpl.rcParams["axes.labelsize"], parse_math=False)  # fmt: skip
    _legend(fig, entries, width, legend_h / height)
    return fig


def numpy_columns(rows: pd.DataFrame) -> pd.DataFrame:
    """``rows`` with each Arrow-backed string column that has no missing value as a NumPy
    column of the same strings (a missing value keeps its column as it is: ``astype(str)``
    treats it differently). Same values; a figure's many per-panel and per-series selections
    and sorts take a tenth less of its drawing time."""
    cols = {}
    for name in rows.columns:
        col = rows[name]
        arrow = isinstance(col.dtype, pd.StringDtype | pd.ArrowDtype)
        cols[name] = col.astype(object) if arrow and col.notna().all() else col
    return pd.DataFrame(cols, index=rows.index)


def _ylabel_size(label: str, room: float) -> float | None:
    """The font size (10 pt, else the 9 pt floor) at which ``label`` fits on one line in
    ``room`` inches along the y axis; None when it fits at neither (it goes above the axes)."""
    for size in (10.0, SMALL_SIZE):
        if _text_width(label, size) <= room:
            return size
    return None


#: Axis labels of proportions (accuracies, fractions, probabilities, classification errors).
_PROPORTION = re.compile(r"accuracy|fraction|probability|^P\(|(^|\s)error\b", re.IGNORECASE)


def _is_proportion(info: FigureInfo) -> bool:
    """Whether ``info``'s y axis shows a proportion: its label says so, the axis is linear and
    every estimate lies in [0, 1]."""
    if info.logy or not _PROPORTION.search(info.ylabel) or "estimate" not in info.rows:
        return False
    est = info.rows["estimate"].astype(float).to_numpy()
    est = est[np.isfinite(est)]
    return bool(est.size) and bool(((est >= 0) & (est <= 1)).all())


def _proportion_limits(rows: pd.DataFrame) -> tuple[float, float]:
    """The y range of a panel of proportions: the data (estimates, intervals, exact values,
    bounds) clipped to [0, 1] and padded; the whole of [0, 1] when the data barely vary (a
    robust accuracy of 0 everywhere is drawn at the foot of a 0-1 axis, not in the middle
    of -0.05..0.05)."""
    cols = [c for c in ("estimate", "ci_low", "ci_high", "reference", "bound") if c in rows]
    v = rows[cols].astype(float).to_numpy().ravel()
    v = np.clip(v[np.isfinite(v)], 0.0, 1.0)
    margin = 0.05
    if v.size == 0 or v.max() - v.min() < 0.1:
        return -margin, 1 + margin
    pad = 0.08 * (v.max() - v.min())
    return max(v.min() - pad, -margin), min(v.max() + pad, 1 + margin)


def _letter(k: int) -> str:
    return f"({chr(ord('a') + k)})" if k < 26 else f"({k + 1})"


def _panel_title(k: int, panel: str, room: float, keyed: bool) -> str:
    return _letter(k) if keyed else _wrap(panel, room, 10.0)


def panel_key(info: FigureInfo, width: float = TEXT_WIDTH) -> list[str] | None:
    """When a figure's panel titles would wrap to more than two lines above their axes, the
    panels are lettered and this key ('(a) title', ...) goes into the caption; else None."""
    panels = _panels(uncrowded(info).rows)
    if len(panels) < 2:
        return None
    _, ncols = _grid(len(panels))
    room = width / ncols - _YTICKS - 0.2
    if max(_wrap(p, room, 10.0).count("\n") + 1 for p in panels) <= _TITLE_LINES:
        return None
    return [f"{_letter(k)} {p}" for k, p in enumerate(panels)]


_SUPERSCRIPT = str.maketrans("0123456789-+", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻⁺")
_MATHTEXT_POWER = re.compile(r"^\$\\mathdefault\{(?:([0-9.]+)\\times)?10\^\{([-−]?[0-9]+)\}\}\$$")


def _power(exponent: int, mantissa: str = "") -> str:
    """10^k as plain text with superscript digits (no mathtext to parse: a tenth of a figure's
    drawing time went to parsing tick labels)."""
    return f"{mantissa + '×' if mantissa else ''}10{str(exponent).translate(_SUPERSCRIPT)}"


def _plain_power(label: str) -> str:
    """matplotlib's mathtext tick label ``$\\mathdefault{2\\times10^{-3}}$`` as ``2×10⁻³``;
    any other label unchanged."""
    m = _MATHTEXT_POWER.match(label)
    return _power(int(m.group(2).replace("−", "-")), m.group(1) or "") if m else label


def _tick_label(values: np.ndarray):
    """Tick labels for grid values: 10^k when every value is a power of ten, else plain."""
    exps = np.log10(values, out=np.full(values.shape, 0.5), where=values > 0)
    if np.allclose(exps, np.round(exps)) and values.max() >= 1000:
        return lambda v, _pos: _power(round(math.log10(v))) if v > 0 else ""
    return lambda v, _pos: _grid_num(v)


def _grid_num(v: float) -> str:
    """A grid value under its tick: whole numbers below 10^6 in full (25600, not 2.56e4:
    the ticks' neighbours are 1600 and 6400), anything else as the tables write it."""
    if float(v).is_integer() and abs(v) < 1e6:
        return f"{int(v)}".replace("-", "−")
    return fmt_num(v)


def _decades_in_view(axis) -> int:
    """How many powers of ten lie inside ``axis``'s view (its labelled major ticks)."""
    lo, hi = sorted(axis.get_view_interval())
    if not (lo > 0 and math.isfinite(hi)):
        return 0
    return max(0, math.floor(math.log10(hi) + 1e-9) - math.ceil(math.log10(lo) - 1e-9) + 1)


def _log_tick_text(v: float) -> str:
    """A log-axis tick label: plain (0.2, 50, 2000) in [0.01, 10^4), else m×10^k."""
    if 1e-2 <= abs(v) < 1e4:
        return fmt_num(v)
    k = math.floor(math.log10(abs(v)) + 1e-9)
    mantissa = f"{v / 10**k:.3g}"
    return _power(k, "" if mantissa == "1" else mantissa)


class _LogLabels(LogFormatterSciNotation):
    """Log-axis labels: plain numbers (1, 2, 5, 10, 200) when every labelled tick lies in
    [0.01, 10^4), powers of ten otherwise; which ticks get a label is matplotlib's choice,
    except that when fewer than two powers of ten lie in view every minor tick is labelled
    (an axis from 0.11 to 0.57 reads '0.2 0.5', not a lone '0.2')."""

    def format_ticks(self, values):
        if not self.labelOnlyBase and self.axis is not None and _decades_in_view(self.axis) < 2:
            return [_log_tick_text(v) for v in values]
        labels = super().format_ticks(values)
        shown = [v for v, label in zip(values, labels, strict=True) if label]
        if shown and all(1e-2 <= abs(v) < 1e4 for v in shown):
            return [fmt_num(v) if label else "" for v, label in zip(values, labels, strict=True)]
        return [_plain_power(label) for label in labels]


class _LogMinor(LogLocator):
    """Minor ticks of a log axis at 2 and 5 times the powers of ten (the eight per decade cost
    most of a figure's drawing time and add nothing a reader uses); on an axis too short to
    hold two ticks that way (0.11 to 0.19), a few round values in between instead."""

    def __init__(self) -> None:
        super().__init__(subs=(2.0, 5.0))

    def tick_values(self, vmin, vmax):
        lo, hi = sorted((vmin, vmax))
        if not (lo > 0 and math.isfinite(hi)) or hi / lo >= 100:
            return super().tick_values(vmin, vmax)  # two powers of ten in view at least
        # Below two decades matplotlib's own minor locator falls back to linear ticks every
        # 0.005 (0.015, 0.02, ..., 0.05), too many to label: 2x and 5x here, or a few.
        ks = np.arange(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1)
        ticks = (np.array([[2.0], [5.0]]) * 10.0**ks).T.ravel()
        inside = lambda t: t[(t >= lo * (1 - 1e-9)) & (t <= hi * (1 + 1e-9))]  # noqa: E731
        if inside(ticks).size + inside(10.0**ks).size >= 2:
            return ticks
        linear = MaxNLocator(nbins=3, steps=[1, 2, 2.5, 5, 10]).tick_values(lo, hi)
        linear = inside(linear[linear > 0])
        # Not where a major tick (a power of ten) already stands.
        return linear[np.abs(np.log10(linear) - np.round(np.log10(linear))) > 1e-9]


def _log_labels(axis) -> None:
    axis.set_major_formatter(_LogLabels())
    axis.set_minor_formatter(_LogLabels(labelOnlyBase=False))
    axis.set_minor_locator(_LogMinor())


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

    def shift(x: np.ndarray, name: str) -> np.ndarray:
        offsets = []
        for xv in x:
            at = present.get(float(xv), [name])
            offsets.append(at.index(name) - (len(at) - 1) / 2 if name in at else 0.0)
        off = np.asarray(offsets, dtype=float) * step
        return x * 10.0**off if info.logx else x + off

    shared = {c: _shared(rows, c) for c in ("reference", "bound")}
    drawn_shared: set[str] = set()
    for name, st in zip(series, series_styles(series, info.series_order), strict=True):
        sub = rows[rows["series"].astype(str) == name].sort_values("x", kind="stable")
        if sub.empty:
            continue
        x = sub["x"].astype(float).to_numpy()
        est = sub["estimate"].astype(float).to_numpy()
        lo = sub["ci_low"].astype(float).to_numpy()
        hi = sub["ci_high"].astype(float).to_numpy()
        ok = np.isfinite(x) & np.isfinite(est)
        if info.logx:
            ok &= x > 0
        if info.logy:
            ok &= est > 0
        xd = shift(x, name)
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
            ax.fill_between(x[ok], (est - yerr[0])[ok], (est + yerr[1])[ok], color=st.color,
                            alpha=0.22, linewidth=0, zorder=2)  # fmt: skip
            ax.plot(x[ok], est[ok], color=st.color, marker=st.marker,
                    markerfacecolor=st.facecolor, markevery=max(1, int(ok.sum()) // 8),
                    linewidth=1.1, zorder=3)  # fmt: skip
        elif ok.any():
            ax.errorbar(xd[ok], est[ok], yerr=yerr[:, ok], color=st.color, marker=st.marker,
                        markerfacecolor=st.facecolor, markeredgecolor=st.color, linestyle="-",
                        linewidth=0.9, elinewidth=1.0, zorder=3)  # fmt: skip
        for column, ls, lw in (("reference", "--", 1.1), ("bound", ":", 1.6),
                               ("fitted", "-.", 1.2)):  # fmt: skip
            if column not in sub:
                continue
            one = shared.get(column, False)
            if one and column in drawn_shared:
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
            if one:
                drawn_shared.add(column)
                # Every series shares this line: draw it over all x of the panel.
                allx = rows[rows[column].notna()].drop_duplicates("x").sort_values("x")
                xs = allx["x"].astype(float).to_numpy()
                ys = allx[column].astype(float).to_numpy()
                keep = np.isfinite(xs) & np.isfinite(ys)
                keep &= (xs > 0) if info.logx else True
                keep &= (ys > 0) if info.logy else True
                xs, ys = xs[keep], ys[keep]
                if not xs.size:
                    continue
            if xs.size == 1:
                # A single grid point: a short horizontal segment around its (offset) marker.
                half = step * (len(present.get(float(xs[0]), [name])) / 2 + 1)
                xs = (
                    xs[0] * 10.0 ** np.array([-half, half])
                    if info.logx
                    else xs[0] + np.array([-half, half])
                )
                ys = np.repeat(ys, 2)
            ax.plot(xs, ys, color=_REF if one else st.color, linestyle=ls, linewidth=lw,
                    zorder=2.5)  # fmt: skip


# -- the width windows -------------------------------------------------------------------------
_SHADE = "#9ecae1"  # light blue: reads as a light grey in print


def _point_style(panel: ConditionPanel, claim: str):
    claims = list(dict.fromkeys(p.claim for p in panel.points))
    return series_style(len(panel.curves) + claims.index(claim))


def _condition_entries(panel: ConditionPanel) -> list:
    entries: list = []
    for i, c in enumerate(panel.curves):
        st = series_style(i)
        entries.append((c.label, Line2D([], [], color=st.color, linestyle=c.linestyle, lw=1.6)))
    if panel.shade_x is not None:
        entries.append((panel.shade_label, Patch(facecolor=_SHADE, edgecolor="none")))
    if panel.vline is not None and not _offscale(panel, *_view(panel)[0]):
        # (A threshold beyond the axes is marked by an arrow in them instead.)
        entries.append((panel.vline[1], Line2D([], [], color=_REF, linestyle=":", lw=1.4)))
    for pts in panel.points:
        st = _point_style(panel, pts.claim)
        what = "inside" if pts.holds else "outside"
        n = len(pts.x)
        entries.append(
            (
                f"{pts.claim}: conditions {what} ({n} grid point{'s' if n != 1 else ''})",
                Line2D([], [], color=st.color, marker=st.marker, linestyle="none",
                       markerfacecolor=st.color if pts.holds else "white", markersize=6),
            )
        )  # fmt: skip
    return entries


_NEAR = 1.5  # decades: an edge this close to the grid points' range is kept in view
_VIEW_PAD = 0.3  # decades of clear space around what the axes show


def _positive(*arrays: np.ndarray) -> np.ndarray:
    v = np.concatenate([np.asarray(a, dtype=float).ravel() for a in arrays]) if arrays else []
    v = np.asarray(v, dtype=float)
    return v[np.isfinite(v) & (v > 0)]


def _view(panel: ConditionPanel) -> tuple[tuple[float, float], tuple[float, float]]:
    """Axis limits from what the panel is about, the run's grid points: x spans them; y spans
    them and the edges' values over that x range that lie within :data:`_NEAR` decades of
    them. Far-off values (an upper edge exp(d^0.24) reaching 1e34, a window opening at
    d = 3e6 with m = 4e15) stay off the axes (:func:`_offscale_note` marks where the window
    opens); they would squeeze the grid into a corner. Without grid points: the curves."""
    x = _positive(*(p.x for p in panel.points))
    y = _positive(*(p.y for p in panel.points))
    if not x.size or not y.size:
        x = _positive(*(c.x for c in panel.curves), *(p.x for p in panel.points))
        y = _positive(*(c.y for c in panel.curves), *(p.y for p in panel.points))
        if panel.vline is not None:
            x = np.append(x, panel.vline[0])
        lx, ly = np.log10(x), np.log10(y)
        return (
            (10 ** (lx.min() - _VIEW_PAD), 10 ** (lx.max() + _VIEW_PAD)),
            (10 ** (ly.min() - _VIEW_PAD), 10 ** (ly.max() + _VIEW_PAD)),
        )
    lx = np.log10(x)
    x0, x1 = 10 ** (lx.min() - _VIEW_PAD), 10 ** (lx.max() + _VIEW_PAD)
    ly = np.log10(y)
    near = [ly]
    for c in panel.curves:
        ok = np.isfinite(c.x) & np.isfinite(c.y) & (c.x > 0) & (c.y > 0)
        if ok.sum() < 2:
            continue
        # The edge over the view's x range: its stored points there and its ends at x0, x1.
        cx, cy = np.log10(c.x[ok]), np.log10(c.y[ok])
        at = np.concatenate([cx[(cx >= math.log10(x0)) & (cx <= math.log10(x1))],
                             [math.log10(x0), math.log10(x1)]])  # fmt: skip
        at = at[(at >= cx.min()) & (at <= cx.max())]
        vals = np.interp(at, cx, cy)
        near.append(vals[(vals >= ly.min() - _NEAR) & (vals <= ly.max() + _NEAR)])
    ly = np.concatenate(near)
    return (x0, x1), (10 ** (ly.min() - _VIEW_PAD), 10 ** (ly.max() + _VIEW_PAD))


def _offscale(panel: ConditionPanel, x0: float, x1: float) -> str:
    """'right' or 'left' when the panel's threshold (where the window opens) lies beyond the
    x range shown, else ''."""
    if panel.vline is None:
        return ""
    return "right" if panel.vline[0] > x1 else "left" if panel.vline[0] < x0 else ""


def _offscale_note(ax, panel: ConditionPanel, side: str) -> None:
    """Mark a threshold beyond the axes: an arrow at that edge, labelled with its value."""
    where = 0.98 if side == "right" else 0.02
    label = panel.vline[1] + (" →" if side == "right" else "")
    label = ("← " + label) if side == "left" else label
    ax.annotate(label, xy=(1.0 if side == "right" else 0.0, 0.93), xycoords="axes fraction",
                xytext=(where, 0.93), textcoords="axes fraction", ha=side, va="center",
                fontsize=SMALL_SIZE, color=_REF, parse_math=False,
                bbox={"facecolor": "white", "edgecolor": "none", "pad": 1.0},
                zorder=6)  # fmt: skip


def condition_figure(panels: list[ConditionPanel], width: float = TEXT_WIDTH) -> Figure:
    """The width-window panels side by side, each with its legend below: stored edges, the
    region where the conditions hold (shaded), where the window opens and the run's grid
    points (filled: the claim's conditions hold there, open: they fail)."""
    each = width / max(len(panels), 1)
    lines = max(_legend_lines(_condition_entries(p), each) for p in panels)
    height = PANEL_HEIGHT * 1.35 + lines * SMALL_SIZE * 1.45 / 72 + 0.5
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    subs = fig.subfigures(1, len(panels), squeeze=False).flat
    for sub, panel in zip(subs, panels, strict=True):
        _condition_panel(sub, panel, each)
    return fig


def _condition_panel(sf, panel: ConditionPanel, width: float) -> None:
    ax = sf.add_subplot(1, 1, 1)
    ax.set_xscale("log")
    ax.set_yscale("log")
    _log_labels(ax.xaxis)
    _log_labels(ax.yaxis)
    (x0, x1), (y0, y1) = _view(panel)
    for i, c in enumerate(panel.curves):
        ok = np.isfinite(c.x) & np.isfinite(c.y) & (c.x > 0) & (c.y > 0)
        ax.plot(c.x[ok], c.y[ok], color=series_style(i).color, linestyle=c.linestyle, lw=1.6,
                zorder=3)  # fmt: skip
    for pts in panel.points:
        st = _point_style(panel, pts.claim)
        ax.plot(pts.x, pts.y, color=st.color, marker=st.marker, linestyle="none", markersize=6,
                markerfacecolor=st.color if pts.holds else "white", zorder=5)  # fmt: skip
    side = _offscale(panel, x0, x1)
    if panel.vline is not None and not side:
        ax.axvline(panel.vline[0], color=_REF, linestyle=":", lw=1.4, zorder=2)
    elif side:
        _offscale_note(ax, panel, side)
    if panel.shade_x is not None and panel.shade_low is not None:
        x, low = panel.shade_x, panel.shade_low
        high = panel.shade_high if panel.shade_high is not None else np.full(x.shape, np.inf)
        high = np.where(np.isfinite(high), np.minimum(high, y1 * 10), y1 * 10)
        ok = np.isfinite(x) & np.isfinite(low) & (low > 0)
        ax.fill_between(x[ok], low[ok], high[ok], where=(low <= high)[ok], interpolate=True,
                        color=_SHADE, alpha=0.55, linewidth=0, zorder=1)  # fmt: skip
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_title(_wrap(panel.title, width - 0.4, 10.0), parse_math=False)
    ax.set_xlabel(panel.xlabel, parse_math=False)
    ax.set_ylabel(panel.ylabel, parse_math=False)
    entries = _condition_entries(panel)
    _legend(sf, entries, width)


# -- tick labels ---------------------------------------------------------------------------------
def _shown_labels(axis) -> list[tuple[float, object]]:
    """(location, label) of the tick labels an axis draws: inside its view, visible, not
    blank (matplotlib keeps tick objects for locations outside the view, undrawn)."""
    lo, hi = sorted(axis.get_view_interval())
    span = (hi - lo) * 1e-9
    out = []
    for locs, labels in (
        (axis.get_majorticklocs(), axis.get_majorticklabels()),
        (axis.get_minorticklocs(), axis.get_minorticklabels()),
    ):
        for loc, label in zip(locs, labels, strict=False):
            if lo - span <= loc <= hi + span and label.get_visible() and label.get_text():
                out.append((loc, label))
    return out


def _tick_boxes(fig: Figure, renderer) -> list[tuple[object, str, object, object]]:
    """(axes, 'x' or 'y', label, tight box) of every tick label ``fig`` draws."""
    out = []
    for ax in fig.get_axes():
        for which, axis in (("x", ax.xaxis), ("y", ax.yaxis)):
            for _, label in _shown_labels(axis):
                out.append((ax, which, label, label.get_window_extent(renderer)))
    return out


def tick_label_overlaps(fig: Figure) -> list[str]:
    """Pairs of tick labels whose tight boxes come closer than ``_PAD`` points (they collide
    or touch), and tick labels that run into another axes' frame (a right panel's y labels
    touching the left panel), as readable lines."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    boxes = _tick_boxes(fig, renderer)
    pad = _PAD * fig.dpi / 72 / 2  # half the clear space on each box: touching counts
    out = []
    for i, (ax1, _, l1, b1) in enumerate(boxes):
        for _ax2, _, l2, b2 in boxes[i + 1 :]:
            if b1.padded(pad).overlaps(b2.padded(pad)):
                out.append(f"'{l1.get_text()}' and '{l2.get_text()}' overlap")
        for ax in fig.get_axes():
            if ax is not ax1 and b1.overlaps(ax.get_window_extent(renderer)):
                out.append(f"'{l1.get_text()}' runs into another panel")
    return out


def _thin_colliding_labels(fig: Figure) -> bool:
    """Blank every other label of an axis whose tick labels collide, until none do; the
    axis's ticks are frozen (fixed locations and texts) so later draws keep the choice.
    Returns whether any label was blanked. The figure must have been drawn (at any dpi: the
    labels' boxes are measured afresh)."""
    thinned = False
    for attempt in range(5):
        if attempt:  # the caller drew the figure once already
            fig.draw_without_rendering()
        renderer = fig.canvas.get_renderer()
        changed = False
        for ax in fig.get_axes():
            for axis in (ax.xaxis, ax.yaxis):
                shown = _shown_labels(axis)
                pad = _PAD * fig.dpi / 72 / 2
                boxes = [lb.get_window_extent(renderer).padded(pad) for _, lb in shown]
                clash = sorted(
                    {b for a in range(len(boxes)) for b in range(a + 1, len(boxes))
                     if boxes[a].overlaps(boxes[b])}
                )  # fmt: skip
                if not clash:
                    continue
                drop = {shown[k][0] for k in clash[::2]}
                majors = [
                    (loc, "" if loc in drop else lb.get_text())
                    for loc, lb in zip(axis.get_majorticklocs(), axis.get_majorticklabels(),
                                       strict=False)
                ]  # fmt: skip
                minors = [
                    (loc, "" if loc in drop else lb.get_text())
                    for loc, lb in zip(axis.get_minorticklocs(), axis.get_minorticklabels(),
                                       strict=False)
                ]  # fmt: skip
                axis.set_major_locator(FixedLocator([loc for loc, _ in majors]))
                axis.set_major_formatter(FixedFormatter([t for _, t in majors]))
                axis.set_minor_locator(FixedLocator([loc for loc, _ in minors]))
                axis.set_minor_formatter(FixedFormatter([t for _, t in minors]))
                changed = thinned = True
        if not changed:
            break
    return thinned


def _update(h, value) -> None:
    """Feed ``value`` (numbers, strings, arrays, dataclasses, sequences) into the hash ``h``."""
    if isinstance(value, np.ndarray):
        h.update(repr((value.dtype.str, value.shape)).encode())
        h.update(np.ascontiguousarray(value).tobytes())
    elif isinstance(value, list | tuple):
        h.update(b"[")
        for v in value:
            _update(h, v)
        h.update(b"]")
    elif hasattr(value, "__dataclass_fields__"):
        for v in vars(value).values():
            _update(h, v)
    else:
        h.update(repr(value).encode())


#: The drawing code and the libraries that draw: a change to any of them redraws every figure.
_CODE = hashlib.sha256(
    b"".join(
        Path(m.__file__).read_bytes()
        for m in (sys.modules[__name__], sys.modules["theorycheck.reports.style"])
    )
    + f"matplotlib {mpl.__version__} seaborn {sns.__version__}".encode()
).digest()


@dataclass(frozen=True)
class FigureJob:
    """One figure to draw and where to save it."""

    path: Path
    info: FigureInfo | None = None
    panels: tuple[ConditionPanel, ...] = ()

    def fingerprint(self) -> str:
        """A hash of everything the figure is drawn from: its stored rows, spec and fits (or
        panels), the drawing code and the versions of matplotlib and seaborn. Computed once
        per job (serialising the rows is most of its cost; a build asks several times)."""
        memo = self.__dict__.get("_fingerprint")
        if memo is None:
            memo = self._fingerprint_now()
            object.__setattr__(self, "_fingerprint", memo)  # frozen: the value never changes
        return memo

    def _fingerprint_now(self) -> str:
        h = hashlib.sha256(_CODE)
        if self.info is not None:
            i = self.info
            h.update(repr((i.name, i.title, i.xlabel, i.ylabel, i.logx, i.logy, i.caption,
                           i.reference_label, i.bound_label, i.series_order,
                           sorted(i.fits.items()))).encode())  # fmt: skip
            h.update(i.rows.to_csv(index=False).encode())
        for p in self.panels:
            for value in vars(p).values():
                _update(h, value)
        return h.hexdigest()[:32]

    @property
    def cost(self) -> int:
        """A rough drawing cost (panels and points), to hand out the largest first."""
        if self.info is None:
            return 10_000
        rows = self.info.rows
        return len(rows) + 200 * (rows["panel"].nunique() if len(rows) else 0)


def _draw(job: FigureJob) -> Figure:
    if job.info is not None:
        return stored_figure(job.info)
    return condition_figure(list(job.panels))


def render(job: FigureJob) -> Path:
    """Draw ``job``'s figure in the report style and save it as SVG (text kept as text in
    DejaVu Sans, which typst embeds from matplotlib's font files; no date in the file)."""
    meta = {"Date": None, "Creator": "theorycheck"}
    with style_context():
        fig = _draw(job)
        job.path.parent.mkdir(parents=True, exist_ok=True)
        # Saving draws the figure (and runs the width-window figure's layout engine); the
        # tick labels are checked after it and the figure saved again only if some collide.
        fig.savefig(job.path, format="svg", metadata=meta)
        fig.set_layout_engine("none")  # keep that layout: later draws only place the ticks
        if _thin_colliding_labels(fig):
            fig.savefig(job.path, format="svg", metadata=meta)
    return job.path


def font_paths() -> list[str]:
    """Where the figures' fonts are (matplotlib's DejaVu files): typst embeds them from there."""
    return [str(Path(mpl.get_data_path()) / "fonts" / "ttf")]
