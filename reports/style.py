"""The one plotting style of the report's figures: text width, fonts, series styles.

Everything the report draws goes through :func:`style_context`, a ``matplotlib.rc_context``
built from seaborn's "ticks" style and overrides; nothing here touches global matplotlib state,
so importing :mod:`reports` never changes a user's plots. Figures are drawn at the width of the
page's text (:data:`TEXT_WIDTH`) and included at 100%, so sizes are in points on the page and
no font is smaller than 9 pt.

Stored strings (statistics, labels, ids) may contain ``$`` or ``^``: every text the report
draws from them is created with ``parse_math=False``; tick labels write powers of ten with
superscript digits (10⁻³), so no text goes through mathtext.

Greyscale: series differ by marker as well as colour; an exact reference is always dashed and
a paper's bound always dotted, so a printout in black and white still reads correctly.

The lazy-ball constant C0 has one colour in every figure: a series labelled ``C0 = v`` is drawn
in :func:`c0_color` (a sequential map, darker for larger C0, on a log scale from 1 to 40), so
C0 = 10 looks the same wherever it appears and the order of the C0s reads in grey too.
"""

from __future__ import annotations

import contextlib
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass

import matplotlib as mpl
import seaborn as sns

__all__ = [
    "BODY_SIZE",
    "SMALL_SIZE",
    "TEXT_WIDTH",
    "SeriesStyle",
    "c0_color",
    "report_rc",
    "series_style",
    "series_styles",
    "style_context",
]

#: The width of the report's text column (A4, 2 cm margins), inches: figures are drawn at it.
TEXT_WIDTH = (210.0 - 2 * 20.0) / 25.4

BODY_SIZE = 9.5
SMALL_SIZE = 9.0  # the floor: tables, captions, footers, tick labels

_PALETTE = sns.color_palette("colorblind", 8).as_hex()
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
_FILLED = (True, True, True, True, False, True, True, False)


@dataclass(frozen=True)
class SeriesStyle:
    """How one series is drawn: colour, marker and whether the marker is filled."""

    color: str
    marker: str
    filled: bool

    @property
    def facecolor(self) -> str:
        return self.color if self.filled else "white"


def series_style(index: int) -> SeriesStyle:
    """The style of the ``index``-th series of a figure (colour and marker both vary)."""
    i = index % len(_MARKERS)
    # Shift the colour cycle against the marker cycle after one round, so series 0 and 8 differ.
    color = _PALETTE[(index + index // len(_MARKERS)) % len(_PALETTE)]
    return SeriesStyle(color, _MARKERS[i], _FILLED[i])


#: The C0 range of the product's grids; a C0 outside it gets the colour of the nearest end.
C0_RANGE = (1.0, 40.0)
_C0_LABEL = re.compile(r"C0 = ([0-9.eE+-]+)")


def c0_color(C0: float) -> str:
    """The colour of the lazy-ball constant ``C0`` in every figure: viridis from light (C0 = 1)
    to dark (C0 = 40) on a log scale, its luminance monotone so it also reads in grey."""
    lo, hi = (math.log(v) for v in C0_RANGE)
    t = min(max((math.log(C0) - lo) / (hi - lo), 0.0), 1.0) if C0 > 0 else 0.0
    return mpl.colors.to_hex(mpl.colormaps["viridis"](0.85 - 0.85 * t))


def series_styles(names: list[str], order: tuple[str, ...] = ()) -> list[SeriesStyle]:
    """The styles of a figure's series ``names``: when every name carries ``C0 = v``, the colour
    encodes C0 (:func:`c0_color`) and the marker what else the name says (a family); otherwise
    :func:`series_style` by the name's position in ``order`` (the simulation's series, so a name
    looks the same in all its figures), or by position in ``names`` where that would give two
    of them one style."""
    values = [_C0_LABEL.search(n) for n in names]
    if not names or not all(values):
        if all(n in order for n in names):
            styles = [series_style(order.index(n)) for n in names]
            if len(set(styles)) == len(styles):
                return styles
        return [series_style(i) for i in range(len(names))]
    rest = [_C0_LABEL.sub("", n).strip(" ,") for n in names]
    kinds = list(dict.fromkeys(rest))
    out = []
    for v, r in zip(values, rest, strict=True):
        k = kinds.index(r) % len(_MARKERS)
        out.append(SeriesStyle(c0_color(float(v.group(1))), _MARKERS[k], _FILLED[k]))
    return out


def report_rc() -> dict:
    """rcParams of the report's single style (seaborn "ticks" + sizes + deterministic PDF)."""
    rc = dict(sns.axes_style("ticks"))
    rc.update(
        {
            "font.family": "DejaVu Sans",
            "font.size": BODY_SIZE,
            "axes.titlesize": 10.0,
            "axes.titleweight": "bold",
            "axes.labelsize": 10.0,
            "xtick.labelsize": SMALL_SIZE,
            "ytick.labelsize": SMALL_SIZE,
            "legend.fontsize": SMALL_SIZE,
            "legend.title_fontsize": SMALL_SIZE,
            "legend.frameon": False,
            "axes.grid": True,
            "grid.color": "0.88",
            "grid.linewidth": 0.6,
            "axes.edgecolor": "0.2",
            "axes.linewidth": 0.8,
            "lines.linewidth": 1.2,
            "lines.markersize": 5.0,
            "errorbar.capsize": 2.5,
            "figure.dpi": 100,
            # Embed TrueType (type 42): searchable, copyable text; same bytes for same input.
            "pdf.fonttype": 42,
            "pdf.compression": 6,
            "svg.hashsalt": "theorycheck",
            # Text stays text: typst sets it with the same DejaVu files (searchable, small).
            "svg.fonttype": "none",
            "path.simplify": False,
        }
    )
    return rc


@contextlib.contextmanager
def style_context() -> Iterator[None]:
    """Apply the report style within a ``with`` block (no global state is changed)."""
    with mpl.rc_context(report_rc()):
        yield
