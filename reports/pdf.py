"""Assemble the PDF report from stored results (docs/design.md "Reports").

The report says what to say and draw; typst (the ``typst`` package, which bundles the compiler
and its fonts) sets the pages, the mathematics, the PDF outline and the links, and matplotlib
draws the figures as PDF files that the document includes.

Structure, in page order:

1. Summary (page 1): profile, seed, Holm family size, where Wang et al.'s width window opens;
   the findings inside the claims' conditions, then the bottom line per paper and claim
   (:func:`theorycheck.bottom_line.bottom_line`), each claim linked to its section; contents.
2. One section per simulation: per claim, its statement typeset, its conditions against the
   grid and its verdicts aggregated over the grid; the figures; the implied constants; what the
   simulation can and cannot show.
3. Where the theorems' conditions hold: the stored width windows and, per claim, the grid
   points inside and outside its conditions.
4. Appendix: every verdict, one row per grid point, grouped and sorted so a point can be found.
5. Provenance: versions, git revision, seed, profile, machine, where the time went.

Beside the PDF, ``OUT/export/`` (:mod:`theorycheck.reports.exports`) and ``OUT/.report-figures/``,
the figures drawn for it (a rebuild draws only figures whose stored inputs or drawing code
changed).

Same stored results give byte-identical PDFs: the document has no date, typst uses only its
bundled fonts and matplotlib's DejaVu files, and the figure files carry no date.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import math
import os
import shutil
import tempfile
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, replace
from multiprocessing import get_context
from pathlib import Path

import matplotlib as mpl
import numpy as np
import pandas as pd
import typst

from theorycheck.bottom_line import STATUSES, bottom_line
from theorycheck.errors import UserInputError
from theorycheck.provenance import package_version
from theorycheck.reports.conditions import (
    WIDTH_WINDOW,
    bubeck_panel,
    conditions_sentence,
    fig2_rows,
    wang_panel,
    width_window,
    window_facts,
    window_threshold,
)
from theorycheck.reports.data import VERDICT_COLUMNS, ReportData, SimulationResult, load_results
from theorycheck.reports.exports import tidy_verdicts, write_frame
from theorycheck.reports.figures import FigureJob, font_paths, panel_key, render
from theorycheck.reports.markup import (
    Table,
    claim_id,
    label,
    link,
    prose,
    render_table,
    shipped,
    text,
)
from theorycheck.reports.statements import statement_markup
from theorycheck.reports.tables import (
    claim_export,
    claim_table,
    conditions_table,
    configurations_frame,
    configurations_table,
    counts_sentence,
    detail_table,
    implied_constants_table,
    provenance_table,
    timing_table,
    verdicts_summary,
)
from theorycheck.writes import atomic_write, remove_stale_temp_files

__all__ = [
    "APPENDIX",
    "CONDITIONS",
    "PROVENANCE",
    "SUMMARY",
    "Section",
    "build_report",
    "report_outline",
]

SUMMARY = "Summary"
CONDITIONS = "Where the theorems' conditions hold"
APPENDIX = "Appendix: verdicts at every grid point"
PROVENANCE = "Provenance"
USER_SECTION = "Your claims"
#: Up to this many configurations are listed in the provenance; more go to the export only.
MAX_CONFIG_ROWS = 40
#: Processes that draw the figures (the report's one slow step): this one, which would only
#: wait for them, and ``FIGURE_WORKERS - 1`` workers; 1 draws them all in this process.
FIGURE_WORKERS = min(2, os.cpu_count() or 1)


@dataclass(frozen=True)
class Section:
    """A heading of the report: its title, level (1: a section, 2: a claim or part) and label
    (the PDF destination that links point to)."""

    title: str
    level: int
    label: str


def build_report(results: str | Path, out: str | Path | None = None) -> Path:
    """Write the PDF report of the results stored under ``results``; return its path.

    Parameters
    ----------
    results : directory written by ``theorycheck run`` (it must hold ``verdicts.parquet``).
    out : PDF path; default ``<results>/report.pdf``. The exports go to ``export/`` beside it.

    Raises
    ------
    UserInputError
        If ``results`` does not exist or holds no verdict table, or ``out`` is a directory.
    """
    data = load_results(results)
    path = Path(out) if out is not None else Path(results) / "report.pdf"
    if path.is_dir():
        raise UserInputError(f"--out {path} is a directory; give a file name such as report.pdf")
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temp_files(path.parent, depth=0)  # e.g. .tmp-report-*.pdf of a killed report
    kept = f"the stored results are kept (`theorycheck report --results {results}` rebuilds it)"
    with tempfile.TemporaryDirectory(prefix=".tmp-report-build-", dir=path.parent) as tmp:
        build = Path(tmp)
        cache = path.parent / CACHE_DIR
        # Without drawn figures to reuse, start the workers (they import matplotlib) while
        # this process writes the source; with a cache, first learn what is left to draw.
        cold = not (cache.is_dir() and any(cache.iterdir()))
        n_figures = sum(len(s.figures) for s in data.simulations) + 1
        with contextlib.ExitStack() as stack:
            pool = stack.enter_context(_figure_pool(n_figures if cold else 0))
            warm = [pool.submit(_warm) for _ in range(FIGURE_WORKERS - 1)] if pool else []
            doc = _Document(data)
            source = doc.compose()
            for w in warm:
                w.result()
            missing = _from_cache(doc.jobs(build), cache)
            if pool is None:
                pool = stack.enter_context(_figure_pool(len(missing)))
            _draw_figures(missing, pool)
            _to_cache(missing, cache)
            (build / "report.typ").write_text(source, encoding="utf-8")
            # The workers set the exported figure PDFs while this process sets the report.
            exports = _FigureExports(doc, build, cache, pool)

            def write(target: str) -> None:
                # No tagged PDF: typst-pdf 0.15.1 stops with an internal error ("parent
                # group", tags/tree/build.rs) on this document's tag tree.
                pdf = _compiler(build).compile(str(build / "report.typ"), pdf_tags=False)
                Path(target).write_bytes(pdf)

            atomic_write(path, write, kept=kept, kind="report")
            _write_exports(data, doc, path.parent / "export", exports)
        _prune(cache, exports.used | {job.fingerprint() for job in doc.jobs(build)})
    return path


def report_outline(results: str | Path) -> list[Section]:
    """The headings of the report of ``results`` in order (what the PDF's bookmarks list),
    without drawing or typesetting anything."""
    doc = _Document(load_results(results))
    doc.compose()
    return list(doc.sections)


#: Beside the PDF: the figures drawn for it, by a fingerprint of everything they are drawn from
#: (their stored rows and spec, the drawing code, matplotlib's version). A rebuild draws only
#: figures whose inputs changed; the cache keeps only the figures of the last build.
CACHE_DIR = ".report-figures"


def _from_cache(jobs: list[FigureJob], cache: Path) -> list[FigureJob]:
    """Copy the cached figures of ``jobs`` into place; return the jobs left to draw."""
    missing = []
    for job in jobs:
        hit = cache / f"{job.fingerprint()}.svg"
        if hit.is_file():
            job.path.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(hit, job.path)
        else:
            missing.append(job)
    return missing


def _to_cache(drawn: list[FigureJob], cache: Path) -> None:
    """Keep the newly drawn figures in the cache (a cache that cannot be written only costs
    time at the next build)."""
    try:
        cache.mkdir(exist_ok=True)
        for job in drawn:
            tmp = cache / f".tmp-{job.fingerprint()}.svg"
            shutil.copyfile(job.path, tmp)
            os.replace(tmp, cache / f"{job.fingerprint()}.svg")
    except OSError:
        pass


def _prune(cache: Path, used: set[str]) -> None:
    """Drop the cache entries this build did not use (drawn SVGs, exported PDFs)."""
    with contextlib.suppress(OSError):
        for entry in cache.iterdir():
            if entry.stem not in used:
                entry.unlink()


#: Fewer figures than this to draw are drawn in this process: starting a worker costs about as
#: much as drawing a few figures.
MIN_POOL_FIGURES = 8


@contextlib.contextmanager
def _figure_pool(n_figures: int) -> Iterator[ProcessPoolExecutor | None]:
    if FIGURE_WORKERS < 2 or n_figures < MIN_POOL_FIGURES:
        yield None
        return
    # Fresh interpreters: a fork of a process whose libraries run threads is not safe.
    with ProcessPoolExecutor(FIGURE_WORKERS - 1, mp_context=get_context("spawn")) as pool:
        yield pool


def _warm() -> None:
    """Import the drawing code in a worker (runs while the main process composes)."""
    import theorycheck.reports.figures  # noqa: F401


def _draw_figures(jobs: list[FigureJob], pool: ProcessPoolExecutor | None) -> None:
    # Largest first, one at a time: the processes finish together.
    jobs = sorted(jobs, key=lambda j: -j.cost)
    if pool is None:
        for job in jobs:
            render(job)
        return
    # This process draws too (a worker fewer to start: each imports matplotlib, pandas and
    # seaborn): it takes, in the same order, every job no worker has taken yet.
    futures = [pool.submit(render, job) for job in jobs]
    for job, future in zip(jobs, futures, strict=True):
        if future.cancel():
            render(job)
    for future in futures:
        if not future.cancelled():
            future.result()


class _FigureExports:
    """The figure PDFs of the exports: each figure on a page of its own, and per claim a page
    per figure of the simulations that check it (in report order), set by typst with the same
    fonts as in the report. A PDF is taken from the cache when it holds it, else set: in the
    pool's workers when there is one (they start at once, while this process sets the
    report), else here when it is written."""

    _WRAPPER = (
        "#set document(date: none)\n#set page(width: auto, height: auto, margin: 0pt)\n"
        '#for f in sys.inputs.files.split(",") [#pagebreak(weak: true)#image("figures/" + f)]\n'
    )

    def __init__(
        self, doc: _Document, build: Path, cache: Path, pool: ProcessPoolExecutor | None
    ) -> None:
        self.build, self.cache = build, cache
        (build / "figure.typ").write_text(self._WRAPPER, encoding="utf-8")
        jobs = {job.path.name: job for job in doc.jobs(build)}
        #: (file name under export/figures, the figure files on its pages, cache key)
        self.plan: list[tuple[str, list[str], str]] = []
        for name, job in jobs.items():
            self.plan.append((Path(name).with_suffix(".pdf").name, [name], job.fingerprint()))
        by_claim: dict[str, list[str]] = {}
        for entry in doc.figure_index:
            name = Path(entry["file"]).with_suffix(".svg").name
            for claim in filter(None, entry["claims"].split("; ")):
                if name in jobs:
                    by_claim.setdefault(claim, []).append(name)
        for claim, names in by_claim.items():
            if len(names) == 1:  # the figure's own PDF
                key = jobs[names[0]].fingerprint()
            else:
                prints = "/".join(jobs[n].fingerprint() for n in names)
                key = hashlib.sha256(prints.encode()).hexdigest()[:32]
            self.plan.append((f"{claim}.pdf", names, key))
        #: The cache entries the exports use (the rest is pruned).
        self.used = {key for _, _, key in self.plan}
        self._set: dict[str, Future] = {}
        if pool is not None:
            for _, names, key in self.plan:
                if key not in self._set and not (cache / f"{key}.pdf").is_file():
                    self._set[key] = pool.submit(_figure_pdf, str(build), ",".join(names))
        self._compiler: typst.Compiler | None = None

    def write(self, target: Path, names: list[str], key: str) -> None:
        """Write the PDF of the figure files ``names`` to ``target`` and keep it in the cache."""
        kept = self.cache / f"{key}.pdf"
        if key in self._set:
            target.write_bytes(self._set.pop(key).result())
        elif kept.is_file():
            shutil.copyfile(kept, target)
            return
        else:
            self._compiler = self._compiler or _compiler(self.build)
            target.write_bytes(
                self._compiler.compile(
                    str(self.build / "figure.typ"), sys_inputs={"files": ",".join(names)}
                )
            )
        with contextlib.suppress(OSError):  # a cache that cannot be written costs time only
            shutil.copyfile(target, kept)


def _figure_pdf(build: str, files: str) -> bytes:
    """The PDF of the figure files ``files`` (comma-separated), a page each (in a worker)."""
    return _worker_compiler(build).compile(
        str(Path(build) / "figure.typ"), sys_inputs={"files": files}
    )


@functools.lru_cache(maxsize=1)
def _worker_compiler(build: str) -> typst.Compiler:
    """A worker's compiler for the figure PDFs of one build (made once per build)."""
    return _compiler(Path(build))


