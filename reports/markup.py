"""Typst markup for the report: escaping stored strings, labels, links and tables.

Every string the report takes from stored results (titles, statistics, notes, parameters,
claim ids) goes into the typst source through :func:`text`, which writes it as a typst string
literal (``#"..."``): typst shows a string literal as plain text, so no character of it can act
as markup (``# $ * _ ` < > @ [ ] \\ ~ / = - +`` and ``//`` comments alike). Only the report's
own fixed markup and the statements' mathematics (:mod:`theorycheck.reports.statements`) are
written as markup.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

__all__ = [
    "Table",
    "claim_id",
    "label",
    "link",
    "prose",
    "render_table",
    "shipped",
    "text",
]

# A tab would typeset as nothing: it becomes a space, the only character not shown as is.
_STRING_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": " "}


def text(value) -> str:
    """``value`` as typst markup that shows exactly its characters, a tab as a space (a string
    literal closed by ``;``, so a following ``.`` or ``(`` is never read as part of it)."""
    s = str(value)
    body = "".join(_STRING_ESCAPES.get(ch, ch) for ch in s)
    return f'#"{body}";'


def prose(value) -> str:
    """``value`` as :func:`text`, except that spans between a pair of backticks (a command such
    as `theorycheck run`) are set as code; an unpaired backtick is shown as is."""
    parts = str(value).split("`")
    if len(parts) < 3:
        return text(value)
    if len(parts) % 2 == 0:  # an odd number of backticks: the last one has no partner
        parts[-2:] = [parts[-2] + "`" + parts[-1]]
    out = []
    for k, part in enumerate(parts):
        if not part:
            continue
        if k % 2:
            body = "".join(_STRING_ESCAPES.get(ch, ch) for ch in part)
            out.append(f'#raw("{body}");')
        else:
            out.append(text(part))
    return "".join(out)


def claim_id(value) -> str:
    """A claim or simulation id that never breaks across lines (an unbreakable box)."""
    s = str(value)
    body = "".join(_STRING_ESCAPES.get(ch, ch) for ch in s)
    return f'#box("{body}");'


def label(*parts: str) -> str:
    """A typst label name for ``parts`` (only letters, digits, ``_ . : -`` survive)."""
    name = ":".join(re.sub(r"[^A-Za-z0-9_.\-]", "-", str(p)) for p in parts)
    return "tc:" + name


def link(target: str, body: str) -> str:
    """Markup linking ``body`` (markup) to the element labelled ``target``."""
    return f"#link(<{target}>)[{body}]"


# Stored results written before the project cited only shipped files still name the private
# specifications the package was developed from (upper-case <NAME>.md) and a folder of source
# texts; the report cites the shipped documents that replaced them (the mapping of the commit
# that moved the citations) and drops the folder references. The names are spelled in parts so
# this file itself cites nothing outside the repository.
_SPECS = {
    "QUADRATIC": "docs/derivations/quadratic.md",
    "THEORY": "docs/theory.md",
    "SPEC": "docs/design.md",
}
_FOLDER = "pa" + "pers/"
_SHIPPED = (
    *((re.compile(rf"\b{name}\.md\b"), doc) for name, doc in _SPECS.items()),
    (re.compile(rf"[;,]?\s*\(?slides {_FOLDER}\d+(?:,\s*'[^']*')?\)?"), ""),
    (re.compile(rf"\s*\(?{_FOLDER}\d+(?:,\s*[^)]*)?\)"), ""),
)


def shipped(value) -> str:
    """``value`` with citations of the private specifications replaced by the shipped
    documents (docs/theory.md, docs/derivations/quadratic.md, docs/design.md) and references to
    the folder of source texts removed."""
    s = str(value)
    for pattern, repl in _SHIPPED:
        s = pattern.sub(repl, s)
    return s


@dataclass
class Table:
    """A table of the report, as data: header cells, body rows and group rows.

    ``rows`` holds lists of cells (each cell a plain string) or a :class:`Group` (a full-width
    row naming the rows under it). ``bold`` and ``italic`` mark cells by (row index, column).
    Rendered to typst by :func:`render_table` and to CSV / LaTeX by
    :mod:`theorycheck.reports.exports`.
    """

    headers: list[str]
    rows: list = field(default_factory=list)
    align: str = ""  # one letter per column: l, r, c
    widths: list[str] | None = None  # typst column widths ("auto", "1fr", "3cm")
    bold: set[tuple[int, int]] = field(default_factory=set)
    italic: set[tuple[int, int]] = field(default_factory=set)
    ids: set[int] = field(default_factory=set)  # columns holding ids (never broken)
    links: dict[tuple[int, int], str] = field(default_factory=dict)  # cell -> label

    def body(self) -> list[list[str]]:
        """The body rows without group rows (what CSV and LaTeX exports hold)."""
        return [r for r in self.rows if not isinstance(r, Group)]


@dataclass(frozen=True)
class Group:
    """A full-width row naming the group of rows under it."""

    title: str
    note: str = ""


def _cell(t: Table, i: int, j: int, value: str) -> str:
    body = claim_id(value) if j in t.ids else text(value)
    if (i, j) in t.bold:
        body = f"#strong[{body}]"
    if (i, j) in t.italic:
        body = f"#emph[{body}]"
    if (i, j) in t.links:
        body = link(t.links[(i, j)], body)
    return f"[{body}]"


def render_table(t: Table, size: str = "8pt", repeat_header: bool = True) -> str:
    """The typst markup of ``t``: a header repeated on every page it spans, thin rules, group
    rows spanning all columns in bold."""
    n = len(t.headers)
    align = t.align or ("l" + "r" * (n - 1))
    aligns = ", ".join({"l": "left", "r": "right", "c": "center"}[a] for a in align)
    widths = ", ".join(t.widths) if t.widths else ", ".join(["auto"] * n)
    out = [
        f"#block(width: 100%)[#set text(size: {size}); #set par(justify: false)",
        f"#table(columns: ({widths},), align: ({aligns},), stroke: none, inset: (x: 3pt, "
        "y: 2.2pt),",
        "table.hline(stroke: 0.8pt),",
        "table.header(repeat: {}, ".format("true" if repeat_header else "false")
        + ", ".join(f"[#strong[{text(h)}]]" for h in t.headers)
        + ", table.hline(stroke: 0.5pt)),",
    ]
    for i, row in enumerate(t.rows):
        if isinstance(row, Group):
            note = ""
            if row.note:
                note = f' #text(fill: luma(90), weight: "regular")[{text(row.note)}]'
            out.append(
                f"table.cell(colspan: {n}, align: left, inset: (top: 5pt, bottom: 2pt, x: 3pt))"
                f"[#strong[{text(row.title)}]{note}],"
            )
            continue
        cells: Sequence[str] = row
        out.append(", ".join(_cell(t, i, j, c) for j, c in enumerate(cells)) + ",")
    out.append("table.hline(stroke: 0.8pt),")
    out.append(")]")
    return "\n".join(out)
