"""The exact path for the lazy-ball perturbations worst-output and robustifying
(theorycheck/exact_span.py, docs/derivations/exact_sampler.md Sec. 6).

* kernel == NumPy twin on the same draws (1e-12), and the *lift*: the sampled scalars define an
  explicit W0 = [z | y | r] (x = e_1, e' = e_2, r from the standard basis of the complement) on
  which the materialised constructions (worst_output_weights, perturbations.robustifying) and
  estimators (first_sign_flip, output_and_gradient) reproduce every output to rounding;
* reductions: C0 = 0 is the init sampler of theorycheck/exact.py, draw for draw; the worst-output f
  is that sampler's sup or inf; bubeck is wang rescaled;
* in distribution: two-sample KS of every returned quantity (and of f - f0, ||grad f|| -
  ||grad f0||, which see the joint law) against materialised networks at d = 5, 20 (bubeck), 200.
  A correct implementation fails a test with probability < 1e-6: each of the K quantities is
  tested at 1e-6 / K (Bonferroni; KS p-values are exact or conservative). Power: at the same
  threshold and sample size, forgetting the conditioning on V' and drawing V0 independently of V'
  are rejected.
"""

from __future__ import annotations

import math

import numba
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

import theorycheck.exact_span as es
from theorycheck.attack import first_sign_flip
from theorycheck.errors import UserInputError
from theorycheck.exact import sample_init_statistics
from theorycheck.exact_span import (
    _conditioned_components,
    _draw_block,
    _radial_direction,
    _radial_targets,
    _run_block,
    _run_block_reference,
    sample_perturbed_statistics,
    worst_output_weights,
)
from theorycheck.forward import output_and_gradient
from theorycheck.lazy_ball import lazy_radius
from theorycheck.network import Network, NetworkSpec
from theorycheck.perturbations import robustifying
from theorycheck.seeding import generator

ALPHA = 1e-6  # per-test failure probability of a correct implementation
FAMILIES = ("worst-output", "robustifying")


def _params(family, R, rf):
    """(r1, beta, by_sign) of the kernel for a family, wang units."""
    return es._span_parameters(family, R, rf, 1.0)


@st.composite
def span_cases(draw):
    m = draw(st.integers(1, 30))
    d = draw(st.sampled_from([1, 2, 3, m + 2, 60]))
    nb = draw(st.integers(1, 4))
    family = draw(st.sampled_from(FAMILIES))
    rf = draw(st.sampled_from([0.0, 0.25, 0.5, 1.0]))
    rng = generator(draw(st.integers(0, 2**32 - 1)), "test_exact_span")
    R = float(rng.uniform(0.0, 1.5))
    return _draw_block(rng, nb, m, d), d, family, R, rf


@given(span_cases())
def test_kernel_matches_numpy_twin(case):
    draws, d, family, R, rf = case
    r1, beta, by_sign = _params(family, R, rf)
    out = _run_block(*draws, d, r1, beta, by_sign)
    ref = _run_block_reference(*draws, d, r1, beta, by_sign)
    for name, x, y in zip(("f", "gnorm", "tstar", "zero", "f0", "gnorm0"), out, ref, strict=True):
        np.testing.assert_allclose(x, y, rtol=1e-12, atol=1e-12, err_msg=name)
    f, _, tstar, zero, f0, _ = out
    assert np.all(tstar[zero] == 0.0) and np.all(tstar >= 0.0)
    if family == "robustifying":
        # |f| never decreases (docs/derivations/gradient_certificates.md Sec. 5)
        assert np.all(np.abs(f) >= np.abs(f0) - 1e-12)


def _lift(a, z, g, chi1, family, R, rf):
    """The explicit W0 (m, m + 2) of one sampled network: rows z_s e_1 + y_s e_2 + r_s with the
    complement coordinates xi'_s = standard basis vectors of R^m (derivation Sec. 6.5). With
    these, ||part of V0 orthogonal to e'||^2 = q exactly, i.e. chi2 = 1."""
    m = len(z)
    a = a.astype(float)
    r1, _, by_sign = _params(family, R, rf)
    A1 = _radial_targets(a, z, r1, _radial_direction(a, z, r1, by_sign)) > 0
    vnorm = math.sqrt(A1.sum() * chi1)
    y = _conditioned_components(a, A1, g, vnorm, m + 2)
    Xi = np.eye(m)
    if A1.any():
        Xi[A1] = a[A1, None] * (Xi[A1] - Xi[A1].mean(axis=0))
    return np.column_stack([z, y, Xi])