def _write_exports(data: ReportData, doc: _Document, export: Path, figs: _FigureExports) -> None:
    """Write the exports beside the PDF (:mod:`theorycheck.reports.exports`)."""
    if export.exists() and not export.is_dir():
        raise UserInputError(f"{export} is a file; the report's exports go to that directory")
    export.mkdir(parents=True, exist_ok=True)
    write_frame(verdicts_summary(doc.data, doc.line), export / "verdicts")
    tidy_verdicts(data.verdicts).to_parquet(export / "verdicts.parquet", index=False)
    configurations_frame(data).to_csv(export / "configurations.csv", index=False)
    pd.DataFrame(doc.figure_index, columns=["file", "simulation", "title", "claims"]).to_csv(
        export / "figures.csv", index=False
    )
    claims = export / "claims"
    if claims.exists():
        shutil.rmtree(claims)
    for claim, sub in doc.data.verdicts.groupby("claim", sort=True):
        write_frame(claim_export(sub), claims / str(claim))
    figures = export / "figures"
    if figures.exists():
        shutil.rmtree(figures)
    figures.mkdir()
    for file, names, key in figs.plan:
        figs.write(figures / file, names, key)


def _compiler(build: Path) -> typst.Compiler:
    """A typst compiler rooted at ``build`` with typst's bundled fonts and the figures' fonts
    only (nothing from the machine: same bytes everywhere)."""
    return typst.Compiler(root=str(build), font_paths=font_paths(), ignore_system_fonts=True)


