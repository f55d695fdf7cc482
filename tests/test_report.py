"""The PDF report: built from a small synthetic results store (no simulation is run).

The store mimics what ``theorycheck run`` writes: ``verdicts.parquet`` with the run's
provenance, one ``<simulation>/summary-<profile>-s<seed>.parquet`` per simulation with its
figure specs, and optionally ``claims.parquet``.
"""

from __future__ import annotations

import itertools
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

import theorycheck.reports.pdf
from theorycheck.cli import claim_conditions
from theorycheck.errors import UserInputError
from theorycheck.rates import fit_rate
from theorycheck.reports import build_report
from theorycheck.reports.data import load_results
from theorycheck.reports.pdf import APPENDIX, CONDITIONS, PROVENANCE, SUMMARY, report_outline
from theorycheck.runner import collect_verdicts, run
from theorycheck.seeding import generator
from theorycheck.store import ResultsStore
from theorycheck.verdicts import VerdictRow, rate_verdict, verdict_frame, with_conditions

PROFILE, SEED = "quick", 7
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
                        "citation": "Toy, Author (2024), Proposition 2",
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


def _page_count(pdf: Path) -> int:
    return len(re.findall(rb"/Type /Page\b", pdf.read_bytes()))


def _pdftotext(pdf: Path, first: int | None = None, last: int | None = None) -> str:
    exe = shutil.which("pdftotext")
    if exe is None:
        pytest.skip("pdftotext (poppler-utils) is not installed")
    pages = [] if first is None else ["-f", str(first), "-l", str(last or first)]
    out = subprocess.run([exe, *pages, "-layout", str(pdf), "-"], capture_output=True, check=True)
    return out.stdout.decode()


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    return make_store(tmp_path_factory.mktemp("results"))


@pytest.fixture(scope="module")
def report(store) -> Path:
    return build_report(store)


def test_report_is_written_to_the_default_path(store, report):
    assert report == store / "report.pdf"
    assert report.read_bytes().startswith(b"%PDF")


def test_outline_has_one_section_per_simulation_and_matches_the_pages(store, report):
    outline = report_outline(store)
    titles = [e.title for e in outline]
    assert titles == [
        SUMMARY,
        *[f"{k}. {t}" for k, t in enumerate(SIMULATIONS.values(), start=1)],
        CONDITIONS,
        APPENDIX,
        PROVENANCE,
    ]
    # Sections start on new pages, in order, and together cover every page of the PDF.
    assert outline[0].first_page == 1
    for prev, nxt in itertools.pairwise(outline):
        assert nxt.first_page == prev.last_page + 1
    # This small store fits one page per section, but toy-law's second figure (the rate fit).
    pages = {e.title: e.last_page - e.first_page + 1 for e in outline}
    assert pages.pop(f"2. {SIMULATIONS['toy-law']}") == 2
    # The summary opens with the bottom line, then the counts and contents: two pages here.
    summary_pages = pages.pop(SUMMARY)
    assert summary_pages in (1, 2)
    assert set(pages.values()) == {1}
    assert _page_count(report) == outline[-1].last_page == len(outline) + summary_pages


def test_text_layer_names_sections_verdicts_and_claims(store, report):
    text = _pdftotext(report)
    for word in ("HOLDS", "VIOLATED", "INCONCLUSIVE", "AGREES", "DISAGREES"):
        assert word in text
    for title in SIMULATIONS.values():
        assert title in text
    assert "With probability at least 1 - gamma, |S| <= 2 m." in text  # the claim's statement
    assert "Toy, Author (2024), Lemma 1" in text
    assert "checked at 4 grid points only" in text  # the limitations sentence
    assert "about 900 replicates in all would settle it" in text  # a note (Appendix A)
    assert "0123456789abcdef0123456789abcdef01234567" in text  # provenance


def test_two_builds_are_byte_identical(store, report, tmp_path):
    again = build_report(store, tmp_path / "again.pdf")
    assert again.read_bytes() == report.read_bytes()


