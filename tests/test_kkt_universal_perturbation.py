"""kkt-universal-perturbation (Vardi, Yehudai, Shamir 2022: the main theorem and the theorem
"robust networks exist"): the span
reduction against a materialised d-dimensional network, the exact eta_min against independent
forward passes and a brute-force scan, the KKT residual (fast against reference, zero at a known
KKT point, shrinking along training), the robust construction's certificate against attacks,
planted errors that must come out VIOLATED, and the simulation's conformance.

Failure probabilities. The only test of a sampler against an exact law is the Kolmogorov-Smirnov
test of <x_1, x_2> / d; its p-value is exact for a continuous law, so a correct sampler fails at
level 1e-7 with probability 1e-7 per d, 2e-7 for the two dimensions (< 1e-6). The planted-error
tests decide through the implied-constant trend test (VIOLATED when the one-sided tests of the
overall log-log slope > 0.1 and of the last local slope > 0.1 both reject at 0.05). The planted
rates (exponent 0 instead of 1/2 in d for ||delta||; log d instead of sqrt(d) log d for the inner
products) make the implied constant grow like d^(1/2) and sqrt(d)/log d: slopes ~0.5 and ~0.4
over 1e4..1e7 with bootstrap se ~0.02 overall and ~0.04 for the last step on these seeds, so a
miss needs the last-step estimate to fall (0.4 - 0.1) / 0.04 - 1.65 > 5.8 se below its mean,
probability < 4e-9 under the normal bootstrap approximation. A correct bound (slope ~0, se
~0.02) reads VIOLATED only if its slope estimate exceeds 0.1 + 1.65 se, 6.6 se above its mean,
probability < 3e-11. With the fixed seeds every row is deterministic; the slopes and their se are
in the assertion messages. Every other check is deterministic (exact arithmetic up to the
rounding stated where it is compared).
"""

from __future__ import annotations

import copy
import itertools
import math
from dataclasses import replace

import numpy as np
import pytest
from scipy import stats
from threadpoolctl import threadpool_limits

from theorycheck.bounds import REGISTRY
from theorycheck.bounds.conformance import check_bound
from theorycheck.bounds.vardi2022 import SphereInnerProducts, UniversalPerturbation
from theorycheck.simulation import measure_blocks
from theorycheck.simulations import kkt_universal_perturbation as K
from theorycheck.simulations.conformance import check_simulation
from theorycheck.verdicts import Verdict

VARDI = sorted(i for i in REGISTRY if i.startswith("vardi2022."))


@pytest.fixture(autouse=True, scope="module")
def _one_blas_thread():
    """The matrices here are tiny: BLAS threads only add contention on a loaded machine."""
    with threadpool_limits(1):
        yield


@pytest.mark.parametrize("bound_id", VARDI)
def test_bounds_conform(bound_id):
    check_bound(REGISTRY[bound_id])


def test_the_simulation_conforms():
    check_simulation(K.SIMULATION)


# -- data -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("d", [5, 40])
def test_sampler_matches_the_exact_inner_product_law(d):
    """(<x_1, x_2>/d + 1)/2 ~ Beta((d-1)/2, (d-1)/2) for independent uniform points on the sphere
    (one pair per data set, so the draws are independent); every point has norm sqrt(d)."""
    rng = np.random.default_rng(11)
    t = np.empty(2000)
    for r in range(t.size):
        Z = K.sphere_coordinates(3, d, rng)
        assert np.allclose(np.linalg.norm(Z, axis=1), math.sqrt(d), rtol=1e-12)
        t[r] = Z[0] @ Z[1] / d
    law = stats.beta((d - 1) / 2, (d - 1) / 2, loc=-1, scale=2)
    assert stats.kstest(t, law.cdf).pvalue > 1e-7


def test_labels_are_balanced():
    rng = np.random.default_rng(0)
    for n in (4, 7, 64):
        y = K.balanced_labels(n, rng)
        assert np.sum(y < 0) == n // 2 and np.sum(y > 0) == n - n // 2


# -- the span reduction against a materialised network --------------------------------------------