def _sim_label(sim: SimulationResult) -> str:
    return label("sim", sim.id)


def _claim_label(sim: SimulationResult, claim: str) -> str:
    return label("claim", sim.id, claim)


def _s(value) -> str:
    """A stored string as markup: shipped citations only, every character shown as is (spans
    in backticks as code)."""
    return prose(shipped(value))


class _Document:
    """The typst source of one report, with its sections and the figures it includes."""

    def __init__(self, data: ReportData) -> None:
        data = _plain_data(data)
        self.data = data
        self.sections: list[Section] = []
        self.parts: list[str] = []
        self._figures: list[tuple[str, object]] = []  # (file name, FigureInfo or panels)
        self._jobs: dict[Path, list[FigureJob]] = {}  # per build directory, see jobs()
        self.line = bottom_line(data.verdicts)
        self.anchors = self._anchors()

    # -- plumbing --------------------------------------------------------------------------
    def add(self, *markup: str) -> None:
        self.parts.extend(markup)

    def heading(self, title: str, level: int, name: str, numbered: bool = True,
                markup: str | None = None) -> None:  # fmt: skip
        self.sections.append(Section(title, level, name))
        numbering = "" if numbered else ", numbering: none"
        outlined = "" if level <= 2 else ", outlined: false"
        body = markup if markup is not None else _s(title)
        self.add(f"#heading(level: {level}{numbering}{outlined})[{body}] <{name}>\n")

    def figure(self, name: str, what, caption: str, placement: str = "auto") -> None:
        """A figure file to draw and its place in the text: ``auto`` floats it to the top or
        bottom of a page (text fills the rest), ``bottom`` never above the text before it,
        ``none`` where it stands."""
        file = f"{name}.svg"
        self._figures.append((file, what))
        self._jobs.clear()
        self.add(
            f'#figure(image("figures/{file}", width: 100%), placement: {placement}, '
            f"caption: [{caption}])\n"
        )

    def jobs(self, build: Path) -> list[FigureJob]:
        """The figures to draw into ``build``: the same job objects on every call (a job
        computes its fingerprint once, and a build asks for it when it looks in the cache,
        stores, exports and prunes)."""
        if build in self._jobs:  # compose() starts them afresh
            return self._jobs[build]
        out = []
        for file, what in self._figures:
            path = build / "figures" / file
            if isinstance(what, tuple):
                out.append(FigureJob(path, panels=what))
            else:
                out.append(FigureJob(path, info=what))
        self._jobs[build] = out
        return out

    def _anchors(self) -> dict[str, str]:
        """Per claim, the section its summary row links to: the first simulation whose rows
        refute it inside its conditions, else the first that checks it."""
        v = self.data.verdicts
        out: dict[str, str] = {}
        refuting = v[v["verdict"].isin(["VIOLATED", "DISAGREES", "DOES NOT CONVERGE"])
                     & (v["conditions"] != "outside")]  # fmt: skip
        for sim in self.data.simulations:
            for claim in _claims_of(sim):
                if claim in set(refuting.loc[refuting["simulation"] == sim.id, "claim"]):
                    out.setdefault(claim, _claim_label(sim, claim))
        for sim in self.data.simulations:
            for claim in _claims_of(sim):
                out.setdefault(claim, _claim_label(sim, claim))
        return out

    # -- the document ----------------------------------------------------------------------
    def compose(self) -> str:
        self.sections, self.parts, self._figures, self._jobs = [], [], [], {}
        #: Every figure file with its simulation, title and the claims it bears on (the
        #: simulation's claims): ``export/figures.csv``, to find a claim's figures.
        self.figure_index: list[dict] = []
        self._preamble()
        self._summary()
        for k, sim in enumerate(self.data.simulations, start=1):
            self._simulation(k, sim)
        self._user_claims()
        self._conditions()
        self._appendix()
        self._provenance()
        return "".join(self.parts)

    def _preamble(self) -> None:
        d = self.data
        footer = text(f"theorycheck report · profile {d.profile}, seed {d.seed}")
        self.add(
            '#set document(title: "theorycheck report", author: "theorycheck", date: none)\n',
            '#set page(paper: "a4", margin: (x: 2cm, top: 1.8cm, bottom: 2cm), footer: '
            "context [#set text(size: 8pt, fill: luma(90)); "
            + footer
            + " #h(1fr) #counter(page).display()])\n",
            '#set text(font: "Libertinus Serif", size: 10pt, lang: "en")\n',
            "#set par(justify: true, leading: 0.55em, spacing: 0.9em)\n",
            '#set heading(numbering: "1.1")\n',
            "#show heading: set block(above: 1.1em, below: 0.6em)\n",
            "#show heading.where(level: 1): it => { pagebreak(weak: true); "
            "set text(size: 15pt); it }\n",
            "#show heading.where(level: 2): set text(size: 11.5pt)\n",
            "#show heading.where(level: 3): set text(size: 10.5pt)\n",
            '#show link: set text(fill: rgb("#1a4f8b"))\n',
            "#show figure.caption: set text(size: 8.5pt)\n",
            "#set figure(gap: 0.5em)\n",
            "#set table.cell(breakable: false)\n",  # a row never splits across pages
            "#let note(body) = text(size: 8.5pt, fill: luma(70), body)\n",
            # The summary's heading shows as the report's title ("Summary" in the bookmarks).
            f"#show <{label('summary')}>: it => align(center, text(size: 18pt, weight: "
            '"bold")[theorycheck report])\n',
        )

    def _summary(self) -> None:
        d = self.data
        v = d.verdicts
        alpha = d.meta.get("alpha", 0.05)
        family = d.meta.get("family_size")
        n_claims = len({c for s in d.simulations for c in _claims_of(s)})
        self.sections.append(Section(SUMMARY, 1, label("summary")))
        self.add(
            f"#heading(level: 1, numbering: none, outlined: true, bookmarked: true)"
            f"[{_s(SUMMARY)}] <{label('summary')}>\n",
            "#align(center)[#text(fill: luma(60))["
            + _s(f"Monte Carlo checks of {n_claims} claims in {len(d.simulations)} simulations · "
                 f"profile {d.profile} · seed {d.seed} · family-wise α = {alpha} (Holm)")
            + "]]\n\n",
        )  # fmt: skip
        size = (
            f"a Holm family of {family} confirmatory rows" if family is not None
            else "the Holm family (its size was not recorded)"
        )  # fmt: skip
        facts = [
            f"*Refutations* (VIOLATED, DISAGREES, DOES NOT CONVERGE) control the family-wise "
            f"error at α = {_s(alpha)} over {_s(size)}; each HOLDS, AGREES or CONVERGES is a "
            "per-row 95% statement. Rows outside a claim's own conditions never count as "
            "refutations; descriptive rows, exact computations (deterministic, no error to "
            "control) and rows about where conditions hold are outside the family."
        ]
        sim = width_window(d)
        if sim is not None and (d_star := window_threshold(sim)) is not None:
            fact = (
                "*Wang et al.’s width window* "
                r"$max{d^(2.4), C_3 log(1\/gamma)} <= m <= C_4 exp(d^(0.24))$ "
                f"#link(<{label('conditions')}>)[opens at d = {_s(f'{d_star:,.0f}')}]"
            )
            if note := _window_note(sim):
                fact += f" ({_s(note)})"
            fact += "."
            if _all_below(d, d_star):
                fact += " Every grid point of this run has a smaller d."
            facts.append(fact)
        else:
            facts.append(
                "*Wang et al.’s width window:* not in these results (the width-window "
                "simulation was not run)."
            )
        facts.append(f"{len(v)} verdict rows: {_s(counts_sentence(v['verdict']))}.")
        self.add("".join(f"- {f}\n" for f in facts), "\n")

        findings = self.line[self.line["status"] == STATUSES[0]]
        self.heading("Findings inside the conditions", 2, label("findings"), numbered=False)
        if findings.empty:
            self.add("No claim is refuted inside its own conditions.\n\n")
        else:
            for r in findings.itertuples():
                target = self.anchors.get(r.claim)
                name = claim_id(r.claim)
                name = link(target, f"*{name}*") if target else f"*{name}*"
                self.add(f"- {name} ({_s(r.paper)}): {_s(r.detail)}\n")
            self.add("\n")
        self.heading("Bottom line per paper and claim", 2, label("bottom-line"), numbered=False)
        self.add(
            "#note[Findings first within each paper. Refuted inside: a refutation at a grid "
            "point inside the claim's conditions; fails only outside: refutations only where "
            "the conditions fail; holds inside: every decided point inside its conditions "
            "supports it; undecided: an inconclusive test inside, or none decided there. Each "
            "claim links to its section.]\n\n"
        )
        self.add(render_table(self._bottom_table(), size="8pt"), "\n")
        conf = f"{100 * (1 - float(alpha)):g}%"
        self.add(
            "#note["
            + _s(
                f"How to read the verdicts. A bound “with probability ≥ 1 − γ, X ≤ B” HOLDS at "
                f"a grid point when the one-sided {conf} Clopper–Pearson upper limit of "
                f"P(X > B) is at most γ and is VIOLATED when P(X > B) > γ is significant "
                f"(Holm-adjusted p < α); a claim over every W of the lazy ball is refuted only "
                f"by a verified witness and holds only on a certificate; otherwise "
                f"INCONCLUSIVE. Free constants are never decided at a chosen value: their "
                f"implied constants must stay bounded over the large end of the grid. Exact "
                f"laws AGREE or DISAGREE by two-sided tests; asymptotic formulas CONVERGE or DO "
                f"NOT CONVERGE over three or more dimensions; fitted rates are DESCRIPTIVE. "
                f"Slack = B / (empirical 1 − γ quantile of X) for upper bounds, (empirical γ "
                f"quantile) / B for lower bounds. The rules: docs/theory.md."
            )
            + "]\n\n"
        )
        if d.claims is None:
            self.add(
                "#note[The claims' statements were not stored with these results (no "
                "claims.parquet); `theorycheck bounds` prints them.]\n\n"
            )
        self.heading("Contents", 2, label("contents"), numbered=False)
        self.add("#outline(title: none, depth: 1)\n")

    def _bottom_table(self) -> Table:
        from theorycheck.reports.tables import bottom_line_table

        line = self.line.copy()
        if len(line):
            # Papers with findings first; within a paper the bottom line's order (findings first).
            order = {p: i for i, p in enumerate(dict.fromkeys(line["paper"]))}
            line["_p"] = line["paper"].map(order)
            line["_s"] = line["status"].map(STATUSES.index)
            line = line.sort_values(["_p", "_s", "claim"], kind="stable")
        return bottom_line_table(line, self.anchors)

    def _simulation(self, k: int, sim: SimulationResult) -> None:
        d = self.data
        v = sim.verdicts
        self.heading(sim.title, 1, _sim_label(sim))
        self.add(
            "#note[" + _s(f"simulation {sim.id} · {len(v)} tests: {counts_sentence(v['verdict'])}")
            + "]\n\n"
        )  # fmt: skip
        if sim.problem:
            self.add(f"#emph[{_s(sim.problem[0].upper() + sim.problem[1:])}.]\n\n")
        for k_claim, claim in enumerate(_claims_of(sim)):
            if k_claim == 1:
                self._figures_of(sim)  # floats: the claims' text fills the pages around them
            info = d.claims.get(claim) if d.claims is not None else None
            self.heading(claim, 2, _claim_label(sim, claim), markup=claim_id(claim))
            if info is not None and info.citation:
                self.add(f"#note[#emph[{_s(info.citation)}]]\n\n")
            statement = statement_markup(claim, info.statement if info is not None else "")
            if statement:
                # One block: a figure floated to the page's foot never splits a statement.
                self.add(f"#block(inset: (left: 1em), breakable: false)[{statement}]\n\n")
            elif d.claims is None:
                self.add("#note[Statement not stored with these results (no claims.parquet); "
                         "`theorycheck bounds` prints it.]\n\n")  # fmt: skip
            rows = v[v["claim"] == claim]
            cond = info.conditions if info is not None and info.conditions else ""
            sentence = conditions_sentence(rows, info, recorded=d.conditions_recorded)
            if sentence.startswith("No conditions beyond"):
                cond = ""  # the sentence says it; the stored "None beyond ..." would repeat it
            self.add(  # sticky: the conditions line stays on the page of the table after it
                "#block(sticky: true)[*Conditions.* "
                + (_s(cond + ". ") if cond else "")  # as stated: "m >= ...", never "M >= ..."
                + _s(sentence)
                + "]\n\n"
            )
            if rows.empty:
                self.add("#note[No verdict of this claim is stored for this simulation.]\n\n")
            else:
                self.add(render_table(claim_table(rows), size="8pt"), "\n")
        if len(_claims_of(sim)) < 2:
            self._figures_of(sim)
        implied = implied_constants_table(v)
        if implied.rows:
            self.heading("Implied constants", 2, label("implied", sim.id), numbered=False)
            self.add(
                "#note[A free constant is never decided at a chosen value: the constant each "
                "grid point implies must stay bounded over the large end of the grid. The table "
                "gives the constant at the largest grid value and the slope of its logarithm "
                "against the grid's (0 for a constant that stays put), ranged over the settings; "
                "the verdict tests the slope.]\n\n",
                render_table(implied, size="8pt"),
                "\n",
            )
        if sim.limitations:
            self.heading("What this simulation can and cannot show", 2,
                         label("limits", sim.id), numbered=False)  # fmt: skip
            self.add(_s(sim.limitations), "\n\n")

    def _user_claims(self) -> None:
        """The run's own claims (``--claims``, entry points): their statements and verdicts,
        decided in a Holm family of their own."""
        d = self.data
        mine = d.user_verdicts
        if mine.empty:
            return
        self.heading(USER_SECTION, 1, label("user-claims"))
        size = d.user_meta.get("family_size", "?")
        self.add(
            "#note["
            + _s(f"Claims given with the run, not the papers': {len(mine)} tests, "
                 f"{counts_sentence(mine['verdict'])}. They are decided by the same rules on "
                 "the stored replicates of the observable each names, Holm-adjusted within a "
                 f"family of their own ({size} confirmatory rows): they never change the "
                 "papers' verdicts above.")
            + "]\n\n"
        )  # fmt: skip
        catalog = {str(r["id"]): r for r in d.user_claims.to_dict("records")}
        for claim in dict.fromkeys(mine["claim"]):
            info = catalog.get(str(claim), {})
            self.heading(str(claim), 2, label("user-claims", str(claim)), markup=claim_id(claim))
            if info.get("citation"):
                self.add(f"#note[#emph[{_s(info['citation'])}]]\n\n")
            if info.get("statement"):
                self.add(f"#block(inset: (left: 1em))[{_s(info['statement'])}]\n\n")
            if info.get("observable"):
                self.add(f"#note[{_s('observable: ' + str(info['observable']))}]\n\n")
            rows = mine[mine["claim"] == claim]
            self.add(render_table(claim_table(rows), size="8pt"), "\n")
            self.add(render_table(detail_table(rows), size="7.5pt"), "\n")

    def _figures_of(self, sim: SimulationResult) -> None:
        for j, info in enumerate(sim.figures):
            caption = f"*{_s(info.title)}.* " + _s(info.caption)
            if key := panel_key(info):
                caption += " Panels: " + _s("; ".join(key)) + "."
            # The first below the first claim (a float placed at the top of the section's first
            # page would stand above its heading), the others wherever they fit.
            name = f"{sim.id}.{info.name or j}"
            self.figure(name, info, caption, "bottom" if j == 0 else "auto")
            self.figure_index.append(
                {"file": f"figures/{name}.pdf", "simulation": sim.id, "title": info.title,
                 "claims": "; ".join(_claims_of(sim))}
            )  # fmt: skip

    def _conditions(self) -> None:
        d = self.data
        self.heading(CONDITIONS, 1, label("conditions"), numbered=False)
        self.add(
            _s(
                "A theorem says nothing outside its conditions. Several statements checked here "
                "hold only for widths in a window that moves with the input dimension d; the "
                "figure shows where those windows lie (the exact edges stored by the "
                "width-window simulation) and where this run's grid points lie: filled where "
                "the claim's own conditions hold, open where they fail (free constants at "
                "their defaults). A verdict at a point outside the conditions tests the "
                "statement beyond what the paper proves."
            ),
            "\n\n",
        )
        sim = width_window(d)
        if sim is None:
            self.add(
                "#emph["
                + _s(
                    f"No width-window results are stored with this run (profile {d.profile}, "
                    f"seed {d.seed}): run `theorycheck run width-window --profile {d.profile} "
                    f"--seed {d.seed} --out <this directory>` to add the windows."
                )
                + "]\n\n"
            )
        else:
            self.add("".join(f"- {_s(f)}\n" for f in window_facts(sim)), "\n")
            panels = tuple(p for p in (wang_panel(d, sim), bubeck_panel(d, sim)) if p)
            if panels:
                notes = " ".join(p.empty_note for p in panels if not p.points and p.empty_note)
                self.figure(
                    "width-windows",
                    panels,
                    "*The width windows against d.* Axes show the run's grid points and the "
                    "edges near them; the edges continue beyond the axes, and where the window "
                    "opens beyond them an arrow at the edge says so. " + _s(notes),
                    placement="none",
                )
                plotted = [pt.claim for p in panels for pt in p.points]
                self.figure_index.append(
                    {"file": "figures/width-windows.pdf", "simulation": sim.id,
                     "title": "The width windows against d",
                     "claims": "; ".join(dict.fromkeys([*_claims_of(sim), *plotted]))}
                )  # fmt: skip
            fig2 = fig2_rows(sim)
            if fig2 is not None:
                headers, body = fig2
                self.heading("Wang et al.'s window at the dimensions of their Fig. 2", 2,
                             label("fig2"), numbered=False)  # fmt: skip
                self.add(
                    render_table(Table(headers, body, align="l" + "r" * (len(headers) - 1)),
                                 size="8pt"), "\n"
                )  # fmt: skip
        self.heading("Conditions at the grid points of this run", 2, label("grid-conditions"),
                     numbered=False)  # fmt: skip
        if not d.conditions_recorded:
            self.add(
                "#emph[These results predate the recording of conditions at each grid point: "
                "a new `theorycheck run` records them.]\n\n"
            )
        self.add(
            "#note[Grid points: distinct parameter sets of a claim's verdicts. n/a: the "
            "statement has no conditions beyond its parameter domains, or the point's "
            "parameters do not fix them (e.g. a rate fitted over a grid of d).]\n\n",
            render_table(conditions_table(d), size="8pt"),
            "\n",
        )

    def _appendix(self) -> None:
        d = self.data
        self.heading(APPENDIX, 1, label("appendix"), numbered=False)
        self.add(
            "#note[Every stored verdict, one row per grid point. Each group (claim · statistic "
            "· test) names its fixed parameters and its notes; its rows are sorted by the "
            "parameters that vary. Estimate: the statistic the verdict tests (a quantile or "
            "a mean); bound or exact: the claim's value; p (Holm): adjusted over the whole "
            "run; cond.: whether the claim's conditions hold there (in, out, n/a). "
            "Replicates, confidence intervals and exceedances are in export/verdicts.parquet."
            "]\n\n"
        )
        for k, sim in enumerate(d.simulations, start=1):
            self.heading(f"A.{k} {sim.title}", 2, label("appendix", sim.id), numbered=False)
            if sim.verdicts.empty:
                self.add("#emph[No verdicts were stored for this simulation.]\n\n")
                continue
            self.add(render_table(detail_table(sim.verdicts), size="7.5pt"), "\n")

    def _provenance(self) -> None:
        d = self.data
        self.heading(PROVENANCE, 1, label("provenance"), numbered=False)
        self.add("#note[Recorded with the verdict table when the run finished.]\n\n",
                 render_table(provenance_table(d), size="8pt"), "\n")  # fmt: skip
        self.heading("Where the time went", 2, label("time"), numbered=False)
        self.add(
            "#note[Block time: the measurement time of the simulation's stored blocks, each "
            "timed in the process that computed it, in whichever run (blocks run in parallel, "
            "so the sum exceeds the wall time of a run with several workers). Evaluation: "
            "tests, fits and summaries, timed in the last run.]\n\n",
            render_table(timing_table(d), size="8pt"),
            "\n",
        )
        configs = configurations_table(d)
        n_configs = len(configs.body())
        if n_configs:
            self.heading("Configurations", 2, label("configurations"), numbered=False)
            self.add(
                "#note["
                + _s(
                    "Each config id names the store's directory <simulation>/<config id>-s<seed>/ "
                    "that holds its blocks; it is a hash of the parameters listed. All of them, "
                    "with their parameters, blocks and times: export/configurations.csv."
                )
                + "]\n\n"
            )
            if n_configs <= MAX_CONFIG_ROWS:
                self.add(render_table(configs, size="7.5pt"), "\n")
            else:
                per_sim = ", ".join(
                    f"{s.id} {len(s.meta.get('configs') or [])}" for s in d.simulations
                )
                self.add(_s(f"{n_configs} configurations ({per_sim})."), "\n\n")
        self.heading("This report", 2, label("this-report"), numbered=False)
        stored = "verdicts.parquet, <simulation>/summary-" + f"{d.profile}-s{d.seed}.parquet"
        stored += " and claims.parquet" if d.claims is not None else " (no claims.parquet)"
        self.add(
            _s(
                f"Built by theorycheck {package_version()} ({_revision()}) with typst "
                f"and matplotlib {mpl.__version__} from the stored results only: {stored}. "
                "Nothing was recomputed. Exports beside this PDF: export/verdicts.csv and "
                ".tex (per claim), export/verdicts.parquet (every row, parameters as "
                "columns), export/claims/<claim>.csv and .tex, export/configurations.csv, "
                "export/figures/ with its index export/figures.csv."
            ),
            "\n\n",
        )
        for w in d.warnings:
            self.add(f"#note[{_s('Warning: ' + w)}]\n\n")


