"""The library: one pipeline (theorycheck.run == theorycheck run), results as DataFrames with the
parameters as columns, and a user's own claims (a file, or an installed entry point) decided on
stored observables in their own Holm family (docs/design.md "Library and plugins").
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from _tiny import ExactTinySignFlips
from scipy import stats

import theorycheck
from theorycheck import simulations
from theorycheck.cli import main
from theorycheck.errors import UserInputError
from theorycheck.power import hold_threshold, violation_threshold
from theorycheck.store import META_KEY

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "docs" / "examples" / "my_bounds.py"

#: A planted error: the MEAN of |S_R| (m p, exact by F6) stated as a 1 - gamma bound. |S_R| is
#: Bin(m, p), which exceeds its mean with probability ~1/2 >> gamma = 0.1.
PLANTED = """
import numpy as np
from scipy import stats

from theorycheck.bounds import Bound, Kind, Param


class MeanAsBound(Bound):
    id = "planted.mean_as_bound"
    citation = "a planted error"
    statement = "With probability at least 1 - gamma, |S_R| <= m (2 Phi(C0/sqrt m) - 1)."
    kind = Kind.HP_UPPER
    params = (
        Param("m", "width", low=1, integer=True),
        Param("C0", "lazy-ball constant", low=0),
        Param("gamma", "failure probability", low=0, high=1, low_open=True, high_open=True),
    )
    observable = "lazy-sign-flips:flippable"
    grid = {"gamma": (0.1,)}

    def _value(self, m, C0, gamma):
        return m * (2 * stats.norm.cdf(C0 / np.sqrt(m)) - 1) + 0 * gamma
"""


@pytest.fixture
def tiny_registry(monkeypatch):
    """The registry's lazy-sign-flips replaced by ExactTinySignFlips (2 widths, 500 networks)."""
    monkeypatch.setitem(simulations.REGISTRY, "lazy-sign-flips", ExactTinySignFlips())


def _tables(root: Path) -> dict[str, tuple[pd.DataFrame, dict]]:
    """Every stored Parquet file's data and provenance, without the wall-clock timings (and the
    checksum, which covers them)."""
    timing = {"seconds", "evaluate_seconds", "invocation", "integrity"}

    def untimed(v):
        if isinstance(v, dict):
            return {k: untimed(x) for k, x in v.items() if k not in timing}
        return [untimed(x) for x in v] if isinstance(v, list) else v

    out = {}
    for path in sorted(root.rglob("*.parquet")):
        meta = json.loads((pq.read_schema(path).metadata or {}).get(META_KEY, b"{}"))
        out[str(path.relative_to(root))] = (pd.read_parquet(path), untimed(meta))
    return out


def test_the_api_and_the_cli_write_the_same_files(tiny_registry, tmp_path, capsys):
    api = theorycheck.run("lazy-sign-flips", seed=3, out=tmp_path / "api", report=False,
                          progress=False)  # fmt: skip
    assert main(["run", "lazy-sign-flips", "--seed", "3", "--out", str(tmp_path / "cli"),
                 "--no-report", "--quiet"]) == 0  # fmt: skip
    a, c = _tables(tmp_path / "api"), _tables(tmp_path / "cli")
    assert sorted(a) == sorted(c) and "verdicts.parquet" in a and "claims.parquet" in a
    for name in a:
        pd.testing.assert_frame_equal(a[name][0], c[name][0], check_exact=True)
        assert a[name][1] == c[name][1], name
    # Byte for byte once the wall-clock timings (block seconds, run time) are the same: the
    # stored numbers are bit-identical.
    assert api.computed_blocks == 4 and api.reused_blocks == 0
    assert "8 verdicts" in capsys.readouterr().out


