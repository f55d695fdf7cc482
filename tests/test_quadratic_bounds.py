"""The Dohmatob & Bietti (2022) asymptotic references (bounds/dohmatob2022.py) against the numbers
of docs/derivations/quadratic.md, their internal identities, and the deterministic verdict rows
that check them."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from theorycheck.bounds import REGISTRY, Kind, get_bound
from theorycheck.bounds import dohmatob2022 as D
from theorycheck.verdicts import (
    Verdict,
    apply_holm,
    comparison_verdict,
    law_verdict,
    statement_verdict,
)

PSI = np.array([0.1, 0.25, 0.5, 1, 2, 4, 8])


def test_every_entry_is_registered_cited_and_asymptotic_or_exact():
    for b in D.BOUNDS:
        assert REGISTRY[b.id] is b
        assert (
            "docs/derivations/quadratic.md" in b.citation
            or "Dohmatob" in b.citation
            or "docs/theory.md" in b.citation
        )
        if b.kind == Kind.ASYMPTOTIC:
            assert b.derived and "docs/derivations/quadratic.md" in b.citation


def test_relu_constants_are_the_closed_forms():
    k = D.constants("relu")
    assert k.mu_star_sq == pytest.approx((math.pi - 2) / (4 * math.pi), rel=1e-10)
    assert k.kappa == pytest.approx(math.pi / (math.pi - 2), rel=1e-10)
    assert k.nu_sq == pytest.approx(0.25, rel=1e-10)
    assert k.nu3_sq == pytest.approx((math.pi - 2) / (4 * math.pi), rel=1e-10)
    assert k.c == pytest.approx(2 / (math.pi - 2), rel=1e-10)
    assert math.isinf(k.gamma3)


def test_gelu_constants_match_quadratic_md():
    k = D.constants("gelu")
    assert k.mu_star_sq == pytest.approx(0.095644, abs=1e-6)
    assert k.nu_sq == pytest.approx(0.205851, abs=1e-6)
    assert k.nu3_sq == pytest.approx(0.026802, abs=1e-6)
    assert k.c == pytest.approx(6.6806, abs=1e-4)
    assert k.gamma3 == pytest.approx(4.6048, abs=1e-4)


def test_rf_relu_table_of_quadratic_md():
    eps = get_bound("dohmatob2022.rf_error_relu")(psi=PSI, F1sq=1.0, F2sq=0.0)
    S = get_bound("dohmatob2022.rf_robustness_relu")(psi=PSI, F1sq=1.0)
    assert eps == pytest.approx([0.928, 0.826, 0.675, 0.448, 0.228, 0.105, 0.049], abs=6e-4)
    assert S == pytest.approx([0.107, 0.261, 0.496, 0.831, 1.042, 1.055, 1.032], abs=6e-4)


def test_nt_tables_of_quadratic_md():
    grid = np.array([0.1, 0.25, 0.5, 1, 2, 4, 8])
    E2 = get_bound("dohmatob2022.nt_error_gelu")(psi=grid, F2sq=1.0)
    S2 = get_bound("dohmatob2022.nt_robustness_gelu")(psi=grid, F1sq=0.0, F2sq=1.0)
    relu = get_bound("dohmatob2022.nt_error_relu")(psi=grid, F2sq=1.0)
    assert E2 == pytest.approx([0.836, 0.627, 0.373, 0.138, 0.049, 0.021, 0.010], abs=6e-4)
    assert S2 == pytest.approx([0.386, 0.883, 1.490, 1.969, 2.021, 2.011, 2.006], abs=1.5e-3)
    assert relu == pytest.approx([0.880, 0.728, 0.537, 0.316, 0.157, 0.075, 0.037], abs=6e-4)


def test_nn_tail_fraction_of_quadratic_md():
    r = D.nn_tail_fraction(np.array([0.1, 0.25, 0.5, 0.75, 1.0, 3.0]))
    assert r == pytest.approx([0.686, 0.377, 0.106, 0.013, 0.0, 0.0], abs=6e-4)


def test_nn_tail_fraction_against_a_large_semicircle_matrix():
    # r(psi) is the limit of the fraction of ||B0||^2 outside the top m |eigenvalues|.
    rng = np.random.default_rng(0)
    d = 2000
    G = rng.standard_normal((d, d))
    lam = np.sort(np.abs(np.linalg.eigvalsh((G + G.T) / 2)))[::-1]
    for psi in (0.25, 0.5):
        frac = np.sum(lam[int(psi * d) :] ** 2) / np.sum(lam**2)
        assert frac == pytest.approx(float(D.nn_tail_fraction(psi)), abs=5e-3)


@settings(max_examples=40)
@given(psi=st.floats(0.01, 50.0), c=st.floats(0.0, 50.0))
def test_marchenko_pastur_parts_sum_to_one(psi, c):
    E2, Q2, N2 = (float(v) for v in D.marchenko_pastur_nt(psi, c))
    assert E2 + Q2 + N2 == pytest.approx(1.0, abs=1e-12)
    assert min(E2, Q2, N2) >= -1e-15
    if c == 0:
        assert E2 == pytest.approx(1.0)


@given(psi=st.floats(0.01, 20.0))
def test_marchenko_pastur_t2_limit_recovers_the_frobenius_formula(psi):
    # c -> infinity (sigma = t^2, nu3 = 0): E2 -> (1 - psi)_+^2.
    E2 = float(D.marchenko_pastur_nt(psi, 1e12)[0])
    assert E2 == pytest.approx(max(1 - psi, 0.0) ** 2, abs=1e-6)


@given(psi=st.floats(0.01, 50.0), F1=st.floats(0, 5), F2=st.floats(0, 5), Ftr=st.floats(0, 5))
def test_t2_formulas_satisfy_the_tradeoff_identity(psi, F1, F2, Ftr):
    # S + 2 eps = S(f*) + F1^2 with S(f*) = F1^2 + 2 (F2^2 + Ftr^2).
    S_star = F1 + 2 * (F2 + Ftr)
    for e, s in (("quad_rf_error", "quad_rf_robustness"), ("quad_nt_error", "quad_nt_robustness")):
        eps = get_bound(f"dohmatob2022.{e}")(psi=psi, F1sq=F1, F2sq=F2, Ftrsq=Ftr)
        S_b = get_bound(f"dohmatob2022.{s}")
        S = S_b(
            **{
                k: v
                for k, v in {"psi": psi, "F2sq": F2, "Ftrsq": Ftr}.items()
                if k in {p.name for p in S_b.params}
            }
        )
        assert S + 2 * eps == pytest.approx(S_star + F1, rel=1e-12, abs=1e-12)
    eps = get_bound("dohmatob2022.quad_nn_error")(psi=psi, F1sq=F1, F2sq=F2)
    S = get_bound("dohmatob2022.quad_nn_robustness")(psi=psi, F2sq=F2)
    assert S + 2 * eps == pytest.approx(F1 + 2 * F2 + F1, rel=1e-12, abs=1e-12)


def test_rf_formula_satisfies_its_tradeoff_inequality():
    # docs/derivations/quadratic.md: S + eps = Var f* + (nu^2/mu*^2 - 1) F1^2 (-kappa m') > Var f*
    # (tau = 0).
    for act in ("relu", "gelu", "tanh"):
        k = D.constants(act)
        eps = get_bound(f"dohmatob2022.rf_error_{act}")(psi=PSI, F1sq=1.0, F2sq=1.0)
        S = get_bound(f"dohmatob2022.rf_robustness_{act}")(psi=PSI, F1sq=1.0)
        _, dm = D.rf_resolvent(k.kappa, PSI)
        assert S + eps == pytest.approx(2.0 + (k.nu_sq / k.mu_star_sq - 1) * (-k.kappa * dm))
        assert np.all(S + eps > 2.0)


# --- deterministic verdict rows ---------------------------------------------------------------
def test_comparison_verdict_decides_by_the_tolerance():
    ok = comparison_verdict("c.x", "sim", {"d": 40}, "eps", 1.04, 1.0, 0.05)
    bad = comparison_verdict("c.x", "sim", {"d": 40}, "eps", 1.06, 1.0, 0.05)
    near_zero = comparison_verdict("c.x", "sim", {}, "eps", 1e-4, 0.0, 0.05, atol=1e-3)
    assert (ok.verdict, bad.verdict, near_zero.verdict) == ("AGREES", "DISAGREES", "AGREES")
    assert ok.bound == 1.0 and ok.estimate == 1.04 and math.isnan(ok.p_value)
    assert "relative error 4.00%" in ok.note and ok.params()["tolerance"] == 0.05


def test_deterministic_rows_keep_their_verdict_and_stay_out_of_holms_family():
    fixed = [
        comparison_verdict("c.x", "s", {}, "eps", 2.0, 1.0, 0.05),
        statement_verdict("c.y", "s", {}, "claim", True),
    ]
    tested = law_verdict("c.z", "s", {}, "mean", "z", 0.03, [1.0, 2.0, 3.0])
    out = apply_holm([*fixed, tested])
    assert [r.verdict for r in out] == ["DISAGREES", "HOLDS", "DISAGREES"]
    assert out[2].p_adjusted == pytest.approx(0.03)  # a family of one, not of three
    assert statement_verdict("c.y", "s", {}, "claim", False).verdict == Verdict.VIOLATED