def _full_train(W, b, a, X, y, step, target):
    """The readable reference: the same discretised flow on the d-dimensional network."""
    steps = 0
    while True:
        A = X @ W.T + b
        D = (A > 0).astype(float)
        q = y * (np.maximum(A, 0) @ a)
        if np.log(np.sum(np.exp(-q))) <= math.log(target):
            return W, b, a, steps
        w = np.exp(-q - (-q).max()) * y
        gW = a[:, None] * ((D * w[:, None]).T @ X)
        gb = (D * w[:, None]).sum(axis=0) * a
        ga = (A * D).T @ w
        g = math.sqrt((gW**2).sum() + (gb**2).sum() + (ga**2).sum())
        th = math.sqrt((W**2).sum() + (b**2).sum() + (a**2).sum())
        lam = step * th / g
        W, b, a = W + lam * gW, b + lam * gb, a + lam * ga
        steps += 1


def _materialised(seed, d=30, n=6, k=16):
    rng = np.random.default_rng(seed)
    G = rng.standard_normal((n, d))
    X = math.sqrt(d) * G / np.linalg.norm(G, axis=1, keepdims=True)
    y = K.balanced_labels(n, rng)
    W = 1e-3 * rng.standard_normal((k, d)) / math.sqrt(d)
    a = 1e-3 * rng.choice((-1.0, 1.0), size=k) / math.sqrt(k)
    return X, y, W, np.zeros(k), a


@pytest.mark.parametrize("seed", [1, 2])
def test_span_training_equals_the_materialised_network(seed):
    X, y, W, b, a = _materialised(seed)
    Q, _ = np.linalg.qr(X.T)  # orthonormal basis of the span, d x n
    Z = X @ Q
    perp = ((W - (W @ Q) @ Q.T) ** 2).sum(axis=1)
    net = K.Net(W @ Q, b.copy(), a.copy(), perp)
    steps, _, _ = K.train(net, Z, y, step=0.05, target=1e-30)
    Wf, bf, af, steps_full = _full_train(W, b, a, X, y, 0.05, 1e-30)
    assert steps == steps_full
    assert np.allclose(Wf @ Q, net.V, rtol=1e-9, atol=1e-12 * np.abs(net.V).max())
    # the component outside the span never moved
    assert np.allclose(Wf - (Wf @ Q) @ Q.T, W - (W @ Q) @ Q.T, atol=1e-15)
    # the universal perturbation, found in coordinates, flips every point of the d-dim network
    eta, check = K.universal_eta(net, Z, y)
    assert math.isfinite(eta)
    u = y @ X
    f = np.maximum((X - (y * check)[:, None] * u[None, :]) @ Wf.T + bf, 0) @ af
    assert np.all(np.sign(f) == -y)
    # and just below eta_min some point is not flipped
    f = np.maximum((X - (y * eta * (1 - 1e-6))[:, None] * u[None, :]) @ Wf.T + bf, 0) @ af
    assert not np.all(np.sign(f) == -y)


def test_batched_training_equals_one_by_one():
    rng = np.random.default_rng(4)
    d, n, k = 10**5, 8, 12
    Zs = [K.sphere_coordinates(n, d, rng) for _ in range(2)]
    ys = [K.balanced_labels(n, rng) for _ in range(2)]
    nets = [K.init_net(k, n, d, rng, scale=1e-3) for _ in range(2)]
    single = copy.deepcopy(nets)
    for loss in ("exp", "logistic"):
        batch_nets, one_nets = copy.deepcopy(nets), copy.deepcopy(single)
        res = K.train_batch(batch_nets, Zs, ys, loss=loss, step=0.05)
        for r in range(2):
            steps, ll, rec = K.train(one_nets[r], Zs[r], ys[r], loss=loss, step=0.05)
            assert res[r][0] == steps and math.isclose(res[r][1], ll, rel_tol=1e-12)
            assert np.allclose(batch_nets[r].V, one_nets[r].V, rtol=1e-10, atol=0)
            assert rec.keys() == res[r][2].keys()


# -- eta_min --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def trained():
    """Five networks trained to loss 1e-30 at d = 1e4, n = 16 (and their data)."""
    rng = np.random.default_rng(7)
    d, n, k = 10**4, 16, 24
    out = []
    for _ in range(5):
        Z, y = K.sphere_coordinates(n, d, rng), K.balanced_labels(n, rng)
        net = K.init_net(k, n, d, rng, scale=1e-3)
        result = K.train(net, Z, y)
        out.append((net, Z, y, result))
    return d, out