@given(span_cases())
def test_lift_reproduces_every_output(case):
    """The kernel's outputs are the materialised constructions' outputs on the lifted W0."""
    (a, z, g, chi1, _), _, family, R, rf = case
    m = z.shape[1]
    d = m + 2
    # chi1 was drawn for the case's d (0 when d = 1): ||V'|| = 0 would send the ray along x
    # (all breakpoints at t = 1, a null event for d >= 2): use a generic value.
    chi1 = np.where(chi1 > 0, chi1, 1.0)
    r1, beta, by_sign = _params(family, R, rf)
    out = _run_block(a, z, g, chi1, np.ones(len(z)), d, r1, beta, by_sign)
    x = np.zeros((1, d))
    x[0, 0] = 1.0
    spec = NetworkSpec(d=d, m=m)
    for i in range(z.shape[0]):
        W0 = _lift(a[i], z[i], g[i], chi1[i], family, R, rf)
        net = Network(spec, a[i].astype(float), W0, np.zeros(m), 0.0)
        scale = np.sum(np.abs(W0)) / math.sqrt(m) + 1.0
        fw0 = output_and_gradient(net, x, path="reference")
        assert abs(fw0.f[0] - out[4][i]) <= 1e-12 * scale
        assert abs(fw0.grad_norm[0] - out[5][i]) <= 1e-10 * scale
        for path in ("reference", "numba"):
            if family == "worst-output":
                W = worst_output_weights(net, x, R, path=path)
            else:
                W = robustifying(net, x[0], R, radial_fraction=rf, path=path)
            step = first_sign_flip(net.with_weights(W), x, path=path)
            assert abs(step.f[0] - out[0][i]) <= 1e-12 * scale
            assert abs(step.grad_norm[0] - out[1][i]) <= 1e-10 * scale
            assert step.zero_output[0] == out[3][i]
            if not out[3][i]:
                assert step.t_star[0] == pytest.approx(out[2][i], rel=1e-9, abs=1e-12)


# ------------------------------------------------------------------ reductions (deterministic)


