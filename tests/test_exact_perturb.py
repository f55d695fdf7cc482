"""The exact path for random perturbations (theorycheck/exact_perturb.py,
docs/derivations/exact_sampler.md Sec. 7) against materialised networks.

* Lift (deterministic): the sampled scalars define an explicit W = [g | h | y | r'] (x = e_1, the
  span of the directions next, then e, then r' from the standard basis of R^m); the public
  estimators on that W reproduce every statistic to rounding. This checks the algebra of Sec.
  7.2-7.4, not the laws of the scalars (which the KS tests below check).
* In distribution: two-sample KS of every returned quantity (f, ||grad f||, t*, and per
  perturbation the flips, ||grad f(x') - grad f(x)||^2, the linearisation error, the ratio; the
  ratio along the attack ray at c t*) between the exact path and ``path="reference"`` at
  d = 5, m = 20 (wang, two perturbations: the span of x, v_1, v_2 leaves one complement dimension
  besides e) and d = 40, m = 200 (bubeck, four perturbations as in init-gradient-stability).
* Power: the same comparison, at the same threshold, rejects a complement of d instead of d - 2
  dimensions in the Wishart draw.

A correct implementation fails a test with probability < 1e-6: each of the K quantities of a case
is tested at 1e-6 / K (Bonferroni; scipy's two-sample KS p-value is exact for n <= 10000 and
conservative with ties, e.g. the integer flip counts).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

import theorycheck.exact_perturb as ep
from theorycheck.attack import first_sign_flip
from theorycheck.errors import UserInputError
from theorycheck.exact_perturb import sample_perturbation_statistics
from theorycheck.forward import gradient_difference, output_and_gradient
from theorycheck.network import Network, NetworkSpec
from theorycheck.seeding import generator

ALPHA = 1e-6  # per-test failure probability of a correct implementation
FRACTIONS = (0.25, 0.5, 1.0)
#: name: (spec, thetas, networks per path)
CASES = {
    "wang-d5-m20": (NetworkSpec(d=5, m=20), (0.5, 2.0), 5000),
    "bubeck-d40-m200": (NetworkSpec(d=40, m=200, scaling="bubeck"), (0.1, 0.3, 1.0, 2.0), 3000),
}
#: Below this, a linearisation error is rounding: it is exactly 0 when no neuron flips (the exact
#: path computes it so), while the materialised path forms it as a difference of O(1) numbers.
ROUNDING = 1e-20


def _draw(name, path, seed=7):
    spec, thetas, n = CASES[name]
    return sample_perturbation_statistics(spec, n, generator(seed, "perturb", name, path),
                                          thetas=thetas, ray_fractions=FRACTIONS,
                                          path=path)  # fmt: skip


@pytest.fixture(scope="module")
def samples():
    return {name: {p: _draw(name, p) for p in ("exact", "reference")} for name in CASES}


def _quantities(s) -> dict[str, np.ndarray]:
    q = {
        "f": s.f,
        "grad_norm": s.grad_norm,
        "t_star": np.where(np.isinf(s.t_star), 1e300, s.t_star),
    }
    for j in range(len(s.thetas)):
        q[f"flips_{j}"] = s.flips[:, j]
        q[f"jump2_{j}"] = s.jump2[:, j]
        q[f"lin2_{j}"] = np.where(s.lin2[:, j] < ROUNDING, 0.0, s.lin2[:, j])
        q[f"ratio_{j}"] = s.ratio[:, j]
    for j in range(len(s.ray_fractions)):
        r = s.ray_ratio[:, j]
        q[f"ray_ratio_{j}"] = r[np.isfinite(r)]  # f = 0 or t* = inf: no ray point
    return q


def _level(name) -> float:
    _spec, thetas, _ = CASES[name]
    return ALPHA / (3 + 4 * len(thetas) + len(FRACTIONS))


@pytest.mark.parametrize("name", list(CASES))
def test_exact_matches_materialised_in_distribution(samples, name):
    ex, mat = (_quantities(samples[name][p]) for p in ("exact", "reference"))
    level = _level(name)
    assert len(ex) * level == pytest.approx(ALPHA)
    pvals = {k: stats.ks_2samp(ex[k], mat[k]).pvalue for k in ex}
    # Bonferroni over the K quantities: a correct implementation fails w.p. < K * ALPHA / K.
    assert min(pvals.values()) > level, pvals
    print(name, {k: round(p, 3) for k, p in pvals.items()})
    # Nothing degenerate: the ray's first point is sometimes before any flip (ratio 0) and
    # sometimes not, and the jumps take many values.
    for k in ("jump2_0", "ratio_1", "ray_ratio_2"):
        assert np.unique(ex[k]).size > 100, k
    assert 0.02 < np.mean(ex["ray_ratio_0"] == 0.0) < 0.98


def test_exact_laws_of_f5(samples):
    """Sanity of the d-free sampler against F5 (docs/derivations/single_step_laws.md): the pooled
    flip count is Bin(n m, theta/pi) and E||grad f(x') - grad f(x)||^2 = theta/pi (bubeck).
    Each of the 2 P tests at ALPHA / (2 P): the test fails w.p. < ALPHA."""
    s = samples["bubeck-d40-m200"]["exact"]
    spec, thetas, n = CASES["bubeck-d40-m200"]
    level = ALPHA / (2 * len(thetas))
    for j, th in enumerate(thetas):
        p = stats.binomtest(int(s.flips[:, j].sum()), n * spec.m, th / math.pi).pvalue
        assert p > level, (j, p)
        z = (s.jump2[:, j].mean() - th / math.pi) / (s.jump2[:, j].std(ddof=1) / math.sqrt(n))
        assert 2 * stats.norm.sf(abs(z)) > level, (j, z)


def test_wrong_complement_dimension_is_rejected(samples, monkeypatch):
    """Power at the in-distribution test's threshold: the Wishart with d instead of d - 2
    degrees of freedom, 5000 exact networks against the same 5000 materialised ones (d = 5).

    Arithmetic: the KS distance between the wrong and the right law of jump2_1, measured offline
    on 2e5 + 2e5 exact-path networks, is 0.173 (>= 0.160 after DKW at 1e-7 per sample, e =
    sqrt(ln(2e7) / 4e5) = 0.0065). Each sample of 5000 is within e = sqrt(ln(2e7) / 1e4) = 0.041
    of its law except w.p. 1e-7 (DKW), so D >= 0.160 - 0.082 = 0.078, above the rejection
    distance ~ sqrt(ln(2 / level) / 5000) = 0.059 at level = 1e-6 / 14: the test misses w.p.
    < 2e-7.
    """
    sq = ep._complement_sq_norms
    monkeypatch.setattr(ep, "_complement_sq_norms", lambda gram, k, rng: sq(gram, k + 2, rng))
    bad = _quantities(_draw("wang-d5-m20", "exact", seed=8))
    mat = _quantities(samples["wang-d5-m20"]["reference"])
    assert stats.ks_2samp(bad["jump2_1"], mat["jump2_1"]).pvalue < _level("wang-d5-m20")


@pytest.mark.parametrize("seed", range(4))
def test_lift_reproduces_every_statistic(seed):
    m, nb, thetas, fractions = 12, 6, np.array([0.3, 1.2, 2.5]), np.array([0.25, 0.5, 1.0])
    P, D = len(thetas), 1 + len(thetas) + 1 + m  # x, e_1..e_P, e, m complement coordinates
    draws = ep._draw_block(generator(seed, "lift"), nb, m, D, P)
    # The explicit complement basis: sum_s c_s r'_s has squared norm K_jj exactly.
    out = ep._run_block(draws, D, thetas, fractions,
                        lambda gram, dof: np.diagonal(gram, axis1=1, axis2=2).copy())  # fmt: skip
    f, gnorm, tstar, zero, flips, jump2, lin2, ratio, ray = out
    vc, a, g, h, chi, eta = draws
    for i in range(nb):
        act = g[i] > 0
        N = int(act.sum())
        qn = math.sqrt(N * chi[i])
        y = np.where(act, a[i] * (qn / N + eta[i] - eta[i][act].mean()), eta[i])
        R = np.eye(m)
        R[act] = a[i][act][:, None] * (R[act] - R[act].mean(axis=0))
        net = Network(NetworkSpec(d=D, m=m), a[i], np.hstack([g[i][:, None], h[i], y[:, None], R]),
                      np.zeros(m), 0.0)  # fmt: skip
        x = np.zeros(D)
        x[0] = 1.0
        V = np.zeros((P, D))
        V[:, 1 : 1 + P] = vc[i]
        Xp = np.cos(thetas)[:, None] * x + np.sin(thetas)[:, None] * V
        fw = output_and_gradient(net, np.vstack([x, Xp]), path="reference")
        ss = first_sign_flip(net, x[None, :], path="reference")
        u = -np.sign(fw.f[0]) * fw.grad[0] / fw.grad_norm[0]
        deltas = np.vstack([Xp - x, (fractions * ss.t_star[0])[:, None] * u])
        jumps = gradient_difference(net, np.broadcast_to(x, deltas.shape), deltas, "reference")
        z0 = net.W @ x
        close = dict(rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose([f[i], gnorm[i], tstar[i]],
                                   [fw.f[0], fw.grad_norm[0], ss.t_star[0]], **close)  # fmt: skip
        np.testing.assert_array_equal(flips[i], [np.sum((net.W @ xp > 0) != (z0 > 0)) for xp in Xp])
        np.testing.assert_allclose(jump2[i], jumps[:P] ** 2, **close)
        np.testing.assert_allclose(ratio[i], jumps[:P] / fw.grad_norm[0], **close)
        np.testing.assert_allclose(ray[i], jumps[P:] / fw.grad_norm[0], **close)
        lin_mat = (fw.f[1:] - fw.f[0] - (Xp - x) @ fw.grad[0]) ** 2
        np.testing.assert_allclose(lin2[i], lin_mat, rtol=1e-9, atol=1e-24)
    assert not zero.any() and np.isfinite(tstar).all()


def test_bubeck_is_wang_rescaled():
    """Same draws, both scalings: f, flips, lin2 and the ratios are scale-free; ||grad f|| scales by
    1/sqrt(d), jump2 by 1/d, t* by sqrt(d)."""
    d = 30
    w, b = (sample_perturbation_statistics(NetworkSpec(d=d, m=50, scaling=sc), 40,
                                           generator(3, "rescale"), thetas=(0.4, 1.0),
                                           ray_fractions=(0.5,))
            for sc in ("wang", "bubeck"))  # fmt: skip
    for name in ("f", "flips", "lin2", "ratio", "ray_ratio"):
        np.testing.assert_allclose(getattr(b, name), getattr(w, name), rtol=1e-12, err_msg=name)
    np.testing.assert_allclose(b.grad_norm, w.grad_norm / math.sqrt(d), rtol=1e-12)
    np.testing.assert_allclose(b.jump2, w.jump2 / d, rtol=1e-12)
    np.testing.assert_allclose(b.t_star, w.t_star * math.sqrt(d), rtol=1e-12)


def test_huge_d_runs_without_materialising():
    s = sample_perturbation_statistics(NetworkSpec(d=10**9, m=300), 3, generator(0, "huge"),
                                       thetas=(0.001,), ray_fractions=(1.0,))  # fmt: skip
    assert np.all(np.isfinite(s.jump2)) and s.to_frame().shape[0] == 3


def test_errors():
    spec = NetworkSpec(d=5, m=10)
    rng = generator(0, "errors")
    with pytest.raises(UserInputError, match="path"):
        sample_perturbation_statistics(spec, 2, rng, thetas=(0.1,), path="streaming")
    with pytest.raises(UserInputError, match="exact"):
        sample_perturbation_statistics(NetworkSpec(d=5, m=10, activation="gelu"), 2, rng,
                                       thetas=(0.1,))  # fmt: skip
    with pytest.raises(UserInputError, match="d >= 2"):
        sample_perturbation_statistics(NetworkSpec(d=1, m=10), 2, rng, thetas=(0.1,))
    with pytest.raises(UserInputError, match="thetas"):
        sample_perturbation_statistics(spec, 2, rng, thetas=(4.0,))
    with pytest.raises(UserInputError, match="thetas"):
        sample_perturbation_statistics(spec, 2, rng, thetas=())
