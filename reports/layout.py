"""Page flow for the report: wrapped text, paginated tables and plot blocks on A4 pages.

A :class:`Document` stacks blocks (text lines, table rows, plots) down a page and starts a new
page when the next block does not fit, so nothing overflows. Text is wrapped by measuring it
with the font's own metrics (``TextToPath``), which is deterministic and matches what the PDF
backend draws. Plot blocks become subfigures of the page laid out by matplotlib's constrained
layout, so tick and axis labels are never clipped.

A document can run "dry" (``pdf=None``): it lays out every page without drawing. The report
uses a dry run to learn the page numbers of its sections before it draws the contents list.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure, SubFigure
from matplotlib.font_manager import FontProperties
from matplotlib.layout_engine import ConstrainedLayoutEngine
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle
from matplotlib.textpath import TextToPath
from matplotlib.transforms import Bbox
from theorycheck.reports.style import (
    A4_LANDSCAPE,
    A4_PORTRAIT,
    BODY_SIZE,
    GREY,
    H1_SIZE,
    MARGIN,
    ROW_SHADE,
    RULE_GREY,
    SMALL_SIZE,
)

__all__ = [
    "Cell",
    "Column",
    "Document",
    "GroupRow",
    "NoteRow",
    "OutlineEntry",
    "Table",
    "text_width",
    "wrap",
]

PT = 1 / 72  # inches per point
LEADING = 1.32  # line height / font size
CELL_PAD = 4.0  # points left and right of a table cell
_KEEP_GROUP = 6  # a table group of up to this many rows is never split across pages
_TTP = TextToPath()


@lru_cache(maxsize=16)
def _font(size: float, weight: str, style: str) -> FontProperties:
    return FontProperties(family="DejaVu Sans", size=size, weight=weight, style=style)


@lru_cache(maxsize=65536)
def text_width(
    s: str, size: float = BODY_SIZE, weight: str = "normal", style: str = "normal"
) -> float:
    """Width of one line of text in points (unhinted font metrics, as in the PDF)."""
    if not s:
        return 0.0
    w, _, _ = _TTP.get_text_width_height_descent(s, _font(size, weight, style), ismath=False)
    return float(w)


def wrap(
    text: str, width: float, size: float = BODY_SIZE, weight: str = "normal", style: str = "normal"
) -> list[str]:
    """Greedy word wrap of ``text`` to lines no wider than ``width`` points.

    Explicit newlines are kept; a word wider than a line is split between characters.
    """
    lines: list[str] = []
    for para in text.split("\n"):
        words = para.split()
        if not words:
            lines.append("")
            continue
        line = ""
        for word in words:
            trial = f"{line} {word}" if line else word
            if text_width(trial, size, weight, style) <= width:
                line = trial
                continue
            if line:
                lines.append(line)
            while text_width(word, size, weight, style) > width and len(word) > 1:
                cut = len(word) - 1
                while cut > 1 and text_width(word[:cut], size, weight, style) > width:
                    cut -= 1
                lines.append(word[:cut])
                word = word[cut:]
            line = word
        lines.append(line)
    return lines


# -- tables -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Cell:
    """One table cell: text plus how to draw it."""

    text: str
    weight: str = "normal"
    style: str = "normal"
    color: str = "black"
    note: str = ""  # secondary text in grey on the lines below (e.g. a citation)


@dataclass(frozen=True)
class Column:
    """A table column. ``wrap`` columns give up width (and wrap) when the table is too wide."""

    header: str
    align: str = "left"  # left | right | center
    wrap: bool = False


@dataclass(frozen=True)
class GroupRow:
    """A full-width row naming the group of rows below it (e.g. a claim)."""

    text: str


@dataclass(frozen=True)
class NoteRow:
    """Secondary text across the whole table under the row above it (e.g. a verdict's note),
    indented by ``indent`` points; kept on the same page as that row."""

    text: str
    indent: float = 12.0


@dataclass
class Table:
    """Rows of cells under a header; :meth:`Document.table` paginates it."""

    columns: Sequence[Column]
    rows: list[list[Cell | str] | GroupRow | NoteRow]
    size: float = SMALL_SIZE

    def _cells(self, row: list[Cell | str]) -> list[Cell]:
        return [c if isinstance(c, Cell) else Cell(str(c)) for c in row]

    def column_widths(self, available: float) -> list[float]:
        """Column widths in points: natural widths, the wrap columns shrunk or widened so the
        table spans ``available`` (tables without a wrap column keep their natural width)."""
        natural = []
        for j, col in enumerate(self.columns):
            w = max(text_width(h, self.size, "bold") for h in col.header.split("\n"))
            for row in self.rows:
                if isinstance(row, GroupRow | NoteRow):
                    continue
                cell = self._cells(row)[j]
                for line in cell.text.split("\n"):
                    w = max(w, text_width(line, self.size, cell.weight, cell.style))
                for line in cell.note.split("\n"):
                    w = max(w, text_width(line, self.size))
            natural.append(w + 2 * CELL_PAD)
        widths = list(natural)
        wrapping = [j for j, c in enumerate(self.columns) if c.wrap]
        excess = sum(widths) - available
        if excess > 0 and wrapping:
            # Water-filling: cap the wrap columns at one level L, chosen so the table fits;
            # no column is squeezed below a readable minimum (about 12 characters).
            # If even that is too wide, go down to about 5 characters before anything else.
            for chars in (12, 5):
                floor = text_width("m" * chars, self.size) + 2 * CELL_PAD

                def capped(level: float, floor: float = floor) -> list[float]:
                    out = list(natural)
                    for j in wrapping:
                        out[j] = min(natural[j], max(level, floor))
                    return out

                lo, hi = 0.0, max(natural[j] for j in wrapping)
                for _ in range(60):
                    mid = (lo + hi) / 2
                    lo, hi = (mid, hi) if sum(capped(mid)) <= available else (lo, mid)
                widths = capped(lo)
                if sum(widths) <= available + 0.01:
                    break
            if len(wrapping) > 1 and sum(widths) <= available + 0.01:
                widths = self._balance(widths, wrapping, natural)
        spare = available - sum(widths)
        if spare > 0 and wrapping:
            # Tables span the page: the wrap columns share what is left.
            for j in wrapping:
                widths[j] += spare / len(wrapping)
        if sum(widths) > available + 0.01:
            # Last resort: scale everything (cells are truncated with an ellipsis when drawn).
            f = available / sum(widths)
            widths = [w * f for w in widths]
        return widths

    def _balance(self, widths: list[float], wrapping: list[int], natural: list[float]):
        """Move width between the wrap columns while that shortens the table.

        Equal caps are fair but not short: a column of long notes next to a column of short
        grid points wraps to many more lines than it would with some of its neighbour's width.
        The table's height is estimated as the sum over rows of the most lines any cell needs
        (text width / column width, plus a tenth for the ragged right edge).
        """
        cells = [
            [self._cells(row)[j] for j in wrapping]
            for row in self.rows
            if not isinstance(row, GroupRow | NoteRow)
        ]
        lengths = [
            [
                text_width(c.text, self.size, c.weight, c.style)
                + (text_width(c.note, self.size) if c.note else 0.0)
                for c in row
            ]
            for row in cells
        ]
        # No column narrower than its longest word (words are not split) or five characters.
        floors = [
            max(
                [text_width("m" * 5, self.size)]
                + [
                    text_width(w, self.size, row[k].weight, row[k].style)
                    for row in cells
                    for w in row[k].text.split()
                ]
            )
            + 2 * CELL_PAD
            for k in range(len(wrapping))
        ]

        def height(ws: list[float]) -> int:
            total = 0
            for row in lengths:
                total += max(
                    math.ceil(1.1 * w_text / max(w - 2 * CELL_PAD, 1.0)) if w_text else 1
                    for w_text, w in zip(row, ws, strict=True)
                )
            return total

        ws = [widths[j] for j in wrapping]
        caps = [natural[j] for j in wrapping]
        step = sum(ws) / 40
        best = height(ws)
        for _ in range(200):
            moved = False
            for a in range(len(ws)):
                for b in range(len(ws)):
                    if a == b or ws[a] - step < floors[a] or ws[b] >= caps[b]:
                        continue
                    trial = list(ws)
                    trial[a] -= step
                    trial[b] += step
                    h = height(trial)
                    if h < best:
                        best, ws, moved = h, trial, True
            if not moved:
                break
        out = list(widths)
        for j, w in zip(wrapping, ws, strict=True):
            out[j] = w
        return out


@dataclass(frozen=True)
class OutlineEntry:
    """A section of the report and the pages it occupies (1-based, inclusive)."""

    title: str
    first_page: int
    last_page: int


# -- the page flow ----------------------------------------------------------------------------
@dataclass
class _Block:
    height: float  # points
    draw: Callable[[Figure, float, float], None] | None = None  # (fig, left_in, top_in)
    plot: Callable[[SubFigure], None] | None = None


@dataclass
class _Page:
    size: tuple[float, float]
    section: str
    blocks: list[_Block] = field(default_factory=list)
    used: float = 0.0


class Document:
    """Blocks flowed onto A4 pages and saved to ``pdf`` (``None``: lay out only, draw nothing).

    ``footer`` is printed at the bottom of every page with the current section and page number.
    """

    def __init__(self, pdf: PdfPages | None, footer: str):
        self.pdf = pdf
        self.footer = footer
        self.pages = 0
        self.outline: list[OutlineEntry] = []
        self._page: _Page | None = None
        self._section = ""
        self._orientation = A4_PORTRAIT

    # -- geometry --------------------------------------------------------------------------
    @property
    def width(self) -> float:
        """Usable width of the current page in points."""
        return (self._orientation[0] - 2 * MARGIN) / PT

    @property
    def _height(self) -> float:
        # Keep a band at the bottom for the footer.
        return (self._orientation[1] - 2 * MARGIN - 0.25) / PT

    def remaining(self) -> float:
        """Points left on the current page."""
        page = self._current()
        return self._height - page.used

    # -- pages and sections ----------------------------------------------------------------
    def _current(self) -> _Page:
        if self._page is None:
            self._page = _Page(self._orientation, self._section)
        return self._page

    def new_page(self, landscape: bool | None = None) -> None:
        """End the current page (if it has content) and start a new one."""
        if self._page is not None and self._page.blocks:
            self._flush()
        if landscape is not None:
            self._orientation = A4_LANDSCAPE if landscape else A4_PORTRAIT
        self._page = None

    def section(self, title: str, *, landscape: bool = False, show: bool = True) -> None:
        """Start a section on a new page; ``show`` draws ``title`` as its heading."""
        self.new_page(landscape)
        self._close_outline()
        self._section = title
        self.outline.append(OutlineEntry(title, self.pages + 1, self.pages + 1))
        if show:
            self.text(title, size=H1_SIZE, weight="bold", space_after=6.0)

    def _close_outline(self) -> None:
        if self.outline:
            last = self.outline[-1]
            end = max(last.first_page, self.pages)
            self.outline[-1] = OutlineEntry(last.title, last.first_page, end)

    def close(self) -> None:
        """Draw the last page and finish the outline."""
        if self._page is not None and self._page.blocks:
            self._flush()
        self._page = None
        self._close_outline()

    def _add(self, block: _Block) -> None:
        if block.height > self.remaining() and self._current().blocks:
            self.new_page()
        page = self._current()
        page.blocks.append(block)
        page.used += block.height

    def ensure(self, height: float) -> None:
        """Start a new page unless ``height`` points still fit on this one."""
        if height > self.remaining() and self._current().blocks:
            self.new_page()

    # -- content ---------------------------------------------------------------------------
    def space(self, height: float) -> None:
        """Vertical space (dropped at the top of a page)."""
        if self._page is not None and self._page.blocks and height < self.remaining():
            self._add(_Block(height))

    def text(
        self,
        text: str,
        *,
        size: float = BODY_SIZE,
        weight: str = "normal",
        style: str = "normal",
        color: str = "black",
        indent: float = 0.0,
        hanging: str = "",
        space_before: float = 0.0,
        space_after: float = 2.0,
        keep: float = 0.0,
    ) -> None:
        """A wrapped paragraph. ``hanging`` (e.g. a bullet) is set before the first line;
        ``keep`` points of what follows must fit on the same page as the first lines."""
        lead = text_width(hanging, size, weight, style) if hanging else 0.0
        lines = wrap(text, self.width - indent - lead, size, weight, style)
        line_h = size * LEADING
        self.ensure(space_before + line_h * min(len(lines), 2) + keep)
        self.space(space_before)
        for i, line in enumerate(lines):
            prefix = hanging if i == 0 else ""

            def draw(fig, left, top, line=line, prefix=prefix):
                y = top - size * PT
                x = left + indent * PT
                if prefix:
                    fig.text(x, y, prefix, **_kw(fig, size, weight, style, color))
                fig.text(x + lead * PT, y, line, **_kw(fig, size, weight, style, color))

            self._add(_Block(line_h, draw))
        self.space(space_after)

    def rule(self, color: str = RULE_GREY, width: float = 0.6) -> None:
        """A horizontal line across the page."""

        def draw(fig, left, top):
            y = top - 3 * PT
            fig.add_artist(_hline(fig, left, left + self.width * PT, y, color, width))

        self._add(_Block(6.0, draw))

    def plot(self, height: float, draw: Callable[[SubFigure], None]) -> None:
        """A block of ``height`` points drawn by ``draw`` into a constrained-layout subfigure."""
        self._add(_Block(height, plot=draw))

    def table(self, table: Table, *, continued: str = "") -> None:
        """Draw ``table``, repeating its header on every page it spans.

        ``continued`` is printed above the header on continuation pages.
        """
        size = table.size
        line_h = size * LEADING
        widths = table.column_widths(self.width)
        xs = [sum(widths[:j]) for j in range(len(widths))]
        total = sum(widths)
        header_lines = max(len(c.header.split("\n")) for c in table.columns)
        header_h = header_lines * line_h + 4.0

        def draw_header(fig, left, top):
            for j, col in enumerate(table.columns):
                for k, line in enumerate(col.header.split("\n")):
                    y = top - (size + k * line_h) * PT
                    _cell_text(fig, left, xs[j], widths[j], y, Cell(line, "bold"), col.align, size)
            fig.add_artist(_hline(fig, left, left + total * PT, top - header_h * PT, "0.2", 0.8))

        def add_header(first: bool) -> None:
            if not first and continued:
                self._add(_Block(line_h, _label(continued, size)))
            self._add(_Block(header_h, draw_header))

        # Build every row first, so that page breaks can look ahead. A row and the note rows
        # under it are one unit: never split across pages.
        built: list[tuple[bool, list[_Block]]] = []  # (is a group row, blocks)
        shade = False
        for row in table.rows:
            if isinstance(row, GroupRow):
                built.append((True, [self._group_block(row, total, size)]))
                shade = False
            elif isinstance(row, NoteRow):
                if built and not built[-1][0]:
                    # Shaded like the row above it (``shade`` has already flipped).
                    built[-1][1].append(self._note_block(row, total, size, not shade))
            else:
                built.append((False, [self._row_block(table, row, widths, xs, shade)]))
                shade = not shade

        def height(unit: list[_Block]) -> float:
            return sum(b.height for b in unit)

        # The header must share its page with the first rows.
        first = sum(height(u) for _, u in built[:3])
        self.ensure(header_h + first + 8)
        add_header(first=True)
        fresh = True  # nothing but the header on this page yet
        for i, (is_group, unit) in enumerate(built):
            need = height(unit)
            if is_group:
                # Keep a short group whole; a long one's heading with its first rows.
                rows = []
                for other_is_group, other in built[i + 1 :]:
                    if other_is_group:
                        break
                    rows.append(height(other))
                need += sum(rows if len(rows) <= _KEEP_GROUP else rows[:3])
            elif i + 2 == len(built) or (i + 2 < len(built) and built[i + 2][0]):
                # The second-to-last row of a group takes the last one with it: no widows.
                if not built[i + 1][0]:
                    need += height(built[i + 1][1])
            if need > self.remaining() and not fresh:
                self.new_page()
                add_header(first=False)
            for block in unit:
                self._add(block)
            fresh = False

        def bottom(fig, left, top):
            fig.add_artist(_hline(fig, left, left + total * PT, top, "0.2", 0.8))

        self._add(_Block(2.0, bottom))

    def _note_block(self, row: NoteRow, total: float, size: float, shade: bool) -> _Block:
        lines = wrap(row.text, total - 2 * CELL_PAD - row.indent, size)
        h = len(lines) * size * LEADING + 3.0

        def draw(fig, left, top):
            if shade:
                fig.add_artist(
                    Rectangle(
                        (left, top - h * PT),
                        total * PT,
                        h * PT,
                        transform=fig.dpi_scale_trans,
                        facecolor=ROW_SHADE,
                        edgecolor="none",
                        zorder=0,
                    )
                )
            for k, line in enumerate(lines):
                y = top - (size + k * size * LEADING) * PT
                x = left + (CELL_PAD + row.indent) * PT
                fig.text(x, y, line, **_kw(fig, size, color=GREY))

        return _Block(h, draw)

    def _group_block(self, row: GroupRow, total: float, size: float) -> _Block:
        lines = wrap(row.text, total - 2 * CELL_PAD, size, "bold")

        def draw(fig, left, top):
            for k, line in enumerate(lines):
                y = top - (size + 3.0 + k * size * LEADING) * PT
                fig.text(left + CELL_PAD * PT, y, line, **_kw(fig, size, "bold"))

        return _Block(len(lines) * size * LEADING + 6.0, draw)

    def _row_block(
        self, table: Table, row: list, widths: list[float], xs: list[float], shade: bool
    ) -> _Block:
        size = table.size
        line_h = size * LEADING
        total = sum(widths)
        pieces: list[list[Cell]] = []  # the lines of each cell, each with its own style
        for j, cell in enumerate(table._cells(row)):
            inner = widths[j] - 2 * CELL_PAD
            if table.columns[j].wrap:
                main = wrap(cell.text, inner, size, cell.weight, cell.style)
                note = wrap(cell.note, inner, size) if cell.note else []
            else:
                main = cell.text.split("\n")
                note = cell.note.split("\n") if cell.note else []
            lines = [Cell(t, cell.weight, cell.style, cell.color) for t in main]
            lines += [Cell(t, color=GREY) for t in note]
            pieces.append(lines)
        h = max(len(p) for p in pieces) * line_h + 3.0

        def draw(fig, left, top):
            if shade:
                fig.add_artist(
                    Rectangle(
                        (left, top - h * PT),
                        total * PT,
                        h * PT,
                        transform=fig.dpi_scale_trans,
                        facecolor=ROW_SHADE,
                        edgecolor="none",
                        zorder=0,
                    )
                )
            for j, lines in enumerate(pieces):
                for k, piece in enumerate(lines):
                    y = top - (size + 1.5 + k * line_h) * PT
                    _cell_text(fig, left, xs[j], widths[j], y, piece, table.columns[j].align, size)

        return _Block(h, draw)

    # -- drawing ---------------------------------------------------------------------------
    def _flush(self) -> None:
        page = self._page
        assert page is not None
        self.pages += 1
        if self.pdf is None:
            return
        w_in, h_in = page.size
        fig = Figure(figsize=page.size)
        left, top = MARGIN, h_in - MARGIN
        plots = [b for b in page.blocks if b.plot is not None]
        if plots:
            # One gridspec row per plot, one per run of other blocks; constrained layout then
            # places each plot's axes, labels and legend inside its own band of the page.
            rows: list[tuple[float, _Block | None]] = []
            for b in page.blocks:
                if b.plot is not None:
                    rows.append((b.height, b))
                elif rows and rows[-1][1] is None:
                    rows[-1] = (rows[-1][0] + b.height, None)
                else:
                    rows.append((b.height, None))
            rest = self._height + 0.25 / PT - page.used
            if rest > 0.5:
                rows.append((rest, None))
            content_h = sum(h for h, _ in rows) * PT
            rect = (
                MARGIN / w_in,
                (top - content_h) / h_in,
                1 - 2 * MARGIN / w_in,
                content_h / h_in,
            )
            fig.set_layout_engine(
                ConstrainedLayoutEngine(rect=rect, h_pad=0.0, w_pad=0.0, hspace=0.0, wspace=0.0)
            )
            gs = fig.add_gridspec(len(rows), 1, height_ratios=[h for h, _ in rows])
            for i, (_, b) in enumerate(rows):
                if b is not None:
                    b.plot(fig.add_subfigure(gs[i]))
            _freeze_layout(fig)
        y = top
        for b in page.blocks:
            if b.draw is not None:
                b.draw(fig, left, y)
            y -= b.height * PT
        foot_y = MARGIN - 0.05
        room = (w_in - 2 * MARGIN) / PT - text_width(f"page {self.pages}", SMALL_SIZE) - 18.0
        fig.text(
            left,
            foot_y,
            _fit(f"{self.footer} · {page.section}", room, SMALL_SIZE),
            **_kw(fig, SMALL_SIZE, color=GREY),
        )
        fig.text(
            w_in - MARGIN,
            foot_y,
            f"page {self.pages}",
            ha="right",
            **_kw(fig, SMALL_SIZE, color=GREY),
        )
        self.pdf.savefig(fig)


def _freeze_layout(fig: Figure) -> None:
    """Run constrained layout once, round what it placed, and switch it off.

    The constraint solver's last bits depend on memory addresses (kiwisolver orders its
    variables by pointer), so the same page can come out 1e-6 pt apart from one run to the
    next. Rounding every subfigure and axes position to 1e-7 of the page makes the PDF bytes
    depend only on the input.
    """
    FigureCanvasAgg(fig)
    fig.get_layout_engine().execute(fig)

    def rounded(bbox: Bbox) -> Bbox:
        return Bbox(np.round(bbox.get_points(), 7))

    def walk(parent) -> None:
        for sf in parent.subfigs:
            sf.bbox_relative.set(rounded(sf.bbox_relative))
            walk(sf)
        for ax in parent.axes:
            ax.set_position(rounded(ax.get_position(original=False)), which="both")

    walk(fig)
    fig.set_layout_engine("none")


def _fit(
    text: str, width: float, size: float, weight: str = "normal", style: str = "normal"
) -> str:
    """``text`` cut to ``width`` points with an ellipsis."""
    if text_width(text, size, weight, style) <= width + 0.01:
        return text
    while text and text_width(text + "…", size, weight, style) > width:
        text = text[:-1]
    return text.rstrip() + "…"


def _kw(
    fig, size: float, weight: str = "normal", style: str = "normal", color: str = "black"
) -> dict:
    return {
        "transform": fig.dpi_scale_trans,
        "parse_math": False,
        "fontproperties": _font(size, weight, style),
        "color": color,
        "va": "baseline",
    }


def _hline(fig, x0: float, x1: float, y: float, color: str, width: float) -> Line2D:
    return Line2D([x0, x1], [y, y], transform=fig.dpi_scale_trans, color=color, linewidth=width)


def _label(text: str, size: float):
    def draw(fig, left, top):
        fig.text(left, top - size * PT, text, **_kw(fig, size, style="italic", color=GREY))

    return draw


def _cell_text(fig, left, x, width, y, cell: Cell, align: str, size: float) -> None:
    text = _fit(cell.text, width - 2 * CELL_PAD, size, cell.weight, cell.style)
    if align == "right":
        xpos, ha = left + (x + width - CELL_PAD) * PT, "right"
    elif align == "center":
        xpos, ha = left + (x + width / 2) * PT, "center"
    else:
        xpos, ha = left + (x + CELL_PAD) * PT, "left"
    fig.text(xpos, y, text, ha=ha, **_kw(fig, size, cell.weight, cell.style, cell.color))
