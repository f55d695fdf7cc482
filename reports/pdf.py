"""Assemble the PDF report from stored results (docs/design.md "Reports").

Structure, in page order:

1. Summary (title page): what was checked, profile and seed, verdict counts, one row per
   (simulation, claim) aggregated over the grid, how to read the verdicts, contents.
2. One section per simulation: the claims as the papers state them with their conditions and
   whether the grid satisfies them, the figures (fitted slopes with their intervals on log-log
   figures of rate claims), the verdict at each grid point (compact), and what the simulation
   can and cannot show.
3. Where the theorems' conditions hold: the width windows against d stored by the width-window
   simulation, and per claim the grid points where its conditions hold.
4. Appendix A (landscape): every stored column of every verdict.
5. Provenance: versions, git revision, seed, profile, threading, machine.

Same stored results give byte-identical PDFs: no dates in the metadata, fonts and layout fixed,
nothing depends on the results' location or on the clock.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib as mpl
from matplotlib.backends.backend_pdf import PdfPages
from theorycheck.reports.conditions import (
    bubeck_panel,
    conditions_sentence,
    fig2_rows,
    wang_panel,
    width_window,
    window_facts,
)
from theorycheck.reports.data import ReportData, SimulationResult, load_results
from theorycheck.reports.figures import (
    condition_panels_height,
    draw_condition_panels,
    draw_figure,
    figure_height,
    figure_note,
)
from theorycheck.reports.layout import LEADING, Column, Document, OutlineEntry, Table
from theorycheck.reports.style import GREY, H2_SIZE, SMALL_SIZE, TITLE_SIZE, style_context
from theorycheck.reports.tables import (
    bottom_line_table,
    conditions_table,
    configurations_table,
    counts_sentence,
    full_table,
    grid_table,
    most_telling,
    provenance_tables,
    summary_table,
    timing_table,
)

from theorycheck.bottom_line import bottom_line
from theorycheck.errors import UserInputError
from theorycheck.provenance import package_version
from theorycheck.writes import atomic_write, remove_stale_temp_files

__all__ = [
    "APPENDIX",
    "CONDITIONS",
    "PROVENANCE",
    "SUMMARY",
    "OutlineEntry",
    "build_report",
    "report_outline",
]

SUMMARY = "Summary"
CONDITIONS = "Where the theorems' conditions hold"
APPENDIX = "Appendix A. Verdicts at every grid point"
PROVENANCE = "Provenance"
SECTION_MAX_ROWS = 60  # a simulation's section shows at most this many tests; all are in App. A


def build_report(results: str | Path, out: str | Path | None = None) -> Path:
    """Write the PDF report of the results stored under ``results``; return its path.

    Parameters
    ----------
    results : directory written by ``theorycheck run`` (it must hold ``verdicts.parquet``).
    out : PDF path; default ``<results>/report.pdf``.

    Raises
    ------
    UserInputError
        If ``results`` does not exist or holds no verdict table, or ``out`` cannot be written.
    """
    data = load_results(results)
    path = Path(out) if out is not None else Path(results) / "report.pdf"
    if path.is_dir():
        raise UserInputError(f"--out {path} is a directory; give a file name such as report.pdf")
    remove_stale_temp_files(path.parent, depth=0)  # e.g. .tmp-report-*.pdf of a killed report

    def write(tmp: str) -> None:
        with style_context():
            outline = _stable_outline(data)
            metadata = {
                "Title": "theorycheck report",
                "Creator": "theorycheck",
                "Producer": f"theorycheck {package_version()} (matplotlib {mpl.__version__})",
                "CreationDate": None,
                "ModDate": None,
            }
            with PdfPages(tmp, metadata=metadata) as pdf:
                _compose(data, Document(pdf, _footer(data)), outline)

    kept = f"the stored results are kept (`theorycheck report --results {results}` rebuilds it)"
    return atomic_write(path, write, kept=kept, kind="report")


def report_outline(results: str | Path) -> list[OutlineEntry]:
    """The sections of the report of ``results`` with their pages, as :func:`build_report`
    lays them out (``title``, ``first_page``, ``last_page``; pages are 1-based)."""
    data = load_results(results)
    with style_context():
        return _stable_outline(data)


def _footer(data: ReportData) -> str:
    return f"theorycheck report · profile {data.profile}, seed {data.seed}"


def _section_title(k: int, sim: SimulationResult) -> str:
    return f"{k}. {sim.title}"


def _stable_outline(data: ReportData) -> list[OutlineEntry]:
    # The contents list on page 1 shows page numbers; lay out until those numbers no longer
    # change the layout (they never do in practice: one dry pass to learn them, one to confirm).
    outline: list[OutlineEntry] | None = None
    for _ in range(4):
        doc = Document(None, _footer(data))
        _compose(data, doc, outline)
        if doc.outline == outline:
            break
        outline = doc.outline
    assert outline is not None
    return outline


def _compose(data: ReportData, doc: Document, outline: list[OutlineEntry] | None) -> None:
    _title_page(data, doc, outline)
    for k, sim in enumerate(data.simulations, start=1):
        _simulation_section(data, doc, k, sim)
    _conditions_section(data, doc)
    _appendix(data, doc)
    _provenance(data, doc)
    doc.close()


def _h2(doc: Document, text: str, keep: float = 60.0) -> None:
    doc.text(text, size=H2_SIZE, weight="bold", space_before=8.0, space_after=3.0, keep=keep)


def _note(doc: Document, text: str, **kw) -> None:
    doc.text(text, size=SMALL_SIZE, color=GREY, **kw)


# -- 1. title page ----------------------------------------------------------------------------
def _title_page(data: ReportData, doc: Document, outline: list[OutlineEntry] | None) -> None:
    doc.section(SUMMARY, show=False)
    doc.text("theorycheck report", size=TITLE_SIZE, weight="bold", space_after=4.0)
    n_claims = len({c for s in data.simulations for c in s.claims} | set(data.verdicts["claim"]))
    alpha = data.meta.get("alpha", 0.05)
    doc.text(
        f"Monte Carlo checks of {n_claims} claims in {len(data.simulations)} simulations · "
        f"profile {data.profile} · seed {data.seed} · family-wise α = {alpha} (Holm)",
        color=GREY,
        space_after=4.0,
    )
    doc.rule()

    _h2(doc, "Bottom line")
    v = data.verdicts
    line = bottom_line(v)
    family = data.meta.get("family_size")
    size = f"a Holm family of {family} confirmatory rows" if family is not None else "Holm"
    doc.text(
        f"Per paper and claim, findings first. Refutations (VIOLATED, DISAGREES, DOES NOT "
        f"CONVERGE) control the family-wise error at α = {alpha} over {size}; each HOLDS, AGREES "
        f"or CONVERGES is a per-row 95% statement whose power is in its row. Rows outside a "
        f"claim's own conditions never count as refutations; descriptive rows are outside the "
        f"family.",
        space_after=3.0,
    )
    doc.table(bottom_line_table(line), continued="Bottom line (continued)")
    _h2(doc, "Verdicts")
    doc.text(f"{len(v)} rows at grid points: {counts_sentence(v['verdict'])}.", space_after=4.0)

    _h2(doc, "What was checked")
    for sim in data.simulations:
        doc.text(f"{sim.title}  [{sim.id}]", hanging="•  ", space_after=1.0)
    doc.table(summary_table(data), continued="Verdict summary (continued)")
    conf = f"{100 * (1 - float(alpha)):g}%"
    _note(
        doc,
        f"How to read the verdicts. A bound “with probability ≥ 1 − γ, X ≤ B” HOLDS at a grid "
        f"point when the one-sided {conf} Clopper–Pearson upper limit of P(X > B) is at most γ "
        f"and is VIOLATED when P(X > B) > γ is significant (Holm-adjusted p < α); a claim over "
        f"every W of the lazy ball is refuted only by a verified witness and holds only on a "
        f"certificate; otherwise INCONCLUSIVE. Free constants are never decided at a chosen "
        f"value: their implied constants must stay bounded over the large end of the grid. "
        f"Exact laws AGREE or DISAGREE by two-sided tests; asymptotic formulas CONVERGE or DO NOT "
        f"CONVERGE over three or more dimensions; fitted rates are DESCRIPTIVE. Each row carries "
        f"its conditions (inside / outside / unknown), quantifier, evidence (exact, sampled, "
        f"certified, search) and power. Slack = B / (empirical 1 − γ quantile of X) for upper "
        f"bounds, (empirical γ quantile) / B for lower bounds. The rules: docs/theory.md.",
        space_before=6.0,
    )
    if data.claims is None:
        _note(
            doc,
            "The claims' statements were not stored with these results (no claims.parquet); "
            "`theorycheck bounds` prints them.",
        )

    _h2(doc, "Contents", keep=40.0)
    entries = outline or []
    rows = [[e.title, str(e.first_page)] for e in entries]
    doc.table(Table([Column("section", wrap=True), Column("page", align="right")], rows))


# -- 2. one section per simulation ------------------------------------------------------------
def _simulation_section(data: ReportData, doc: Document, k: int, sim: SimulationResult) -> None:
    doc.section(_section_title(k, sim))
    v = sim.verdicts
    _note(
        doc,
        f"simulation {sim.id} · {len(v)} tests: {counts_sentence(v['verdict'])}",
        space_after=4.0,
    )

    _h2(doc, "Claims checked")
    for claim in sim.claims:
        text = data.claims.get(claim) if data.claims is not None else None
        if text is None:
            doc.text(claim, weight="bold", hanging="•  ", space_after=1.0)
            continue
        doc.text(claim, weight="bold", space_before=3.0, space_after=0.0, keep=36.0)
        if text.citation:
            _note(doc, text.citation, indent=12.0, space_after=1.0)
        if text.statement:
            doc.text(text.statement, indent=12.0, space_after=1.0)
        details = []
        if text.kind:
            details.append(f"kind: {text.kind}{' (derived)' if text.derived else ''}")
        if text.parameters:
            details.append(f"parameters: {text.parameters}")
        if text.constants:
            details.append(f"constants: {text.constants}")
        if text.conditions:
            details.append(f"conditions: {text.conditions}")
        if details:
            _note(doc, " · ".join(details), indent=12.0, space_after=1.0)
        sentence = conditions_sentence(
            v[v["claim"] == claim], text, recorded=data.conditions_recorded
        )
        doc.text(sentence, size=SMALL_SIZE, indent=12.0, space_after=3.0)
    if data.claims is None:
        _note(
            doc,
            "(Statements not stored with these results; `theorycheck bounds` prints them.)",
            space_before=2.0,
        )

    if sim.problem:
        doc.text(sim.problem[0].upper() + sim.problem[1:] + ".", style="italic", space_before=6.0)
    for info in sim.figures:
        height = figure_height(info, doc.width)
        doc.ensure(H2_SIZE * 2.8 + height + 30.0)
        doc.text(info.title, size=H2_SIZE, weight="bold", space_before=10.0, space_after=6.0)

        def draw(sf, info=info, width=doc.width):
            draw_figure(sf, info, width)

        doc.plot(height, draw)
        caption = " ".join(t for t in (info.caption, figure_note(info)) if t)
        if caption:
            _note(doc, caption, style="italic", space_before=2.0)

    _h2(doc, "Verdict at each grid point", keep=90.0)
    _note(
        doc,
        "Estimate: the empirical 1 − γ quantile of the statistic (bounds) or its mean (exact "
        "laws and expectations), compared with the bound or the exact value. p (Holm): the "
        "p-value of the test that would refute the claim, adjusted over the whole run. "
        "Conditions: whether the statement's conditions hold at the grid point (n/a: none "
        "beyond the parameter domains, or not fixed by the point's parameters). "
        "Confidence intervals, replicate counts and notes: Appendix A.",
        space_after=4.0,
    )
    if v.empty:
        doc.text("No verdicts were stored for this simulation.", style="italic")
    else:
        shown = most_telling(v, SECTION_MAX_ROWS)
        if len(shown) < len(v):
            doc.text(
                f"{len(shown)} of {len(v)} tests shown: in each claim's share, every refuting "
                f"and inconclusive test first, then those with the smallest slack and p-value. "
                f"All {len(v)} are in Appendix A.{k}.",
                weight="bold",
                size=SMALL_SIZE,
                space_after=4.0,
            )
        doc.table(grid_table(shown), continued=f"{sim.title}: verdicts (continued)")

    if sim.limitations:
        _h2(doc, "What this simulation can and cannot show", keep=30.0)
        doc.text(sim.limitations)


# -- 3. where the conditions hold ----------------------------------------------------------------
def _conditions_section(data: ReportData, doc: Document) -> None:
    doc.section(CONDITIONS)
    doc.text(
        "A theorem says nothing outside its conditions. Several statements checked here hold "
        "only for widths in a window that moves with the input dimension d; the figures show "
        "where those windows lie (the exact edges stored by the width-window simulation) and "
        "where this run's grid points lie. Markers: the grid points of the run's claims, filled "
        "where the claim's own conditions hold and open where they fail (evaluated with the "
        "paper's conditions, free constants at their defaults, when the run stored its "
        "verdicts). A verdict at a point outside the conditions tests the statement beyond "
        "what the paper proves.",
        space_after=4.0,
    )
    sim = width_window(data)
    _h2(doc, "Width windows against d")
    if sim is None:
        doc.text(
            f"No width-window results are stored with this run (profile {data.profile}, seed "
            f"{data.seed}): run `theorycheck run width-window --profile {data.profile} --seed "
            f"{data.seed} --out <this directory>` to add the windows.",
            style="italic",
        )
    else:
        for fact in window_facts(sim):
            doc.text(fact, hanging="•  ", space_after=1.0)
        panels = [p for p in (wang_panel(data, sim), bubeck_panel(data, sim)) if p is not None]
        if panels:
            height = condition_panels_height(panels, doc.width)
            doc.ensure(height + 40.0)
            doc.space(6.0)

            def draw(sf, panels=panels, width=doc.width):
                draw_condition_panels(sf, panels, width)

            doc.plot(height, draw)
        empty = " ".join(p.empty_note for p in panels if not p.points)
        _note(
            doc,
            "Edges and threshold as the width-window simulation stored them (constants as "
            "stated in its section; the papers give no values). Both axes are logarithmic. "
            + empty,
            style="italic",
            space_before=2.0,
        )
        fig2 = fig2_rows(sim)
        if fig2 is not None:
            headers, body = fig2
            # A short table is kept on one page with its heading.
            keep = (len(body) + 2) * SMALL_SIZE * LEADING * 1.1 + 10.0
            _h2(doc, "Wang et al.'s window at the dimensions of their Fig. 2", keep=keep)
            columns = [
                Column(h, align="left" if j == 0 else "right") for j, h in enumerate(headers)
            ]
            doc.table(Table(columns, body), continued="Fig. 2 dimensions (continued)")

    _h2(doc, "Conditions at the grid points of this run", keep=90.0)
    if not data.conditions_recorded:
        doc.text(
            "These results predate the recording of conditions at each grid point: a new "
            "`theorycheck run` records them.",
            style="italic",
        )
    _note(
        doc,
        "Grid points: distinct parameter sets of a claim's verdicts. n/a: the statement has no "
        "conditions beyond its parameter domains, or the point's parameters do not fix them "
        "(e.g. a rate fitted over a grid of d).",
        space_after=4.0,
    )
    doc.table(conditions_table(data), continued="Conditions at the grid points (continued)")


# -- 4. appendix ------------------------------------------------------------------------------
def _appendix(data: ReportData, doc: Document) -> None:
    doc.section(APPENDIX, landscape=True)
    conf = f"{100 * (1 - float(data.meta.get('alpha', 0.05))):g}%"
    _note(
        doc,
        f"Every stored verdict. n: replicates; CI low, CI high: {conf} confidence interval of "
        "the estimate (quantile or mean); γ: the claim's failure probability; k: replicates "
        "exceeding the bound; P(exceed) upper: one-sided Clopper–Pearson upper limit of the "
        "exceedance probability; p: the test's p-value; p (Holm): adjusted over all tests of "
        "the run. Under the verdict: whether the statement's conditions hold at the grid point "
        "(nothing when not applicable). Grey lines under a row: the verdict's note.",
        space_after=4.0,
    )
    for k, sim in enumerate(data.simulations, start=1):
        _h2(doc, f"A.{k} {sim.title}  [{sim.id}]", keep=80.0)
        if sim.verdicts.empty:
            doc.text("No verdicts were stored for this simulation.", style="italic")
            continue
        doc.table(full_table(sim.verdicts), continued=f"A.{k} {sim.id} (continued)")


# -- 5. provenance ----------------------------------------------------------------------------
def _provenance(data: ReportData, doc: Document) -> None:
    doc.section(PROVENANCE, landscape=False)
    run, sims = provenance_tables(data)
    _note(doc, "Recorded with the verdict table when the run finished.", space_after=4.0)
    doc.table(run)
    _h2(doc, "Where the time went")
    _note(
        doc,
        "Block time: the measurement time of the simulation's stored blocks, each timed in the "
        "process that computed it, in whichever run (blocks run in parallel, so the sum exceeds "
        "the wall time of a run with several workers). Evaluation: tests, fits and summaries, "
        "timed in the last run.",
        space_after=4.0,
    )
    doc.table(timing_table(data))
    _h2(doc, "Recorded with each simulation's summary")
    doc.table(sims)
    configs = configurations_table(data)
    if configs.rows:
        _h2(doc, "Configurations", keep=80.0)
        _note(
            doc,
            "Each config id names the store's directory <simulation>/<config id>-s<seed>/ that "
            "holds its blocks; it is a hash of the parameters listed.",
            space_after=4.0,
        )
        doc.table(configs, continued="Configurations (continued)")
    _h2(doc, "This report")
    doc.text(
        f"Built by theorycheck {package_version()} with matplotlib {mpl.__version__} from the "
        f"stored results only: verdicts.parquet, <simulation>/summary-{data.profile}-"
        f"s{data.seed}.parquet"
        + (" and claims.parquet." if data.claims is not None else " (no claims.parquet).")
        + " Nothing was recomputed."
    )
    for w in data.warnings:
        _note(doc, f"Warning: {w}")