def test_results_give_verdicts_and_observables_with_parameters_as_columns(tiny_registry, tmp_path):
    res = theorycheck.run(["lazy-sign-flips"], out=tmp_path, report=False, progress=False)
    loaded = theorycheck.load(tmp_path)
    assert (loaded.profile, loaded.seed, loaded.simulations) == ("quick", 0, ("lazy-sign-flips",))
    pd.testing.assert_frame_equal(res.verdicts, loaded.verdicts)
    v = loaded.verdicts
    lemma = v[v["claim"] == "wang2022.lemma_4_3"]
    assert sorted(lemma["m"]) == [50, 50, 400, 400] and set(lemma["C0"]) == {1.0, 5.0}
    obs = loaded.observables("lazy-sign-flips")
    # 2 configs x 2 blocks x 250 networks x 2 radii, each row with its config's parameters.
    assert len(obs) == 2 * 2 * 250 * 2
    assert {"config_id", "m", "d", "scaling", "path", "C0", "flippable"} <= set(obs.columns)
    assert obs.groupby("m")["flippable"].max().loc[50] <= 50
    assert set(loaded.summaries["simulation"]) == {"lazy-sign-flips"}
    with pytest.raises(UserInputError, match="no results for simulation 'lazy-output'"):
        loaded.observables("lazy-output")


def _p_wrong(n: int, p_true: float, k: int) -> float:
    """P(Bin(n, p_true) >= k)."""
    return float(stats.binom.sf(k - 1, n, p_true))


def test_a_users_claims_file_end_to_end(tiny_registry, tmp_path, capsys):
    planted = tmp_path / "planted.py"
    planted.write_text(PLANTED)
    without = theorycheck.run("lazy-sign-flips", out=tmp_path / "a", report=False,
                              progress=False)  # fmt: skip
    main(["run", "lazy-sign-flips", "--out", str(tmp_path / "b"), "--no-report", "--quiet",
          "--claims", str(EXAMPLE)])  # fmt: skip
    printed = capsys.readouterr().out
    assert "Your claims (their own Holm family of 4)" in printed
    res = theorycheck.load(tmp_path / "b")
    # The papers' verdicts do not change when a user's claims are checked beside them.
    pd.testing.assert_frame_equal(without.verdicts, res.verdicts)
    mine = res.user_verdicts
    assert set(mine["claim"]) == {"mine.bernstein_flippable"} and len(mine) == 8
    # gamma = 0.01 needs 5440 replicates for power; 500 are stored: described, not decided.
    assert set(mine.loc[mine["gamma"] == 0.01, "verdict"]) == {"DESCRIPTIVE"}
    # A correct implementation gives HOLDS at every gamma = 0.1 point except with probability
    # < 1e-6: the true exceedance P(|S_R| > B) is exact (|S_R| ~ Bin(m, p), F6) and HOLDS fails
    # only if K > hold_threshold (CP limit at 95%); summed over the 4 points (Bonferroni).
    fail = 0.0
    for row in mine[mine["gamma"] == 0.1].itertuples():
        p = 2 * stats.norm.cdf(row.C0 / math.sqrt(row.m)) - 1
        p_true = float(stats.binom.sf(math.floor(row.bound), row.m, p))
        fail += _p_wrong(row.n, p_true, hold_threshold(row.n, 0.1, 0.95) + 1)
        assert row.n == 500 and row.verdict == "HOLDS" and row.family == "confirmatory"
    assert fail < 1e-6, fail
    # ... and the report has a section of their own.
    from pypdf import PdfReader

    text = "".join(page.extract_text() for page in PdfReader(res.report()).pages)
    assert "Your claims" in text and "mine.bernstein_flippable" in text
    assert "own (4 confirmatory rows)" in " ".join(text.split())

    # The planted error comes out VIOLATED at every grid point, in its own family.
    res = theorycheck.run("lazy-sign-flips", out=tmp_path / "b", claims=planted, report=False,
                          progress=False)  # fmt: skip
    mine = res.user_verdicts
    assert set(mine["claim"]) == {"planted.mean_as_bound"}  # the previous run's claims are gone
    pd.testing.assert_frame_equal(without.verdicts, res.verdicts)
    miss = 0.0
    for row in mine.itertuples():
        p = 2 * stats.norm.cdf(row.C0 / math.sqrt(row.m)) - 1
        p_true = float(stats.binom.sf(math.floor(row.bound), row.m, p))  # ~0.4-0.5
        # VIOLATED needs K >= the threshold at the Holm level alpha / 4 (the worst case).
        k = violation_threshold(row.n, 0.1, 0.05 / 4)
        miss += 1 - _p_wrong(row.n, p_true, k)
        assert row.verdict == "VIOLATED", row
    assert miss < 1e-6, miss