def test_eta_min_is_exact_by_forward_passes(trained):
    """No eta on a fine grid below eta_min flips every point (independent forward passes); at
    the check point every point is flipped; per point the first flip is where the forward pass
    changes sign."""
    _, nets = trained
    for net, Z, y, _ in nets:
        eta, check = K.universal_eta(net, Z, y)
        u = y @ Z
        grid = np.linspace(0, eta, 2001)[:-1]
        F = np.stack([net(Z - (y * e)[:, None] * u[None, :]) for e in grid])  # (grid, n)
        assert not np.any(np.all(np.sign(F) == -y[None, :], axis=1))
        assert K.verify_flips(net, Z, y, check)
        first = K.first_flips(net, Z, y)
        for i in range(len(y)):
            before = net(Z[i : i + 1] - y[i] * first[i] * (1 - 1e-7) * u)[0]
            after = net(Z[i : i + 1] - y[i] * first[i] * (1 + 1e-7) * u)[0]
            assert np.sign(before) == y[i] and np.sign(after) == -y[i]
        assert first.max() <= eta * (1 + 1e-12)


def test_negative_intervals_on_a_known_function():
    # h(t) = 1 - t on [0, 2], then rises with slope 2 from h(2) = -1: negative on (1, 2.5)
    pts, g = np.array([0.0, 2.0, 3.0]), np.array([1.0, -1.0, 1.0])
    assert K.negative_intervals(pts, g) == [(1.0, 2.5)]
    pts, g = np.array([0.0, 1.0, 2.0]), np.array([1.0, 0.5, 0.0])  # falls forever past t = 2
    assert K.negative_intervals(pts, g) == [(2.0, math.inf)]


# -- the KKT residual ---------------------------------------------------------------------------


def test_kkt_residual_fast_equals_reference(trained):
    _, nets = trained
    for net, Z, y, _ in nets:
        fast, ref = K.kkt_residual(net, Z, y), K.kkt_residual_reference(net, Z, y)
        for key in ("stationarity", "slackness"):
            assert math.isclose(fast[key], ref[key], rel_tol=1e-6, abs_tol=1e-10)


def test_kkt_residual_vanishes_at_a_kkt_point():
    """One point x (||x||^2 = d), one neuron: theta = lambda grad q(theta) holds for
    w = a x / sqrt(d + 1), b = a / sqrt(d + 1) (lambda = 1/sqrt(d + 1)); with every margin 1
    the slackness vanishes too. Moving the neuron off that direction gives a positive residual."""
    d = 9
    z = np.array([[3.0]])
    y = np.array([1.0])
    a = 0.7
    net = K.Net(np.array([[a * 3.0 / math.sqrt(d + 1)]]), np.array([a / math.sqrt(d + 1)]),
                np.array([a]), np.zeros(1))  # fmt: skip
    res = K.kkt_residual(net, z, y)
    assert res["stationarity"] < 1e-12 and abs(res["slackness"]) < 1e-12
    off = K.Net(net.V * 1.3, net.b, net.a, np.zeros(1))
    assert K.kkt_residual(off, z, y)["stationarity"] > 1e-3


def test_kkt_residual_shrinks_along_training(trained):
    """The complementary slackness falls at every checkpoint and by 5x from loss 1e-2 to 1e-30
    for every network; the total residual (stationarity + slackness) is smaller at 1e-30 than at
    1e-2 on average (the stationarity alone plateaus: the limitation the report states)."""
    _, nets = trained
    totals = []
    for *_, (_steps, ll, record) in nets:
        assert ll <= math.log(1e-30)
        slack = [record[c][1]["slackness"] for c in K.CHECKPOINTS]
        assert all(s1 < s0 for s0, s1 in itertools.pairwise(slack))
        assert slack[-1] < slack[0] / 5
        first, last = record[K.CHECKPOINTS[0]][1], record[K.CHECKPOINTS[-1]][1]
        totals.append((first["stationarity"] + first["slackness"],
                       last["stationarity"] + last["slackness"]))  # fmt: skip
    totals = np.array(totals)
    assert totals[:, 1].mean() < totals[:, 0].mean()


# -- the robust network ---------------------------------------------------------------------------