def test_reduces_to_the_init_sampler():
    """Same seed, one block: (a, z, g, chi2_{d-1}) are the init sampler's draws. At C0 = 0 both
    families leave W0 unchanged and every output equals the init one; at C0 > 0 f0 is the init f
    and the worst-output f is the init sampler's sup or inf, whichever is larger in |.|."""
    spec, n = NetworkSpec(d=50, m=40), 200
    init = sample_init_statistics(spec, n, generator(4), radii=(lazy_radius(spec, 3.0),))
    for family in FAMILIES:
        s = sample_perturbed_statistics(spec, n, generator(4), family=family, C0=0.0)
        np.testing.assert_array_equal(s.f, init.f)
        np.testing.assert_array_equal(s.f0, init.f)
        np.testing.assert_allclose(s.grad_norm, init.grad_norm, rtol=1e-13)
        np.testing.assert_allclose(s.grad_norm0, init.grad_norm, rtol=1e-13)
        np.testing.assert_allclose(s.t_star, init.t_star, rtol=1e-12)
    s = sample_perturbed_statistics(spec, n, generator(4), family="worst-output", C0=3.0)
    sup, inf = init.worst_sup[:, 0], init.worst_inf[:, 0]
    np.testing.assert_allclose(s.f, np.where(sup >= -inf, sup, inf), rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(s.f0, init.f)


def test_bubeck_is_wang_rescaled():
    """Same seed: identical draws, so bubeck outputs are the wang ones mapped (docs/theory.md Sec.
    1)."""
    d, m, C0 = 50, 30, 4.0
    for family in FAMILIES:
        w = sample_perturbed_statistics(NetworkSpec(d=d, m=m), 50, generator(3), family=family,
                                        C0=C0)  # fmt: skip
        b = sample_perturbed_statistics(NetworkSpec(d=d, m=m, scaling="bubeck"), 50, generator(3),
                                        family=family, C0=C0)  # fmt: skip
        np.testing.assert_allclose(b.f, w.f, rtol=1e-13)
        np.testing.assert_allclose(b.grad_norm, w.grad_norm / math.sqrt(d), rtol=1e-12)
        np.testing.assert_allclose(b.grad_norm0, w.grad_norm0 / math.sqrt(d), rtol=1e-12)
        np.testing.assert_allclose(b.t_star, w.t_star * math.sqrt(d), rtol=1e-10)


# ------------------------------------------------------------------ in distribution vs materialised

# (spec, C0, n). C0 large enough that the move matters (R ~ 1 at m = 8, 30; the orthogonal move
# removes ~10-40% of ||P grad f||); d = 5 so that off-by-one dimensions show; bubeck checks the
# units.
DIST_CASES = {
    "wang-d5-m8": (NetworkSpec(d=5, m=8), 3.0, 4000),
    "bubeck-d20-m30": (NetworkSpec(d=20, m=30, scaling="bubeck"), 5.0, 4000),
    "wang-d200-m40": (NetworkSpec(d=200, m=40), 10.0, 3000),
}


@pytest.fixture(scope="module")
def samples():
    out = {}
    for name, (spec, C0, n) in DIST_CASES.items():
        for family in FAMILIES:
            for path in ("exact", "reference"):
                out[name, family, path] = sample_perturbed_statistics(
                    spec, n, generator(7, "span", name, family, path), family=family, C0=C0,
                    path=path,
                )  # fmt: skip
    return out


def _quantities(s):
    return {
        "f": s.f, "grad_norm": s.grad_norm, "s_lin": s.s_lin,
        "t_star": np.where(np.isinf(s.t_star), 1e300, s.t_star),
        "eta_star": np.where(np.isinf(s.eta_star), 1e300, s.eta_star),
        "f0": s.f0, "grad_norm0": s.grad_norm0,
        # joint law of (W0, W) statistics, which the marginals cannot see
        "f_shift": s.f - s.f0, "grad_shift": s.grad_norm - s.grad_norm0,
    }  # fmt: skip


N_QUANTITIES = 9


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("case", list(DIST_CASES))
def test_exact_matches_materialised_in_distribution(samples, case, family):
    ex, mat = (_quantities(samples[case, family, p]) for p in ("exact", "reference"))
    assert len(ex) == N_QUANTITIES
    pvals = {k: stats.ks_2samp(ex[k], mat[k]).pvalue for k in ex}
    # Bonferroni over the quantities: a correct implementation fails this test w.p. < 1e-6.
    print(case, family, {k: round(p, 3) for k, p in pvals.items()})
    assert min(pvals.values()) > ALPHA / N_QUANTITIES, pvals
    # not degenerate: there is something to test
    for k in ("t_star", "grad_shift", "f_shift"):
        assert np.unique(ex[k]).size > 100, k


def _twin_sample(monkeypatch, case, family, seed, **patches):
    """The exact path run through the NumPy twin with some of its pieces replaced."""
    spec, C0, n = DIST_CASES[case]
    monkeypatch.setattr(es, "_run_block", _run_block_reference)
    for name, fn in patches.items():
        monkeypatch.setattr(es, name, fn)
    return _quantities(sample_perturbed_statistics(spec, n, generator(seed), family=family, C0=C0))


@pytest.mark.parametrize("family", FAMILIES)
def test_forgetting_the_conditioning_is_rejected(samples, monkeypatch, family):
    """Power: y_s = <p_s, e'> drawn iid N(0, 1) for every row, as if e' were independent of the
    rows it is built from, is rejected on t* at the same threshold and sample size."""
    mat = _quantities(samples["wang-d5-m8", family, "reference"])
    bad = _twin_sample(monkeypatch, "wang-d5-m8", family, 8,
                       _conditioned_components=lambda a, active, g, vnorm, d: g)  # fmt: skip
    assert stats.ks_2samp(bad["t_star"], mat["t_star"]).pvalue < ALPHA / N_QUANTITIES


def test_independent_init_gradient_is_rejected(samples, monkeypatch):
    """Power of the joint quantities: ||V0||^2 drawn as N chi2_{d-1} independently of V' has the
    right marginal (grad_norm0 passes) but is rejected on ||grad f|| - ||grad f0||."""
    case, family = "bubeck-d20-m30", "robustifying"
    mat = _quantities(samples[case, family, "reference"])
    rng = generator(9, "independent V0")
    d = DIST_CASES[case][0].d

    def independent(a, A0, A1, y, chi2):
        return A0.sum() * rng.chisquare(d - 1)

    bad = _twin_sample(monkeypatch, case, family, 8, _init_orthogonal_sq=independent)
    # the marginal is right (a correct law passes w.p. > 1 - 1e-6), the joint law is not
    assert stats.ks_2samp(bad["grad_norm0"], mat["grad_norm0"]).pvalue > ALPHA / N_QUANTITIES
    assert stats.ks_2samp(bad["grad_shift"], mat["grad_shift"]).pvalue < ALPHA / N_QUANTITIES


# ------------------------------------------------------------------ threads, size, errors


def test_thread_count_invariance(restore_numba_threads):
    spec = NetworkSpec(d=1000, m=300)
    for family in FAMILIES:
        runs = []
        for threads in (1, min(2, numba.config.NUMBA_NUM_THREADS)):
            numba.set_num_threads(threads)
            runs.append(sample_perturbed_statistics(spec, 40, generator(5), family=family, C0=5))
        for name in ("f", "grad_norm", "t_star", "f0", "grad_norm0"):
            np.testing.assert_array_equal(getattr(runs[0], name), getattr(runs[1], name))


def test_block_layout_covers_many_networks(monkeypatch):
    monkeypatch.setattr(es, "BLOCK_NEURONS", 64)
    s = sample_perturbed_statistics(NetworkSpec(d=20, m=50), 7, generator(1),
                                    family="robustifying", C0=2.0)  # fmt: skip
    assert np.all(np.isfinite(s.grad_norm)) and s.to_frame().shape == (7, 9)


def test_huge_d_and_m_run():
    """d = 1e5, m = 1e6: O(m) memory and time whatever d is (docs/theory.md Sec. 4.1)."""
    for family in FAMILIES:
        s = sample_perturbed_statistics(NetworkSpec(d=100_000, m=1_000_000), 1, generator(2),
                                        family=family, C0=20.0)  # fmt: skip
        assert 0 < s.t_star[0] < np.inf and s.grad_norm[0] > 100
        assert abs(s.f[0]) >= abs(s.f0[0])


def test_errors():
    with pytest.raises(UserInputError, match=r"relu.*path='numba'"):
        sample_perturbed_statistics(NetworkSpec(d=3, m=3, activation="tanh"), 2, generator(0),
                                    family="robustifying", C0=1.0)  # fmt: skip
    with pytest.raises(UserInputError, match="biases"):
        sample_perturbed_statistics(NetworkSpec(d=3, m=3, biases=True), 2, generator(0),
                                    family="worst-output", C0=1.0)  # fmt: skip
    with pytest.raises(UserInputError, match="output_weights"):
        sample_perturbed_statistics(NetworkSpec(d=3, m=3, output_weights="gaussian"), 2,
                                    generator(0), family="worst-output", C0=1.0)  # fmt: skip
    with pytest.raises(UserInputError, match="exactly one of C0 and R"):
        sample_perturbed_statistics(NetworkSpec(d=3, m=3), 2, generator(0),
                                    family="worst-output", C0=1.0, R=0.1)  # fmt: skip
    with pytest.raises(UserInputError, match="exactly one of C0 and R"):
        sample_perturbed_statistics(NetworkSpec(d=3, m=3), 2, generator(0), family="worst-output")
    with pytest.raises(UserInputError, match="family"):
        sample_perturbed_statistics(NetworkSpec(d=3, m=3), 2, generator(0), family="random", C0=1)
    with pytest.raises(UserInputError, match="radial_fraction"):
        sample_perturbed_statistics(NetworkSpec(d=3, m=3), 2, generator(0),
                                    family="robustifying", C0=1.0, radial_fraction=1.5)  # fmt: skip
    with pytest.raises(UserInputError, match="path"):
        sample_perturbed_statistics(NetworkSpec(d=3, m=3), 2, generator(0),
                                    family="robustifying", C0=1.0, path="gpu")  # fmt: skip


def test_materialised_path_covers_other_activations():
    s = sample_perturbed_statistics(NetworkSpec(d=4, m=6, activation="gelu"), 5, generator(0),
                                    family="robustifying", C0=1.0, path="numba")  # fmt: skip
    assert np.all(np.isfinite(s.f)) and np.all(np.abs(s.f) >= np.abs(s.f0) - 1e-12)