def test_claims_from_an_installed_packages_entry_point(tiny_registry, tmp_path, monkeypatch):
    """A tiny installed package: its dist-info declares the entry point, as pip would write it."""
    site = tmp_path / "site"
    pkg = site / "tinyclaims"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text(EXAMPLE.read_text())
    info = site / "tinyclaims-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: tinyclaims\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        "[theorycheck.claims]\nbernstein = tinyclaims:BernsteinFlippable\n"
    )
    monkeypatch.syspath_prepend(str(site))
    res = theorycheck.run("lazy-sign-flips", out=tmp_path / "r", report=False, progress=False)
    assert set(res.user_verdicts["claim"]) == {"mine.bernstein_flippable"}
    # ... and a run that opts out of installed claims has none.
    res = theorycheck.run("lazy-sign-flips", out=tmp_path / "r", report=False, progress=False,
                          entry_points=False)  # fmt: skip
    assert res.user_verdicts.empty


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ("observable = 'lazy-sign-flips'", "must name its observable"),
        ("observable = 'lazy-sign-flips:nope'", "has no observable 'nope'"),
        ("observable = 'lazy-output:sup_abs'", "which this run does not include"),
        ("observable = 'lazy-sign-flips:flippable'\n    grid = {}", "give their values"),
        ("observable = 'lazy-sign-flips:flippable'\n    kind = Kind.RATE", "decides high-prob"),
    ],
)
def test_bad_claims_are_one_line_user_errors(tiny_registry, tmp_path, body, needle):
    src = EXAMPLE.read_text().replace('observable = "lazy-sign-flips:flippable"', body)
    if "grid = {}" in body:
        src = src.replace('grid = {"gamma": (0.01, 0.1)}  # noqa: RUF012', "")
    path = tmp_path / "bad.py"
    path.write_text(src)
    with pytest.raises(UserInputError, match=needle):
        theorycheck.run("lazy-sign-flips", out=tmp_path / "r", claims=path, report=False,
                        progress=False)  # fmt: skip


def test_the_example_claim_is_tighter_than_lemma_4_3():
    """docs/examples/my_bounds.py: Bernstein's bound lies below Wang et al.'s Hoeffding bound
    wherever the lemma is not vacuous (a claim that is not tighter would not be worth shipping)."""
    from theorycheck.bounds import get_bound
    from theorycheck.claims import load_claims_file

    (mine,) = load_claims_file(EXAMPLE)
    lemma = get_bound("wang2022.lemma_4_3")
    m = np.array([100.0, 1e3, 1e4, 1e6])[:, None]
    for C0 in (1.0, 10.0):
        for gamma in (0.01, 0.1):
            assert np.all(mine(m=m, C0=C0, gamma=gamma) < lemma(m=m, C0=C0, gamma=gamma))


def test_only_theorycheck_lands_at_the_top_of_site_packages(tmp_path):
    code = textwrap.dedent("""
        import importlib.util, theorycheck.bounds, theorycheck.simulations, theorycheck.reports
        print([importlib.util.find_spec(n) is None for n in ("bounds", "simulations", "reports")])
    """)
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                         text=True, check=True)  # fmt: skip
    assert out.stdout.strip() == "[True, True, True]"