def test_robust_construction_is_certified():
    """The certificate of every point holds against attacks in R^d: towards every point of the
    other class, against the point itself, along the universal direction, in random directions
    and in the directions that raise the other class's neurons most; and the flip distances the
    exact line search finds are never below it. The radius is at least (1 - rho) sqrt(d)/2."""
    rng = np.random.default_rng(3)
    d, n = 400, 10
    G = rng.standard_normal((n, d))
    X = math.sqrt(d) * G / np.linalg.norm(G, axis=1, keepdims=True)
    y = K.balanced_labels(n, rng)
    Q, _ = np.linalg.qr(X.T)
    Z = X @ Q
    net, beta = K.robust_net(Z, y, d)
    r = K.certified_radius(Z, y, d, beta)
    rho = 2 * beta - 1
    assert np.all(r >= (1 - rho) * math.sqrt(d) / 2 * (1 - 1e-12))
    assert np.all(np.sign(net(Z)) == y)
    Wfull = net.V @ Q.T  # the network in R^d

    def f(x):
        return np.maximum(x @ Wfull.T + net.b, 0) @ net.a

    for i in range(n):
        dirs = [X[j] - X[i] for j in range(n) if y[j] != y[i]]
        dirs += [-y[i] * X[i], -y[i] * (y @ X)]
        dirs += list(rng.standard_normal((200, d)))
        others = [X[j] for j in range(n) if y[j] != y[i]]
        dirs += [sum(others)]
        D = np.array([v / np.linalg.norm(v) for v in dirs])
        pts = X[i] + 0.999999 * r[i] * D
        assert np.all(np.sign(f(pts)) == y[i]), i
        for j in range(n):
            if y[j] != y[i]:
                assert K.segment_attack(net, Z, y, i, j) >= r[i]
    eta, _ = K.universal_eta(net, Z, y)
    assert eta * np.linalg.norm(y @ Z) >= r.max()


# -- planted errors -------------------------------------------------------------------------------


class _WrongExponent(UniversalPerturbation):
    """Planted: ||delta|| = O(1 / (c sqrt(n))) (exponent 0 instead of 1/2 in d)."""

    def _value(self, d, n, c, s, C):
        return C / (c * np.sqrt(n)) + 0.0 * d


class _WrongInnerExponent(SphereInnerProducts):
    """Planted: max |<x_i, x_j>| = O(log d) (exponent 0 instead of 1/2 in d)."""

    def _value(self, d, n, C):
        return C * np.log(d) + 0.0 * n


@pytest.fixture(scope="module")
def over_d():
    sim = K.SIMULATION
    cfgs = [replace(c, width=16) for c in sim.configs("quick") if c.series == "over-d"]
    return {c: measure_blocks(sim, c, seed=0) for c in cfgs}


def _rows(sim, data, claim, over):
    rows = [r for r in sim.evaluate(data).verdicts if r.claim == claim]
    return [r for r in rows if r.params().get("over") == over]


def test_planted_exponents_are_violated_and_the_truth_is_not(over_d):
    truth = K.SIMULATION
    planted = copy.copy(truth)
    planted.universal_bound = _WrongExponent()
    planted.inner_bound = _WrongInnerExponent()
    for claim in ("vardi2022.universal_perturbation", "vardi2022.sphere_inner_products"):
        (good,) = _rows(truth, over_d, claim, "d")
        (bad,) = _rows(planted, over_d, claim, "d")
        assert good.verdict != Verdict.VIOLATED, good.note
        assert bad.verdict == Verdict.VIOLATED, bad.note


def test_a_planted_wrong_eta_fails_the_forward_passes(over_d, monkeypatch):
    """Reporting 0.99 eta_min as the universal perturbation must fail the forward-pass check."""
    real = K.universal_eta

    def short(net, Z, y):
        eta, _ = real(net, Z, y)
        return 0.99 * eta, 0.99 * eta

    cfg = next(iter(over_d))
    monkeypatch.setattr(K, "universal_eta", short)
    df = measure_blocks(K.SIMULATION, cfg, seed=0)
    row = K.SIMULATION._flip_row(cfg, df)
    assert row.verdict == Verdict.VIOLATED
    monkeypatch.undo()
    assert K.SIMULATION._flip_row(cfg, over_d[cfg]).verdict == Verdict.HOLDS