def test_large_store_without_claims_is_capped_paginated_and_lists_claim_ids(tmp_path, monkeypatch):
    # A lower cap keeps the test fast; the logic does not depend on the value.
    monkeypatch.setattr(theorycheck.reports.pdf, "SECTION_MAX_ROWS", 10)
    n = 24
    root = make_store(tmp_path / "results", n_points=n, claims=False)
    outline = {e.title: e for e in report_outline(root)}
    appendix = outline[APPENDIX]
    assert appendix.last_page > appendix.first_page  # 2 x 24 rows need more than one page
    pdf = build_report(root, tmp_path / "out" / "r.pdf")
    assert _page_count(pdf) == max(e.last_page for e in outline.values())
    text = _pdftotext(pdf)
    assert f"10 of {n} tests shown" in text
    assert "toy.lemma_1" in text and "toy.prop_2" in text
    assert "no claims.parquet" in text


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


def _flat(text: str) -> str:
    """The text layer with every run of whitespace (wrapped lines) as one space."""
    return " ".join(text.split())


def test_conditions_lines_column_and_page_in_text_layer(store, report):
    text = _flat(_pdftotext(report))
    # Per claim: how many grid points satisfy the conditions, and where they fail
    # (toy.lemma_1: hold at m = 10, 40; fail at m = 20, 80).
    assert "Conditions hold at 2 of 4 grid points (fail at: m = 20, 80; gamma = 0.1)." in text
    # toy.prop_2's rows (4 law points and a rate over d) do not fix its conditions.
    assert "Conditions not evaluated at the 5 grid points" in text
    # The grid table's column and the page on conditions, which says the windows are absent.
    assert "conditions verdict" in text  # the grid table's header
    assert CONDITIONS in text
    assert "No width-window results are stored with this run" in text
    # The title page's bottom line never counts a refutation outside the conditions as one:
    # toy.lemma_1's VIOLATED row (i = 1) is at a point where its conditions fail.
    from theorycheck.bottom_line import bottom_line

    line = bottom_line(load_results(store).verdicts).set_index("claim")["status"]
    assert line["toy.lemma_1"] != "refuted inside its conditions"
    assert "Bottom line" in text and f"toy.lemma_1 {line['toy.lemma_1']}" in text


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
    outline = {e.title: e for e in report_outline(root)}
    page = outline[CONDITIONS]
    pdf = build_report(root, tmp_path / "a.pdf")
    text = _flat(_pdftotext(pdf, page.first_page, page.last_page))
    # The threshold the width-window simulation stored (docs/theory.md [derived]: 2.97e6).
    assert "window opens at d = 2,972,163" in text
    assert "non-empty for every d >= 2,972,163" in text
    assert "empty at every d of the paper's Fig. 2" in text
    # The stored window at Wang et al.'s Fig. 2 dimensions, as a table (d = 25 .. 784).
    assert "Wang et al.'s window at the dimensions of their Fig. 2" in text
    assert "m = 1000 inside" in text and "784" in text
    assert "No grid point of this run tests a claim of Bubeck et al." in text
    assert _page_count(pdf) == max(e.last_page for e in outline.values())
    # The provenance page: the run's wall time and blocks, the time per simulation, every
    # config id with its parameters.
    prov = outline[PROVENANCE]
    text = _flat(_pdftotext(pdf, prov.first_page, prov.last_page))
    (cfg_dir,) = [p for p in (root / "width-window").glob("*-s*") if p.is_dir()]
    assert "wall for the last `theorycheck run` (1 blocks computed, 0 reused" in text
    assert "Where the time went" in text and "Configurations" in text
    assert cfg_dir.name.split("-s")[0] in text and "d_max = 1e+08" in text
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
    assert rows[-1][0].text == "1 of 2 recorded" and rows[-1][3].text == "40.0 s"
    data = SimpleNamespace(simulations=[sim("a", [30.0, 10.0]), sim("b", [20.0, 40.0])])
    rows = timing_table(data).rows
    assert [r[4] for r in rows[:2]] == ["40%", "60%"]
    assert rows[-1][0].text == "all" and rows[-1][3].text == "100.0 s"
