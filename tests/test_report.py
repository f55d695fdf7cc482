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

import reports.pdf
from reports import build_report
from reports.pdf import APPENDIX, PROVENANCE, SUMMARY, report_outline
from theorycheck.errors import UserInputError
from theorycheck.store import ResultsStore
from theorycheck.verdicts import VerdictRow, verdict_frame

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


def make_store(root: Path, n_points: int = 4, claims: bool = True) -> Path:
    """Write a synthetic results store under ``root`` and return ``root``."""
    store = ResultsStore(root)
    rows = _bound_rows(n_points) + _law_rows(n_points)
    meta = {**PROVENANCE_META, "alpha": 0.05, "simulations": list(SIMULATIONS)}
    store.write_table("verdicts", verdict_frame(rows), meta)
    claim_ids = {"toy-bound": ["toy.lemma_1"], "toy-law": ["toy.prop_2"]}
    for sim, title in SIMULATIONS.items():
        summary, figures = _summary(sim, n_points)
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
                        "conditions": "none beyond the parameter domains",
                    },
                    {
                        "id": "toy.prop_2",
                        "citation": "Toy, Author (2024), Proposition 2",
                        "statement": "E X = d / 2 exactly.",
                        "kind": "expectation",
                        "parameters": "d",
                        "constants": "",
                        "conditions": "d >= 1",
                    },
                ]
            ),
        )
    return root


def _page_count(pdf: Path) -> int:
    return len(re.findall(rb"/Type /Page\b", pdf.read_bytes()))


def _pdftotext(pdf: Path) -> str:
    exe = shutil.which("pdftotext")
    if exe is None:
        pytest.skip("pdftotext (poppler-utils) is not installed")
    out = subprocess.run([exe, "-layout", str(pdf), "-"], capture_output=True, check=True)
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
        APPENDIX,
        PROVENANCE,
    ]
    # Sections start on new pages, in order, and together cover every page of the PDF.
    assert outline[0].first_page == 1
    for prev, nxt in itertools.pairwise(outline):
        assert nxt.first_page == prev.last_page + 1
    # This small store fits one page per section.
    assert all(e.first_page == e.last_page for e in outline)
    assert _page_count(report) == outline[-1].last_page == len(outline)


def test_text_layer_names_sections_verdicts_and_claims(store, report):
    text = _pdftotext(report)
    for word in ("HOLDS", "VIOLATED", "INCONCLUSIVE", "AGREES", "DISAGREES"):
        assert word in text
    for title in SIMULATIONS.values():
        assert title in text
    assert "With probability at least 1 - gamma, |S| <= 2 m." in text  # the claim's statement
    assert "Toy, Author (2024), Lemma 1" in text
    assert "checked at 4 grid points only" in text  # the limitations sentence
    assert "0123456789abcdef0123456789abcdef01234567" in text  # provenance


def test_two_builds_are_byte_identical(store, report, tmp_path):
    again = build_report(store, tmp_path / "again.pdf")
    assert again.read_bytes() == report.read_bytes()


def test_large_store_without_claims_is_capped_paginated_and_lists_claim_ids(tmp_path, monkeypatch):
    # A lower cap keeps the test fast; the logic does not depend on the value.
    monkeypatch.setattr(reports.pdf, "SECTION_MAX_ROWS", 10)
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
