"""The PDF report: built from a small synthetic results store (no simulation is run).

The store mimics what ``theorycheck run`` writes: ``verdicts.parquet`` with the run's
provenance, one ``<simulation>/summary-<profile>-s<seed>.parquet`` per simulation with its
figure specs, and optionally ``claims.parquet``.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from theorycheck.errors import UserInputError
from theorycheck.pipeline import claim_conditions
from theorycheck.rates import fit_rate
from theorycheck.reports import build_report
from theorycheck.reports.data import load_results
from theorycheck.reports.pdf import APPENDIX, CONDITIONS, PROVENANCE, SUMMARY, report_outline
from theorycheck.runner import collect_verdicts, run
from theorycheck.seeding import generator
from theorycheck.store import ResultsStore
from theorycheck.verdicts import VerdictRow, rate_verdict, verdict_frame, with_conditions

PROFILE, SEED = "quick", 7
#: The private specifications older stored results cite (spelled so this file cites none).
SPECS = ("THE" + "ORY", "QUAD" + "RATIC")
PROVENANCE_META = {
    "theorycheck": "0.1.0",
    "git_revision": "0123456789abcdef0123456789abcdef01234567",
    "python": "3.11.7",
    "dependencies": {"numpy": "2.0.0", "matplotlib": "3.9.0"},
    "machine": "Linux x86_64, 2 cpus",
    "numba_threading_layer": "omp",
    "numba_threads": 2,
    "profile": PROFILE,
    "seed": SEED,
}
SIMULATIONS = {
    "toy-bound": "A toy high-probability bound (Lemma 1)",
    "toy-law": "A toy exact law (Proposition 2)",
}


def _bound_rows(n_points: int) -> list[VerdictRow]:
    rows = []
    for i in range(n_points):
        m = 10 * 2**i
        v = ("HOLDS", "VIOLATED", "INCONCLUSIVE")[i % 3]
        p = 1e-7 if v == "VIOLATED" else 0.5
        note = "about 900 replicates in all would settle it" if v == "INCONCLUSIVE" else ""
        rows.append(
            VerdictRow(
                claim="toy.lemma_1",
                simulation="toy-bound",
                parameters=json.dumps({"m": m, "gamma": 0.1, "d": 4}),
                statistic="|S|",
                test="clopper-pearson",
                n=400,
                bound=2.0 * m,
                gamma=0.1,
                estimate=1.5 * m,
                ci_low=1.4 * m,
                ci_high=1.6 * m,
                slack=4 / 3,
                exceedances=3 * i,
                exceed_ci_high=0.05,
                p_value=p,
                p_adjusted=min(1.0, 10 * p),
                verdict=v,
                note=note,
                conditions="inside" if i % 2 == 0 else "outside",
            )
        )
    return rows


def _law_rows(n_points: int) -> list[VerdictRow]:
    rows = []
    for i in range(n_points):
        d = 10 * 2**i
        v = "DISAGREES" if i == 0 else "AGREES"
        p = 1e-5 if v == "DISAGREES" else 0.4
        rows.append(
            VerdictRow(
                claim="toy.prop_2",
                simulation="toy-law",
                parameters=json.dumps({"d": d, "scaling": "wang"}),
                statistic="E X = d/2",
                test="z",
                n=400,
                bound=d / 2,
                gamma=math.nan,
                estimate=d / 2 * 1.01,
                ci_low=d / 2 * 0.99,
                ci_high=d / 2 * 1.03,
                slack=math.nan,
                exceedances=-1,
                exceed_ci_high=math.nan,
                p_value=p,
                p_adjusted=min(1.0, 10 * p),
                verdict=v,
            )
        )
    return rows


def _summary(sim: str, n_points: int) -> tuple[pd.DataFrame, list[dict]]:
    recs = []
    for panel in ("wang", "bubeck"):
        for series in ("m = 10", "m = 100"):
            for i in range(n_points):
                x = 10.0 * 2**i
                est = 0.5 + 0.01 * i
                recs.append(
                    {
                        "figure": "main",
                        "panel": panel,
                        "series": series,
                        "x": x,
                        "estimate": est,
                        "ci_low": est - 0.02,
                        "ci_high": est + 0.02,
                        "reference": 0.5,
                        "bound": 0.7 if sim == "toy-bound" else np.nan,
                    }
                )
    figures = [
        {
            "name": "main",
            "title": f"{SIMULATIONS[sim]}: estimate vs x",
            "xlabel": "width m",
            "ylabel": "E X / d",
            "logx": True,
            "logy": False,
            "caption": "Markers: mean, 95% CI.",
        }
    ]
    return pd.DataFrame(recs), figures


def _rate_fit_rows() -> tuple[VerdictRow, list[dict], dict]:
    """A real rate fit of E X ~ d^(1/2) on the toy-law grid: its verdict row, its summary rows
    (linked to the row, as simulations write them) and its log-log figure spec."""
    dims = [10.0, 40.0, 160.0]
    rng = generator(SEED, "toy-law", "samples")
    samples = [np.sqrt(d) * rng.exponential(size=200) for d in dims]
    fit = fit_rate(dims, samples, generator(SEED, "toy-law", "bootstrap"), n_boot=200)
    row = rate_verdict("toy.prop_2", "toy-law", {"scaling": "wang"}, "E X over d", fit, 0.5,
                       "Theta", 0.1, variable="d")  # fmt: skip
    rows = fit.summary_rows({"figure": "rate", "panel": "main", "series": "wang"}, verdict=row)
    spec = {"name": "rate", "title": "E X vs d (log-log)", "xlabel": "d", "ylabel": "E X",
            "logx": True, "logy": True, "caption": "Median with bootstrap CI."}  # fmt: skip
    return row, rows, spec


def make_store(root: Path, n_points: int = 4, claims: bool = True) -> Path:
    """Write a synthetic results store under ``root`` and return ``root``."""
    store = ResultsStore(root)
    rate_row, rate_rows, rate_spec = _rate_fit_rows()
    rows = _bound_rows(n_points) + _law_rows(n_points) + [rate_row]
    meta = {**PROVENANCE_META, "alpha": 0.05, "simulations": list(SIMULATIONS)}
    store.write_table("verdicts", verdict_frame(rows), meta)
    claim_ids = {"toy-bound": ["toy.lemma_1"], "toy-law": ["toy.prop_2"]}
    for sim, title in SIMULATIONS.items():
        summary, figures = _summary(sim, n_points)
        if sim == "toy-law":
            summary = pd.concat([summary, pd.DataFrame(rate_rows)], ignore_index=True)
            figures = [*figures, rate_spec]
        smeta = {
            **PROVENANCE_META,
            "simulation": sim,
            "title": title,
            "claims": claim_ids[sim],
            "limitations": f"{title} is checked at {n_points} grid points only.",
            "figures": figures,
        }
        store.write_table(f"{sim}/summary-{PROFILE}-s{SEED}", summary, smeta)
    if claims:
        store.write_table(
            "claims",
            pd.DataFrame(
                [
                    {
                        "id": "toy.lemma_1",
                        "citation": "Toy, Author (2024), Lemma 1",
                        "statement": "With probability at least 1 - gamma, |S| <= 2 m.",
                        "kind": "high-probability upper bound",
                        "parameters": "m, gamma",
                        "constants": "",
                        "conditions": "a toy condition that holds at every other grid point",
                    },
                    {
                        "id": "toy.prop_2",
                        "citation": f"Toy, Author (2024), Proposition 2; {SPECS[0]}.md Sec. 4",
                        "statement": "E X = d / 2 exactly.",
                        "kind": "expectation",
                        "parameters": "d",
                        "constants": "",
                        "conditions": "d >= 1 and a rate over d",
                    },
                ]
            ),
        )
    return root


def _pdftotext(pdf: Path, first: int | None = None, last: int | None = None) -> str:
    exe = shutil.which("pdftotext")
    if exe is None:
        pytest.skip("pdftotext (poppler-utils) is not installed")
    pages = [] if first is None else ["-f", str(first), "-l", str(last or first)]
    out = subprocess.run([exe, *pages, str(pdf), "-"], capture_output=True, check=True)
    return out.stdout.decode()


def _flat(text: str) -> str:
    """The text layer with every run of whitespace (wrapped lines) as one space."""
    return " ".join(text.split())


def _reader(pdf: Path):
    pypdf = pytest.importorskip("pypdf")
    return pypdf.PdfReader(str(pdf))


def _bookmarks(reader) -> list[tuple[int, str, int]]:
    """(depth, title, 1-based page) of every PDF bookmark, in order."""
    out = []

    def walk(items, depth):
        for item in items:
            if isinstance(item, list):
                walk(item, depth + 1)
            else:
                # Numbered headings carry their number ("1.2 toy.prop_2"): drop it.
                title = re.sub(r"^\d+(\.\d+)* ", "", item.title)
                out.append((depth, title, reader.get_destination_page_number(item) + 1))

    walk(reader.outline, 1)
    return out


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    return make_store(tmp_path_factory.mktemp("results"))


@pytest.fixture(scope="module")
def report(store) -> Path:
    return build_report(store)


def test_report_is_written_to_the_default_path(store, report):
    assert report == store / "report.pdf"
    assert report.read_bytes().startswith(b"%PDF")


def test_bookmarks_are_the_outline_with_a_section_per_simulation_and_claim(store, report):
    outline = report_outline(store)
    titles = [s.title for s in outline if s.level == 1]
    assert titles == [SUMMARY, *SIMULATIONS.values(), CONDITIONS, APPENDIX, PROVENANCE]
    # Every claim of every simulation has a section of its own under its simulation.
    for sim, claims in {"toy-bound": ["toy.lemma_1"], "toy-law": ["toy.prop_2"]}.items():
        k = next(i for i, s in enumerate(outline) if s.title == SIMULATIONS[sim])
        following = [s.title for s in outline[k + 1 :]]
        end = next((i for i, s in enumerate(outline[k + 1 :]) if s.level == 1), len(following))
        assert set(claims) <= set(following[:end])
    reader = _reader(report)
    marks = _bookmarks(reader)
    # The PDF's bookmarks are exactly the outline, in order, and their pages never go back.
    assert [(d, t) for d, t, _ in marks] == [(s.level, s.title) for s in outline]
    pages = [p for _, _, p in marks]
    assert pages == sorted(pages) and pages[0] == 1
    # Page count within bounds for two simulations of four grid points each: a summary page,
    # a page or two per simulation, conditions, appendix, provenance.
    assert 5 <= len(reader.pages) <= 16
    # Each level-1 section after the summary starts on a new page.
    firsts = [p for d, _, p in marks if d == 1]
    assert len(set(firsts)) == len(firsts)


def test_every_link_resolves_and_summary_rows_link_to_their_claims(store, report):
    reader = _reader(report)
    named = reader.named_destinations
    targets = []
    for page in reader.pages:
        for annot in page.get("/Annots") or []:
            a = annot.get_object()
            if a.get("/Subtype") != "/Link":
                continue
            dest = a.get("/Dest")
            if dest is None and "/A" in a:
                dest = a["/A"].get("/D")
            assert dest is not None, a
            if isinstance(dest, str):
                assert dest in named, f"link to missing destination {dest}"
                targets.append(dest)
    for claim, sim in (("toy.lemma_1", "toy-bound"), ("toy.prop_2", "toy-law")):
        assert f"tc:claim:{sim}:{claim}" in targets  # its bottom-line row links to its section
    for sim in SIMULATIONS:
        assert f"tc:sim:{sim}" in named


def test_text_layer_names_sections_verdicts_and_claims(store, report):
    text = _flat(_pdftotext(report))
    for word in ("HOLDS", "VIOLATED", "INCONCLUSIVE", "AGREES", "DISAGREES", "DESCRIPTIVE"):
        assert word in text
    for title in SIMULATIONS.values():
        assert title in text
    assert "With probability at least 1 - gamma, |S| <= 2 m." in text  # the claim's statement
    assert "Toy, Author (2024), Lemma 1" in text
    assert "checked at 4 grid points only" in text  # the limitations sentence
    assert "about 900 replicates in all would settle it" in text  # a note (appendix)
    assert "0123456789abcdef0123456789abcdef01234567" in text  # provenance
    for spec in SPECS:  # stored text citing the private specifications cites docs/ instead
        assert f"{spec}.md" not in text
    assert "Proposition 2; docs/theory.md Sec. 4" in text


def test_no_claim_id_is_broken_across_lines(store, report):
    raw = _pdftotext(report)
    joined = "".join(raw.split())
    for claim in ("toy.lemma_1", "toy.prop_2"):
        whole = raw.count(claim)
        assert whole >= 3  # summary row, section heading, tables
        # An id split over two lines is found only once the line break is removed.
        assert joined.count(claim) == whole, f"{claim} is broken across lines"


def test_two_builds_are_byte_identical(store, report, tmp_path):
    again = build_report(store, tmp_path / "again.pdf")
    assert again.read_bytes() == report.read_bytes()
    for name in ("verdicts.csv", "verdicts.tex", "verdicts.parquet"):
        assert (tmp_path / "export" / name).read_bytes() == (store / "export" / name).read_bytes()
    figures = sorted(p.name for p in (store / "export" / "figures").iterdir())
    assert figures == sorted(p.name for p in (tmp_path / "export" / "figures").iterdir())
    for name in figures:
        first = (store / "export" / "figures" / name).read_bytes()
        assert (tmp_path / "export" / "figures" / name).read_bytes() == first


def test_a_rebuild_draws_only_the_figures_whose_inputs_changed(tmp_path, monkeypatch):
    import theorycheck.reports.pdf as pdf_module

    root = make_store(tmp_path / "results")
    out = tmp_path / "out" / "r.pdf"
    first = build_report(root, out).read_bytes()
    drawn = []
    draw = pdf_module.render

    def counting(job):
        drawn.append(job.path.name)
        return draw(job)

    monkeypatch.setattr(pdf_module, "render", counting)
    assert build_report(root, out).read_bytes() == first and drawn == []
    # One simulation's stored summary changes: its figure, and only it, is drawn again.
    store = ResultsStore(root)
    name = f"toy-bound/summary-{PROFILE}-s{SEED}"
    table, meta = store.read_table(name), store.read_meta(name)
    table.loc[0, "estimate"] += 0.1
    store.write_table(name, table, meta)
    assert build_report(root, out).read_bytes() != first
    assert drawn == ["toy-bound.main.svg"]
    # The cache holds the figures of the last build only: SVG and PDF of each, and the
    # two-page PDF of toy.prop_2 (toy.lemma_1's single figure is toy-bound.main's PDF).
    assert len(list((out.parent / pdf_module.CACHE_DIR).iterdir())) == 2 * 3 + 1


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_figure_pdfs_set_by_the_workers_equal_those_set_in_this_process(tmp_path, monkeypatch):
    """With a pool, the workers set the exported figure PDFs while this process sets the report
    (the fast path); without one, this process sets them one by one after the report (the
    reference path). Same report, exports and cache, byte for byte."""
    import theorycheck.reports.pdf as pdf_module

    root = make_store(tmp_path / "results")
    monkeypatch.setattr(pdf_module, "FIGURE_WORKERS", 1)
    serial = build_report(root, tmp_path / "serial" / "r.pdf")
    pending = []
    init = pdf_module._FigureExports.__init__

    def recording(self, doc, build, cache, pool):
        init(self, doc, build, cache, pool)
        pending.append((pool is not None, len(self._set)))

    monkeypatch.setattr(pdf_module._FigureExports, "__init__", recording)
    monkeypatch.setattr(pdf_module, "FIGURE_WORKERS", 2)
    monkeypatch.setattr(pdf_module, "MIN_POOL_FIGURES", 1)
    pooled = build_report(root, tmp_path / "pooled" / "r.pdf")
    # The pool set every distinct figure PDF: one per figure, and toy.prop_2's two-page one.
    assert pending == [(True, 3 + 1)]
    assert pooled.read_bytes() == serial.read_bytes()
    for part in ("export", pdf_module.CACHE_DIR):
        assert _files(pooled.parent / part) == _files(serial.parent / part)


def _booktabs(tex: str) -> list[list[str]]:
    """The cells of a booktabs tabular; fails unless it has that shape."""
    lines = [ln for ln in tex.splitlines() if ln and not ln.startswith("%")]
    assert lines[0].startswith("\\begin{tabular}{") and lines[-1] == "\\end{tabular}"
    assert lines[1] == "\\toprule" and lines[3] == "\\midrule" and lines[-2] == "\\bottomrule"
    rows = [lines[2], *lines[4:-2]]
    cols = len(re.findall(r"[lrc]", lines[0].removeprefix("\\begin{tabular}")))
    cells = []
    for row in rows:
        assert row.endswith(" \\\\")
        parts = re.split(r"(?<!\\)&", row.removesuffix(" \\\\"))
        assert len(parts) == cols, row
        cells.append([p.strip() for p in parts])
    return cells


def test_exports_exist_and_parse(store, report):
    export = store / "export"
    summary = pd.read_csv(export / "verdicts.csv")
    assert set(summary["claim"]) == {"toy.lemma_1", "toy.prop_2"}
    v = load_results(store).verdicts
    assert summary.set_index("claim")["rows"].to_dict() == v["claim"].value_counts().to_dict()
    cells = _booktabs((export / "verdicts.tex").read_text())
    assert cells[0][0] == "claim" and len(cells) == len(summary) + 1
    assert r"toy.lemma\_1" in {row[0] for row in cells}  # LaTeX-escaped underscore
    for claim in ("toy.lemma_1", "toy.prop_2"):
        table = pd.read_csv(export / "claims" / f"{claim}.csv")
        assert table["rows"].sum() == (v["claim"] == claim).sum()
        assert len(_booktabs((export / "claims" / f"{claim}.tex").read_text())) == len(table) + 1
    tidy = pd.read_parquet(export / "verdicts.parquet")
    assert len(tidy) == len(v) and {"param_m", "param_d", "param_gamma"} <= set(tidy.columns)
    lemma = tidy[tidy["claim"] == "toy.lemma_1"]
    assert lemma["param_m"].tolist() == [10 * 2**i for i in range(4)]
    from pypdf import PdfReader

    figures = sorted(p.name for p in (export / "figures").iterdir())
    per_figure = ["toy-bound.main.pdf", "toy-law.main.pdf", "toy-law.rate.pdf"]
    # Per claim, a page per figure of the simulations that check it: toy.lemma_1 is checked by
    # toy-bound (one figure), toy.prop_2 by toy-law (two).
    assert figures == sorted([*per_figure, "toy.lemma_1.pdf", "toy.prop_2.pdf"])
    pages = {name: len(PdfReader(export / "figures" / name).pages) for name in figures}
    assert pages == {**dict.fromkeys(per_figure, 1), "toy.lemma_1.pdf": 1, "toy.prop_2.pdf": 2}
    figures = per_figure
    index = pd.read_csv(export / "figures.csv")
    assert sorted(index["file"]) == [f"figures/{name}" for name in figures]
    rate = index.set_index("file").loc["figures/toy-law.rate.pdf"]
    assert rate["simulation"] == "toy-law" and rate["claims"] == "toy.prop_2"


def test_latex_escape_prints_every_special_character():
    from theorycheck.reports.exports import latex_escape

    assert latex_escape("a_b & 50% $x$ #1 {y} ~ ^ \\") == (
        r"a\_b \& 50\% \$x\$ \#1 \{y\} \textasciitilde{} \textasciicircum{} \textbackslash{}"
    )


NASTY = [
    "#let x = 1 $a_b^c$ *bold* _emph_ `raw` <label> @ref [x] \\ ~ // not a comment",
    '/* nor this */ "quoted" = heading? - list? + enum? / term: https://example.org',
    "back\\slash\\n and tab\there",
]


def test_text_escape_shows_every_character_as_is(tmp_path):
    import typst

    from theorycheck.reports.markup import claim_id, text

    src = "".join(f"{text(s)}\n\n" for s in NASTY) + claim_id("a_b.c-d") + "\n"
    (tmp_path / "t.typ").write_text(src)
    pdf = tmp_path / "t.pdf"
    pdf.write_bytes(typst.compile(str(tmp_path / "t.typ"), ignore_system_fonts=True))
    shown = _flat(_pdftotext(pdf))
    for s in [*NASTY, "a_b.c-d"]:
        assert _flat(s) in shown, s


def test_shipped_replaces_citations_of_files_that_do_not_ship():
    from theorycheck.reports.markup import shipped

    theory, quadratic, folder = (f"{SPECS[0]}.md", f"{SPECS[1]}.md", "pa" + "pers/004")
    assert shipped(f"{theory} Sec. 4 F1 [derived]; docs/derivations/worst_output.md") == (
        "docs/theory.md Sec. 4 F1 [derived]; docs/derivations/worst_output.md"
    )
    assert shipped(f"{quadratic} sigma = t^2, RF") == (
        "docs/derivations/quadratic.md sigma = t^2, RF"
    )
    assert shipped(f"eq. (3); slides {folder}") == "eq. (3)"
    assert shipped(f"main theorem (slides {folder}, 'Main Theorem')") == "main theorem"


def test_every_typeset_statement_compiles(tmp_path):
    import typst

    from theorycheck.reports.statements import STATEMENTS, TEMPLATES, statement_markup

    stored = {  # stored statements of each template's family, numbers as the registry writes
        "exact.grad_energy_": "E||grad f||^2 = ... = 0.500000 + (d - 1) 0.500000.",
        "dohmatob2022.init_robustness_": "E S(f0) = alpha^2 E sigma'(g)^2 = 0.500000 alpha^2.",
        "dohmatob2022.rf_error_": "kappa = mu1^2/mu*^2 = 2.751938, m the root",
        "dohmatob2022.rf_robustness_": "with kappa = 2.751938, nu^2/mu*^2 = 2.152261 (not",
        "dohmatob2022.nt_error_": "(Marchenko-Pastur, c = 2 mu2^2/nu3^2 = 1.751938); the",
        "dohmatob2022.nt_robustness_": "gamma3 = 4.604833, c = 6.680557 (Marchenko-Pastur).",
    }
    assert set(stored) == set(TEMPLATES)
    parts = [statement_markup(c, "") for c in STATEMENTS]
    for prefix, text in stored.items():
        filled = statement_markup(prefix + "relu", text)
        assert "$" in filled  # the template matched: mathematics, not the escaped text
        parts.append(filled)
    (tmp_path / "s.typ").write_text("\n\n".join(parts))
    typst.compile(str(tmp_path / "s.typ"), ignore_system_fonts=True)  # raises on any error
    # Without an entry: the stored text, shown as is.
    assert statement_markup("toy.x", "a $b$") == '#"a $b$";'


def _crowded_figure():
    """A figure spec whose x grid values are close together on a log axis: its default tick
    labels collide."""
    from theorycheck.reports.data import FigureInfo

    xs = [1.0e-4, 1.05e-4, 1.1e-4, 1.15e-4, 1.2e-4, 1.25e-4, 1.3e-4]
    rows = pd.DataFrame(
        [
            {"figure": "f", "panel": p, "series": "s", "x": x, "estimate": 1e-4 * (1 + k),
             "ci_low": 0.9e-4 * (1 + k), "ci_high": 1.1e-4 * (1 + k), "bound": 3e-4}
            for p in ("left", "right", "third") for k, x in enumerate(xs)
        ]
    )  # fmt: skip
    return FigureInfo("f", "crowded", "input dimension d", "estimate", True, False, "", rows)


def test_figures_have_no_overlapping_tick_labels(store, tmp_path):
    from theorycheck.reports.figures import (
        FigureJob,
        _thin_colliding_labels,
        render,
        stored_figure,
        tick_label_overlaps,
    )
    from theorycheck.reports.style import style_context

    infos = [f for s in load_results(store).simulations for f in s.figures]
    infos.append(_crowded_figure())
    with style_context():
        crowded = stored_figure(infos[-1])
        # The check can fail: this grid's labels collide before the report thins them.
        assert tick_label_overlaps(crowded)
        for info in infos:
            fig = stored_figure(info)
            fig.draw_without_rendering()
            _thin_colliding_labels(fig)
            assert tick_label_overlaps(fig) == [], info.name
    # The report's drawing step does the same and writes an SVG with no date in it.
    out = render(FigureJob(tmp_path / "crowded.svg", info=infos[-1]))
    assert out.read_text().startswith("<?xml") and "dc:date" not in out.read_text()


def test_large_store_without_claims_lists_claim_ids_and_paginates(tmp_path):
    n = 40
    root = make_store(tmp_path / "results", n_points=n, claims=False)
    pdf = build_report(root, tmp_path / "out" / "r.pdf")
    reader = _reader(pdf)
    marks = {t: p for _, t, p in _bookmarks(reader)}
    assert marks[PROVENANCE] > marks[APPENDIX] + 1  # 2 x 40 rows need more than one page
    text = _flat(_pdftotext(pdf))
    assert "toy.lemma_1" in text and "toy.prop_2" in text
    assert "no claims.parquet" in text
    assert (tmp_path / "out" / "export" / "verdicts.csv").exists()


def test_missing_results_directory_raises_user_error(tmp_path):
    with pytest.raises(UserInputError, match="does not exist"):
        build_report(tmp_path / "nowhere")


def test_missing_verdicts_table_raises_user_error(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserInputError, match="verdicts"):
        build_report(tmp_path / "empty")


def test_store_rows_have_the_verdict_row_fields():
    # Guard the synthetic store against drift from the real verdict table format.
    assert list(asdict(_bound_rows(1)[0])) == list(VerdictRow.__dataclass_fields__)


def test_conditions_lines_and_bottom_line_in_text_layer(store, report):
    text = _flat(_pdftotext(report))
    # Per claim: how many grid points satisfy the conditions, and where they fail
    # (toy.lemma_1: hold at m = 10, 40; fail at m = 20, 80).
    assert "Conditions hold at 2 of 4 grid points (fail at: m = 20, 80; gamma = 0.1)." in text
    # toy.prop_2's rows (4 law points and a rate over d) do not fix its conditions.
    assert "Conditions not evaluated at the 5 grid points" in text
    assert CONDITIONS in text
    assert "No width-window results are stored with this run" in text
    # The bottom line never counts a refutation outside the conditions as one: toy.lemma_1's
    # VIOLATED row (i = 1) is at a point where its conditions fail.
    from theorycheck.bottom_line import bottom_line
    from theorycheck.reports.tables import SHORT_STATUS

    line = bottom_line(load_results(store).verdicts).set_index("claim")["status"]
    assert line["toy.lemma_1"] != "refuted inside its conditions"
    assert line["toy.prop_2"] == "refuted inside its conditions"  # DISAGREES at d = 10
    assert f"toy.lemma_1 {SHORT_STATUS[line['toy.lemma_1']]}" in text
    assert "Findings inside the conditions" in text and "DISAGREES at d=10" in text


def test_fitted_slope_and_claim_label_the_log_log_figure(store, report):
    row, _, _ = _rate_fit_rows()
    text = _flat(_pdftotext(report))
    slope = f"slope {row.estimate:.2f} [{row.ci_low:.2f}, {row.ci_high:.2f}]".replace("-", "−")
    assert f"wang: {slope}" in text  # the series' legend label: the verdict's exponent and CI
    assert "fitted power law, claimed slope 1/2" in text
    # The fit is matched to its verdict row through the stored identity, not refitted.
    info = next(f for s in load_results(store).simulations for f in s.figures if f.name == "rate")
    (fit,) = info.fits.values()
    assert info.rows["fitted"].notna().all() and info.rows["rate_claim"].eq("toy.prop_2").all()
    assert (fit.exponent, fit.ci_low, fit.ci_high, fit.claimed, fit.kind) == (
        row.estimate,
        row.ci_low,
        row.ci_high,
        0.5,
        "Theta",
    )


def _fits_by_filtering(rows, verdicts):
    """The reference for ``_fits``: per fitted (panel, series), the first verdict row whose
    claim, statistic and parameters equal its stored identity, found by filtering the table."""
    out = {}
    linked = rows[rows["rate_claim"].notna()]
    keys = ["panel", "series", "rate_claim", "rate_statistic", "rate_parameters"]
    for (panel, series, claim, statistic, parameters), _ in linked.groupby(keys, sort=False):
        match = verdicts[
            (verdicts["claim"] == claim)
            & (verdicts["statistic"] == statistic)
            & (verdicts["parameters"] == parameters)
        ]
        if not match.empty:
            out.setdefault((panel, series), float(match.iloc[0]["estimate"]))
    return out


def test_fits_are_the_first_verdict_row_of_their_stored_identity(store):
    """Fits are matched through an index of the verdict table (the fast path): the same rows
    as filtering the table per fitted series, a duplicate identity giving its first row, an
    unknown identity no fit and a warning."""
    from theorycheck.reports.data import _fits

    sim = next(s for s in load_results(store).simulations if s.id == "toy-law")
    info = next(f for f in sim.figures if f.name == "rate")
    v = sim.verdicts
    rate = v[v["statistic"] == info.rows["rate_statistic"].iloc[0]]
    duplicate = rate.assign(estimate=rate["estimate"] + 1.0)  # same identity, later rows
    verdicts = pd.concat([v, duplicate], ignore_index=True)
    rows = pd.concat([info.rows, info.rows.assign(series="other", rate_claim="toy.none")])
    warnings = []
    fits = _fits(rows, verdicts, "rate", warnings)
    expected = _fits_by_filtering(rows, verdicts)
    assert {k: f.exponent for k, f in fits.items()} == expected
    assert len(expected) == 1 and len(warnings) == 1 and "toy.none" in warnings[0]
    assert next(iter(expected.values())) == float(rate["estimate"].iloc[0])


def test_with_conditions_records_hold_fail_and_not_applicable():
    rows = _bound_rows(3)
    answers = {10: True, 20: False, 40: None}
    seen = []

    def conditions(claim, params):
        seen.append((claim, params["m"]))
        return answers[params["m"]]

    out = with_conditions(rows, conditions)
    assert [r.conditions for r in out] == ["inside", "outside", "unknown"]
    assert seen == [("toy.lemma_1", 10), ("toy.lemma_1", 20), ("toy.lemma_1", 40)]
    # Only the new field changes.
    assert [asdict(r) | {"conditions": ""} for r in out] == [
        asdict(r) | {"conditions": ""} for r in rows
    ]
    assert VerdictRow(**{**asdict(rows[0]), "conditions": "unknown"}) == replace_conditions(rows[0])


def replace_conditions(row: VerdictRow) -> VerdictRow:
    """A row built without the field: the default is "unknown"."""
    fields = {k: v for k, v in asdict(row).items() if k != "conditions"}
    return VerdictRow(**fields)


def test_claim_conditions_evaluate_the_registered_bounds():
    point = {"C0": 10.0, "gamma": 0.1, "C2": 1.25, "W": "W0"}
    # Wang et al. Theorem 3.1's window: empty at d = 784 (Fig. 2), m = 1e18 inside at d = 1e7
    # (d^2.4 = 6.3e16 <= 1e18 <= exp(d^0.24) = 5.6e20).
    assert claim_conditions("wang2022.theorem_3_1", {**point, "d": 784, "m": 1000}) is False
    assert claim_conditions("wang2022.theorem_3_1", {**point, "d": 1e7, "m": 1e18}) is True
    # A rate row's parameters do not fix d: not applicable.
    assert claim_conditions("wang2022.theorem_3_1", {"C0": 10.0, "m": 1000, "grid": [25]}) is None
    # No conditions beyond the domains, an unknown claim, a parameter that is not a number.
    assert claim_conditions("bubeck2021.output_order", {"d": 10, "m": 100}) is None
    assert claim_conditions("toy.lemma_1", {"m": 10}) is None
    assert claim_conditions("wang2022.theorem_3_1", {**point, "d": "25,49", "m": 1000}) is None


def test_old_verdict_tables_without_the_conditions_column_load(tmp_path):
    root = make_store(tmp_path / "results")
    store = ResultsStore(root)
    # A table written before the column existed, both as the run's table and per simulation.
    old = store.read_table("verdicts").drop(columns="conditions")
    meta = store.read_meta("verdicts")
    store.write_table("verdicts", old, meta)
    for sim in SIMULATIONS:
        store.write_table(f"{sim}/verdicts-{PROFILE}-s{SEED}", old[old["simulation"] == sim])
    data = load_results(root)
    assert not data.conditions_recorded
    assert set(data.verdicts["conditions"]) == {"unknown"}
    text = _flat(_pdftotext(build_report(root, tmp_path / "old.pdf")))
    assert "was not recorded with these results" in text
    # The runner's collection step reads them too (the field's default).
    table = collect_verdicts(store, PROFILE, SEED, 0.05, simulations=list(SIMULATIONS))
    assert len(table) == len(old) and set(table["conditions"]) == {"unknown"}


def test_width_window_page_from_the_stored_windows(tmp_path):
    from theorycheck.simulations import get_simulation

    root = tmp_path / "ww"
    result = run([get_simulation("width-window")], profile="quick", seed=SEED, out=str(root),
                 progress=False, conditions=claim_conditions)  # fmt: skip
    assert "conditions" in result.verdicts
    pdf = build_report(root, tmp_path / "a.pdf")
    marks = _bookmarks(_reader(pdf))
    level1 = [(t, p) for d, t, p in marks if d == 1]
    page = dict(level1)
    after = {t: level1[i + 1][1] - 1 for i, (t, _) in enumerate(level1[:-1])}
    text = _flat(_pdftotext(pdf, page[CONDITIONS], after[CONDITIONS]))
    # The threshold the width-window simulation stored (docs/theory.md [derived]: 2.97e6).
    assert "non-empty for every d >= 2,972,163" in text
    assert "empty at every d of the paper's Fig. 2" in text
    assert "window opens at d = 2,972,163" in text  # the figure's legend
    # The stored window at Wang et al.'s Fig. 2 dimensions, as a table (d = 25 .. 784).
    assert "Wang et al.'s window at the dimensions of their Fig. 2" in text
    assert "m = 1000 inside" in text and "784" in text
    assert "No grid point of this run tests a claim of Bubeck et al." in text
    # Page 1 says where the window opens, linked to this section.
    first = _flat(_pdftotext(pdf, 1, 1))
    assert "opens at d = 2,972,163" in first
    # The provenance section: the run's wall time and blocks, the time per simulation, every
    # config id with its parameters.
    text = _flat(_pdftotext(pdf, page[PROVENANCE], len(_reader(pdf).pages)))
    (cfg_dir,) = [p for p in (root / "width-window").glob("*-s*") if p.is_dir()]
    assert "wall for the last `theorycheck run` (1 blocks computed, 0 reused" in text
    assert "Where the time went" in text and "Configurations" in text
    assert cfg_dir.name.split("-s")[0] in text and "d_max = 1e8" in text
    assert (tmp_path / "export" / "figures" / "width-windows.pdf").exists()
    index = pd.read_csv(tmp_path / "export" / "figures.csv").set_index("file")
    assert "wang2022.theorem_3_1" in index.loc["figures/width-windows.pdf", "claims"]
    configs = pd.read_csv(tmp_path / "export" / "configurations.csv")
    assert configs["config_id"].tolist() == [cfg_dir.name.split("-s")[0]]
    again = build_report(root, tmp_path / "b.pdf")
    assert again.read_bytes() == pdf.read_bytes()


def test_fit_rows_without_points_carry_only_the_fitted_line():
    # For a figure whose points come from other rows (init-output's E|f| figures).
    row, points, _ = _rate_fit_rows()
    dims = [p["x"] for p in points]
    rng = generator(SEED, "toy-law", "samples")
    fit = fit_rate(dims, [np.sqrt(d) * rng.exponential(size=200) for d in dims],
                   generator(SEED, "toy-law", "bootstrap"), n_boot=200)  # fmt: skip
    line = fit.summary_rows({"figure": "rate"}, verdict=row, points=False)
    assert all(math.isnan(r["estimate"]) and math.isnan(r["ci_low"]) for r in line)
    assert [r["fitted"] for r in line] == [p["fitted"] for p in points]
    # Local slopes are never linked: their figure is not the statistic's.
    assert "fitted" not in fit.summary_rows({"figure": "slopes"}, local=True, verdict=row)[0]


def test_timing_table_totals_only_recorded_times_and_says_so():
    from types import SimpleNamespace

    from theorycheck.reports.tables import timing_table

    def sim(sid, seconds):
        cfgs = [{"id": f"{sid}-{k}", "config": {}, "blocks": 2, "seconds": t}
                for k, t in enumerate(seconds)]  # fmt: skip
        return SimpleNamespace(id=sid, meta={"configs": cfgs, "evaluate_seconds": 0.5})

    data = SimpleNamespace(simulations=[sim("a", [30.0, 10.0]), sim("b", [20.0, None])])
    rows = timing_table(data).rows
    assert rows[0][3:5] == ["40.0 s", "100%"]  # b's total is unknown: a holds all the known time
    assert rows[1][3:5] == ["not recorded", ""]
    assert rows[-1][0] == "1 of 2 recorded" and rows[-1][3] == "40.0 s"
    data = SimpleNamespace(simulations=[sim("a", [30.0, 10.0]), sim("b", [20.0, 40.0])])
    rows = timing_table(data).rows
    assert [r[4] for r in rows[:2]] == ["40%", "60%"]
    assert rows[-1][0] == "all" and rows[-1][3] == "100.0 s"


def test_colour_encodes_c0_in_every_figure():
    """A series labelled ``C0 = v`` has C0's colour whatever its position in the figure, the
    marker tells the families apart, and larger C0 is darker (the order reads in grey)."""
    import itertools

    import matplotlib as mpl

    from theorycheck.reports.style import series_styles

    one = series_styles(["C0 = 1", "C0 = 10", "C0 = 40"])
    other = series_styles(["worst-output W*, C0 = 40", "random-sphere W, C0 = 40",
                           "worst-output W*, C0 = 10"])  # fmt: skip
    assert one[2].color == other[0].color == other[1].color and one[1].color == other[2].color
    assert other[0].marker != other[1].marker and other[0].marker == other[2].marker

    def grey(c):  # relative luminance
        r, g, b = mpl.colors.to_rgb(c)
        return 0.2126 * r + 0.7152 * g + 0.0722 * b

    levels = [grey(s.color) for s in series_styles([f"C0 = {v}" for v in (1, 10, 20, 30, 40)])]
    assert all(a > b for a, b in itertools.pairwise(levels)), levels
    # Without C0 in every name, the positional style (distinct colours).
    assert len({s.color for s in series_styles(["a", "b", "c"])}) == 3


def test_prose_sets_backtick_spans_as_code_and_keeps_other_characters(tmp_path):
    """Commands in stored sentences (`theorycheck run`) are set as code, not printed with their
    backticks; an unpaired backtick is kept; the rest is shown as is."""
    import typst

    from theorycheck.reports.markup import prose, text

    assert prose("no code here") == text("no code here")
    assert prose("run `theorycheck run` now") == (
        text("run ") + '#raw("theorycheck run");' + text(" now")
    )
    assert prose("a `b` c `d") == text("a ") + '#raw("b");' + text(" c `d")
    src = prose('a `x "y" \\ z` and $b$ `c`')
    (tmp_path / "p.typ").write_text(src)
    typst.compile(str(tmp_path / "p.typ"), ignore_system_fonts=True)  # raises on bad markup


def test_numbers_follow_one_format_in_tables_parameters_and_statements():
    """General format, 4 significant digits, powers of ten from 10^4 written 1e8 (not '1e+08'
    beside '10000' in one column), exact zero '0' (tanh's constant was shown '0.000000')."""
    from theorycheck.reports.conditions import _value
    from theorycheck.reports.statements import statement_markup
    from theorycheck.reports.tables import _fmt_value, fmt_num, fmt_p

    column = [fmt_num(v) for v in (10000, 1e8, 2265.0, 11390.4, 0.0, 0.5, -3.2e-7, 9999.6)]
    assert column == ["1e4", "1e8", "2265", "1.139e4", "0", "0.5", "−3.2e−7", "1e4"]
    # Parameters (ints and floats alike) and the conditions' fail-at lists: the same rule.
    assert [_fmt_value(v) for v in (10000, 1e8, 0.0272865, 3)] == ["1e4", "1e8", "0.0272865", "3"]
    assert [_value(v) for v in (10000, 1e8, 25.0)] == ["1e4", "1e8", "25"]
    assert fmt_p(1.1e-9) == "1.1e−9" and fmt_p(0.5) == "0.500"
    stored = "gamma3 = 4.078264, c = 0.000000 (Marchenko-Pastur)."
    markup = statement_markup("dohmatob2022.nt_robustness_tanh", stored)
    assert "$gamma_3 = 4.078$" in markup and "$c = 0$" in markup and "0.000000" not in markup


def test_the_implied_constants_table_shows_the_constant_and_its_slope(tmp_path):
    """The table beside a simulation's claims prints the implied constant at the largest grid
    value and the slope the verdict tests, each under its own header, from the stored rows
    (the report reads only some columns of the verdict table: this one must be among them)."""
    from theorycheck.rates import implied_constant
    from theorycheck.reports.tables import fmt_num
    from theorycheck.verdicts import implied_constant_verdict

    root = make_store(tmp_path / "r")
    store = ResultsStore(root)
    dims = np.array([10.0, 40.0, 160.0, 640.0])
    rng = generator(SEED, "toy-law", "implied")
    samples = [3.0 * d**0.3 * rng.exponential(size=200) for d in dims]
    fit = implied_constant(dims, samples, np.ones(dims.size), rng, n_boot=100, statistic=0.9)
    row = implied_constant_verdict("toy.prop_2", "toy-law", {}, "X (its 0.9 quantile)", fit,
                                   side="upper", variable="d")  # fmt: skip
    verdicts = pd.concat([store.read_table("verdicts"), verdict_frame([row])], ignore_index=True)
    store.write_table("verdicts", verdicts, store.read_meta("verdicts"))
    text = _flat(_pdftotext(build_report(root)))
    assert row.constant > 0 and row.estimate > 0  # planted: 3 d^0.3 times noise
    table = text[text.index("Implied constants") :]
    # The text layer reads the header row, then the cells: settings, constant, slope.
    cells = f"1 {fmt_num(row.constant)} +{fmt_num(row.estimate)} "
    assert "at the largest grid value slope verdicts " + cells in table, table[:600]