#: The verdict columns the report reads (a stored table has dozens more, one per parameter).
_READ = (*VERDICT_COLUMNS, "conditions", "kind", "family", "evidence", "vacuous", "constant")


def _plain(frame: pd.DataFrame) -> pd.DataFrame:
    """The columns the report reads, as NumPy columns (row access to Arrow-backed columns
    costs seconds over a quick run's thousand rows)."""
    cols = {}
    for c in _READ:
        if c not in frame.columns:
            continue
        col = frame[c]
        if pd.api.types.is_bool_dtype(col.dtype):
            cols[c] = col.to_numpy(dtype=bool, na_value=False)
        elif pd.api.types.is_numeric_dtype(col.dtype):
            cols[c] = col.to_numpy(dtype=float, na_value=np.nan)
        else:
            cols[c] = np.array(["" if v is None else str(v) for v in col], dtype=object)
    return pd.DataFrame(cols, index=range(len(frame)))


def _plain_data(data: ReportData) -> ReportData:
    sims = [replace(s, verdicts=_plain(s.verdicts)) for s in data.simulations]
    return replace(data, verdicts=_plain(data.verdicts), simulations=sims)


def _window_note(sim: SimulationResult) -> str:
    """The stored note of the width-window verdict that found where the window opens."""
    v = sim.verdicts
    rows = v[(v["claim"] == "wang2022.theorem_3_1")
             & v["statistic"].astype(str).str.startswith("smallest d")]  # fmt: skip
    return shipped(rows["note"].iloc[0]) if len(rows) and rows["note"].iloc[0] else ""


def _all_below(data: ReportData, d_star: float) -> bool:
    """Whether every grid point of the run with a numeric d lies below ``d_star``."""
    ds = []
    v = data.verdicts
    for text_ in v.loc[v["simulation"] != WIDTH_WINDOW, "parameters"]:
        try:
            d = json.loads(text_).get("d")
        except (TypeError, ValueError, AttributeError):
            continue
        if isinstance(d, int | float) and not isinstance(d, bool) and math.isfinite(d):
            ds.append(float(d))
    return bool(ds) and max(ds) < d_star


def _revision() -> str:
    from theorycheck.provenance import git_revision

    rev = git_revision()
    return f"git revision {rev}" if rev else "not built from a git checkout"


def _claims_of(sim: SimulationResult) -> list[str]:
    """The simulation's claims in its stated order, then any other claim its verdicts name."""
    return list(dict.fromkeys([*sim.claims, *sim.verdicts["claim"].astype(str).tolist()]))
