"""The multi-step l2 attack (theorycheck/pgd.py): PGD on the margin, and its minimal flip radius.

Contract: every perturbation lies in its eps-ball; every reported success is a real sign flip
(recomputed); the multi-step attack is at least as strong as the single step of the same length
(theorycheck/attack.py); the minimal PGD radius is an upper estimate of the minimal adversarial
distance, so it never undercuts the certified lower bound built from the drift certificate
(docs/derivations/gradient_certificates.md Sec. 7), and for relu it is below t* for most inputs.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from theorycheck.activations import ACTIVATIONS
from theorycheck.attack import first_sign_flip
from theorycheck.errors import UserInputError
from theorycheck.forward import output_and_gradient
from theorycheck.network import NetworkSpec, sample_inputs, sample_network
from theorycheck.perturbations import gradient_drift_certificate
from theorycheck.pgd import apgd_checkpoints, deepfool, min_flip_radius_pgd, pgd_attack
from theorycheck.seeding import generator


@st.composite
def attack_cases(draw, activations=tuple(ACTIVATIONS)):
    spec = NetworkSpec(
        d=draw(st.integers(1, 12)),
        m=draw(st.integers(1, 60)),
        activation=draw(st.sampled_from(activations)),
        scaling=draw(st.sampled_from(("wang", "bubeck"))),
        output_weights=draw(st.sampled_from(("sign", "gaussian"))),
        biases=draw(st.booleans()),
    )
    rng = generator(draw(st.integers(0, 2**32 - 1)), "test_pgd")
    net = sample_network(spec, rng)
    X = sample_inputs(spec, draw(st.integers(1, 6)), rng)
    return net, X, rng


def f_at(net, X):
    return output_and_gradient(net, X, path="reference").f


@settings(max_examples=50)
@given(attack_cases(), st.floats(0.0, 2.0), st.booleans())
def test_perturbations_stay_in_the_ball_and_successes_are_real(case, eps_rel, random_start):
    net, X, rng = case
    eps = eps_rel * np.linalg.norm(X, axis=1)
    res = pgd_attack(net, X, eps, steps=15, rng=rng if random_start else None, path="reference")
    assert np.all(res.delta_norm <= eps * (1 + 1e-12))
    fD = f_at(net, X + res.delta)
    np.testing.assert_allclose(res.margin, res.y * fD, rtol=1e-12, atol=1e-14)
    f0 = f_at(net, X)
    np.testing.assert_array_equal(res.y, np.sign(f0))
    flipped = np.sign(fD) != np.sign(f0)
    assert np.all(flipped[res.success & ~res.zero_output])
    assert np.all(res.margin[~res.success] > 0.0)
    assert np.all(res.zero_output == (f0 == 0.0))


@settings(max_examples=50)
@given(attack_cases(), st.floats(0.3, 3.0))
def test_multi_step_is_at_least_as_strong_as_the_single_step(case, factor):
    """Whenever the single step of length eps flips (t* <= eps and the endpoint x - sign(f) eps u
    is flipped), PGD with budget eps flips too."""
    net, X, _rng = case
    single = first_sign_flip(net, X, path="reference")
    eps = np.where(np.isfinite(single.t_star), single.t_star * factor, 0.5)
    fw = output_and_gradient(net, X, path="reference")
    u = fw.grad / np.maximum(fw.grad_norm, 1e-300)[:, None]
    sgn = np.sign(fw.f)
    end = f_at(net, X - (sgn * eps)[:, None] * u)
    single_flips = (single.t_star <= eps) & (np.sign(end) != sgn) & ~single.zero_output
    res = pgd_attack(net, X, eps, steps=5, path="reference")
    assert np.all(res.success[single_flips])
    assert np.all(res.steps_taken[single_flips] == 0)


@settings(max_examples=25)
@given(attack_cases())
def test_paths_agree(case):
    net, X, _rng = case
    eps = 0.5 * np.linalg.norm(X, axis=1)
    a = pgd_attack(net, X, eps, steps=10, path="reference")
    b = pgd_attack(net, X, eps, steps=10, path="numba")
    # Identical up to rounding in f and grad f; a flip decided on a rounding tie would show up
    # as a disagreement, which has probability 0 for drawn weights and inputs.
    np.testing.assert_array_equal(a.success, b.success)
    np.testing.assert_allclose(a.delta, b.delta, rtol=1e-7, atol=1e-9 * (1 + eps.max()))


def certified_min_distance(net, x) -> float:
    """Largest eps with eps (||grad f(x)|| + C(eps)) < |f(x)|, C the drift certificate.

    For ||delta|| <= eps, |f(x + delta) - f(x)| <= eps sup_{[x, x+delta]} ||grad f|| <=
    eps (||grad f(x)|| + C(eps)), so no flip exists within that eps (derivation Sec. 7).
    C is nondecreasing in eps, so the condition is monotone and bisection finds the threshold.
    """
    fw = output_and_gradient(net, x, path="reference")
    f, g = abs(float(fw.f[0])), float(fw.grad_norm[0])
    if f == 0.0:
        return 0.0
    lo, hi = 0.0, f / g if g > 0 else 4.0 * float(np.linalg.norm(x))
    for _ in range(50):
        mid = 0.5 * (lo + hi)
        if mid * (g + gradient_drift_certificate(net, x, mid).bound) < f:
            lo = mid
        else:
            hi = mid
    return lo


@pytest.mark.parametrize("activation", ["relu", "tanh", "softplus"])
def test_min_flip_radius_is_an_upper_estimate_above_the_certified_distance(activation):
    spec = NetworkSpec(d=20, m=100, activation=activation)
    rng = generator(6, "min-radius", activation)
    net = sample_network(spec, rng)
    X = sample_inputs(spec, 8, rng)
    res = min_flip_radius_pgd(net, X, steps=20, bisections=12, path="reference")
    finite = np.isfinite(res.radius)
    assert finite.all()
    assert np.all(res.delta_norm <= res.radius * (1 + 1e-12))
    f0, f1 = f_at(net, X), f_at(net, X + res.delta)
    assert np.all(np.sign(f1) != np.sign(f0))
    fin_t = np.isfinite(res.t_star)
    assert np.all(res.radius[fin_t] <= res.t_star[fin_t] * (1 + 1e-9))
    for i in range(len(X)):
        assert res.delta_norm[i] >= certified_min_distance(net, X[i])


def test_min_flip_radius_beats_the_single_step_for_relu():
    """relu at init: the ray's t* overshoots the minimal adversarial distance a little
    (docs/theory.md
    F4: t*/s_lin ~ 1 + 0.2/sqrt(d)); PGD finds shorter flips for most inputs (d=50, m=400).

    radius <= t* on every input (exact: PGD tries the single step first). The count of shorter
    flips has a threshold from a tail bound: one input on each of 10 independent networks. On
    400 development networks (another key, "pgd-vs-single-dev1") 381 had radius < 0.999 t*; the
    one-sided 99.9% Clopper-Pearson lower limit of that rate is 0.910, and at that rate fewer
    than 3 of 10 have probability P(Bin(10, 0.910) <= 2) = 1.6e-7. Power: PGD no better than
    the single step gives 0 of 10. (Before: 16 inputs of one network, >= 8 asserted; inputs of one
    network are not independent, so no tail bound applied; 0 of 100 seeds failed it.)
    """
    spec = NetworkSpec(d=50, m=400)
    shorter = 0
    for seed in range(10):
        rng = generator(seed, "pgd-vs-single")
        net = sample_network(spec, rng)
        X = sample_inputs(spec, 1, rng)
        res = min_flip_radius_pgd(net, X, steps=30, bisections=14, path="reference")
        ratio = float(res.radius[0] / res.t_star[0])
        assert ratio <= 1 + 1e-9
        shorter += ratio < 0.999
    assert shorter >= 3


def test_adversarial_mode_keeps_lowering_the_margin_against_given_labels():
    """Exact on every network: margins never rise, successes are real, deltas stay in the ball,
    and stepping past the first flip never ends above stopping there. Counted: past the first
    flip PGD lowers some margin by > 1e-3 on at least one of 4 independent networks. On 400
    development networks (another key, "adv-mode-dev") every one had such an input (4 to 12 of
    12); the one-sided 99.9% Clopper-Pearson upper limit of the rate of networks without one is
    0.0171, so none among 4 has probability 0.0171^4 = 8.6e-8. (Before: one network, no bound.)
    """
    spec = NetworkSpec(d=10, m=50)
    lowered = 0
    for seed in range(4):
        rng = generator(seed, "adv-mode")
        net = sample_network(spec, rng)
        X = sample_inputs(spec, 12, rng)
        y = np.where(rng.random(12) < 0.5, -1.0, 1.0)
        res = pgd_attack(net, X, 0.3, steps=10, y=y, stop_at_flip=False, path="reference")
        f0 = f_at(net, X)
        assert np.all(res.margin <= y * f0)
        np.testing.assert_allclose(res.margin, y * f_at(net, X + res.delta), rtol=1e-12, atol=1e-14)
        already = y * f0 <= 0.0
        assert np.all(res.success[already]) and np.all(res.steps_taken[already] == 0)
        assert np.all(res.delta_norm <= 0.3 * (1 + 1e-12))
        # Stepping past the first flip can only lower the margin further (the two runs batch the
        # inputs differently, so equal trajectories may differ by rounding).
        stop = pgd_attack(net, X, 0.3, steps=10, y=y, path="reference")
        assert np.all(res.margin <= stop.margin + 1e-12)
        lowered += bool(np.any(res.margin < stop.margin - 1e-3))
    assert lowered >= 1


def test_bad_input_is_rejected():
    spec = NetworkSpec(d=3, m=4)
    net = sample_network(spec, generator(0, "bad"))
    X = np.ones((2, 3))
    with pytest.raises(UserInputError, match="eps"):
        pgd_attack(net, X, -1.0)
    with pytest.raises(UserInputError, match="eps"):
        pgd_attack(net, X, math.nan)
    with pytest.raises(UserInputError, match="y must"):
        pgd_attack(net, X, 0.1, y=[0.0, 1.0])
    with pytest.raises(UserInputError, match="steps"):
        pgd_attack(net, X, 0.1, steps=-1)


# -- issue 18: the single step's ray, APGD's schedule, DeepFool, strength against a reference -----


def test_apgd_checkpoints_are_the_papers():
    """Croce and Hein (2020) Sec. 3.2: p_0 = 0, p_1 = 0.22, p_{j+1} = p_j + max(p_j - p_{j-1} -
    0.03, 0.06): 0.22, 0.41, 0.57, 0.70, 0.80, 0.87, 0.93, 0.99 of the steps."""
    assert apgd_checkpoints(100) == [22, 41, 57, 70, 80, 87, 93, 99]
    assert apgd_checkpoints(0) == []
    assert apgd_checkpoints(1) == [1]


def ray_flips(net, X, eps, t_star, points=400):
    """Independent of the attack: whether some point x(t) = x - sign f(x) t u of the single-step
    ray with t <= eps is flipped, on a grid of ``points`` values of t in (0, eps] plus t* itself."""
    fw = output_and_gradient(net, X, path="reference")
    u = fw.grad / np.maximum(fw.grad_norm, 1e-300)[:, None]
    s = np.sign(fw.f)
    ts = np.concatenate(
        [np.minimum(t_star, eps)[:, None], eps[:, None] * np.linspace(0, 1, points + 1)[1:]],
        axis=1,
    )
    flips = np.zeros(len(X), dtype=bool)
    for j in range(ts.shape[1]):
        flips |= s * f_at(net, X - (s * ts[:, j])[:, None] * u) <= 0.0
    return flips


def test_ray_reproducer_flips():
    """Issue 18: d = 2, m = 10, input 65: the single step flips at t* = 0.990 but the ray comes
    back before eps = 1.5 t*, so neither the full single step nor 50 fixed steps flipped it
    (margin 0.0029). PGD now tries x(t*) itself."""
    spec = NetworkSpec(d=2, m=10)
    rng = generator(1, "h6-ray", 2, 9)
    net = sample_network(spec, rng)
    X = sample_inputs(spec, 100, rng)[[65]]
    t = first_sign_flip(net, X, path="reference").t_star
    assert t[0] == pytest.approx(0.990, abs=1e-3)
    eps = 1.5 * t
    assert ray_flips(net, X, eps, t)[0]
    end = f_at(
        net,
        X
        - (np.sign(f_at(net, X)) * eps)[:, None]
        * output_and_gradient(net, X, path="reference").grad
        / output_and_gradient(net, X, path="reference").grad_norm,
    )
    assert np.sign(end[0]) == np.sign(f_at(net, X)[0])  # the full step alone does not flip
    res = pgd_attack(net, X, eps, steps=50, path="reference")
    assert res.success[0] and res.steps_taken[0] == 0
    assert f_at(net, X + res.delta)[0] * np.sign(f_at(net, X)[0]) <= 0.0


@pytest.mark.parametrize("factor", [1.1, 1.5, 3.0])
def test_every_single_step_flip_is_a_pgd_flip_on_toy_networks(factor):
    """Toy networks (d = 2, 3; m = 10), where the ray often crosses zero and comes back: whenever
    some point of the single-step ray within eps = factor t* is flipped (checked on a grid,
    independently of the attack), PGD flips the input too, with 0 misses. Exact, not
    statistical: PGD tries x(t*) and x(t* (1 + 1e-9)), and the first crossing of the ray is at t*
    (a miss needs the next breakpoint within 1e-9 t* of it, probability 0 for drawn weights).
    The fixed-step attack before this test missed 4 of 3,134 such inputs at factor 1.5."""
    misses, flips_seen = 0, 0
    for d in (2, 3):
        for seed in range(10):
            spec = NetworkSpec(d=d, m=10)
            rng = generator(seed, "toy-ray", d)
            net = sample_network(spec, rng)
            X = sample_inputs(spec, 60, rng)
            ss = first_sign_flip(net, X, path="reference")
            keep = np.isfinite(ss.t_star) & ~ss.zero_output
            X, t = X[keep], ss.t_star[keep]
            eps = factor * t
            flips = ray_flips(net, X, eps, t)
            res = pgd_attack(net, X, eps, steps=20, path="reference")
            flips_seen += int(flips.sum())
            misses += int((flips & ~res.success).sum())
            assert np.all(res.margin[res.success] <= 0.0)
    assert flips_seen > 500  # not vacuous
    assert misses == 0


def test_deepfool_is_exact_for_one_relu():
    """m = 1 relu without biases: f(x) = a relu(<w, x>), zero set {<w, x> <= 0}; the minimal flip
    distance of an input with f(x) != 0 is <w, x> / ||w||, and DeepFool's first linearised step
    lands on it: ||delta|| = (1 + overshoot) <w, x> / ||w|| exactly (up to rounding)."""
    spec = NetworkSpec(d=5, m=1)
    for seed in range(5):
        rng = generator(seed, "deepfool-one")
        net = sample_network(spec, rng)
        X = sample_inputs(spec, 20, rng)
        z = X @ net.W[0]
        X = X[z > 0]
        res = deepfool(net, X, overshoot=0.02, path="reference")
        assert np.all(res.success) and np.all(res.iterations == 1)
        want = 1.02 * (X @ net.W[0]) / np.linalg.norm(net.W[0])
        np.testing.assert_allclose(res.delta_norm, want, rtol=1e-12)
        assert np.all(f_at(net, X + res.delta) * np.sign(f_at(net, X)) <= 0.0)


@settings(max_examples=30, deadline=None)
@given(attack_cases())
def test_deepfool_successes_are_real(case):
    net, X, _rng = case
    res = deepfool(net, X, iterations=30, path="reference")
    f0 = f_at(net, X)
    margins = np.sign(f0) * f_at(net, X + res.delta)
    assert np.all(margins[res.success] <= 0.0)
    assert np.all(margins[~res.success] > 0.0)


def test_restarts_and_starts_are_checked():
    spec = NetworkSpec(d=3, m=4)
    net = sample_network(spec, generator(0, "bad"))
    X = np.ones((2, 3))
    with pytest.raises(UserInputError, match="rng"):
        pgd_attack(net, X, 0.1, restarts=2)
    with pytest.raises(UserInputError, match="start"):
        pgd_attack(net, X, 0.1, starts=(np.zeros((3, 3)),))
    with pytest.raises(UserInputError, match="start"):
        pgd_attack(net, X, 0.1, starts=(np.full((2, 3), np.nan),))


def strength_cases(key: str, networks: int):
    """Hard attack cases: d = 10, m = 100, 10 inputs per network, W0 and the robustifying W built
    for each input (C0 = 10), at eps = 0.95 x the DeepFool distance (inside the nearest flip
    DeepFool finds, so a flip there needs a real search). Yields (net, x, eps, DeepFool delta)."""
    from theorycheck.lazy_ball import lazy_radius
    from theorycheck.perturbations import robustifying

    spec = NetworkSpec(d=10, m=100)
    for seed in range(networks):
        rng = generator(seed, key)
        net = sample_network(spec, rng)
        X = sample_inputs(spec, 10, rng)
        for x in X:
            for W in (net.W, robustifying(net, x, lazy_radius(spec, 10.0), path="reference")):
                nw = net.with_weights(W)
                df = deepfool(nw, x, path="reference")
                if df.success[0]:
                    yield nw, x, 0.95 * df.delta_norm, df.delta


def reference_attack(net, x, eps, rng):
    """The independent reference: 300 fixed steps of eps / 30 (total travel 10 eps) from 0 and from
    10 uniform points of the ball; no schedule, no DeepFool start."""
    return pgd_attack(
        net, x, eps, steps=300, step_size=eps / 30, restarts=10, rng=rng, path="reference"
    ).success[0]


#: The strength test: 6 networks, so at most 120 cases.
STRENGTH_NETWORKS = 6
STRENGTH_KEY = "pgd-strength"
#: Development runs (key "strength-dev", 15 networks, 300 cases): the reference flipped 257; the
#: default attack missed 2 of them (both on W0), the fixed-step attack it replaced (20 steps of
#: 2.5 eps / 20) 7, the planted weak attack (one full step) 154. One-sided 99.9% Clopper-Pearson
#: upper limit of the default's miss rate: 0.0429. At that rate more than 18 misses among at most
#: 120 reference flips has probability P(Bin(120, 0.0429) > 18) = 9.4e-7 < 1e-6.
STRENGTH_MISSES = 18
#: The reference flipped 257 of 300 development cases (99.9% lower limit 0.81); fewer than 60 of
#: ~120 has probability < 1e-20.
STRENGTH_MIN_FLIPPED = 60


@functools.cache
def strength_reference():
    """The strength cases with the reference's verdict, computed once for both tests."""
    return [
        (nw, x, eps, df, reference_attack(nw, x, eps, generator(k, STRENGTH_KEY, "reference")))
        for k, (nw, x, eps, df) in enumerate(strength_cases(STRENGTH_KEY, STRENGTH_NETWORKS))
    ]


def strength_misses(attack):
    """(inputs the reference flips and ``attack`` does not, inputs the reference flips)."""
    misses = flipped = 0
    for k, (nw, x, eps, df, ref) in enumerate(strength_reference()):
        if ref:
            flipped += 1
            misses += not attack(nw, x, eps, df, generator(k, STRENGTH_KEY, "attack"))
    return misses, flipped


def default_attack(nw, x, eps, df, rng):
    """The attack as lazy-robust-error runs it: APGD, 50 steps, DeepFool start, 1 restart."""
    return pgd_attack(
        nw, x, eps, steps=50, restarts=1, rng=rng, starts=(df,), path="reference"
    ).success[0]


def test_pgd_is_as_strong_as_a_long_multi_restart_reference():
    """Strength against an independent reference (fixed small steps, 11 starts, 10x the travel)
    on hard cases (see strength_cases): the default attack misses at most STRENGTH_MISSES of what
    the reference flips.

    Threshold from development runs: see STRENGTH_MISSES. The planted error (one step, no
    restarts: test_a_weak_attack_fails_the_strength_test) misses far more."""
    misses, flipped = strength_misses(default_attack)
    assert flipped >= STRENGTH_MIN_FLIPPED  # not vacuous
    assert misses <= STRENGTH_MISSES


def old_rule_attack(nw, x, eps, df, rng):
    """The attack lazy-robust-error used before issue 18: 20 fixed steps of 2.5 eps / 20."""
    return pgd_attack(nw, x, eps, steps=20, step_size=2.5 * eps / 20, path="reference").success[0]


#: Development runs (key "strength-dev-old", 100 networks, 2,000 cases): the old rule flipped
#: 1,551, the default attack 1,598; 1 input was flipped by the old rule and not by the default.
#: One-sided 99.9% Clopper-Pearson upper limit of that rate: 0.00461; more than 7 such inputs
#: among at most 120 cases has probability P(Bin(120, 0.00461) > 7) = 1.1e-7 < 1e-6.
OLD_RULE_ONLY = 7


def flipped_by_first_only(first, second):
    """Strength cases that ``first`` flips and ``second`` does not (same generators as above)."""
    count = 0
    for k, (nw, x, eps, df, _ref) in enumerate(strength_reference()):
        rng = generator(k, STRENGTH_KEY, "attack")
        count += first(nw, x, eps, df, rng) and not second(nw, x, eps, df, rng)
    return count


def test_pgd_flips_what_the_old_fixed_step_attack_flips():
    """PGD's robust error is at least the old attack's, input by input up to OLD_RULE_ONLY
    exceptions, on the hard cases (W0 and robustifying W). (On this seed: 0 exceptions; a single
    step misses 65 of the old rule's flips: see test_a_weak_attack_fails_the_strength_test.)"""
    assert flipped_by_first_only(old_rule_attack, default_attack) <= OLD_RULE_ONLY


def test_a_weak_attack_fails_the_strength_test():
    """Planted error: one full step and no restarts must fail the threshold of the strength test
    (it missed 154 of 257 reference flips in development: 99.9% lower limit 0.50 of the rate, so
    at most 18 misses among ~100 flips has probability < 1e-6 as well)."""

    def weak(nw, x, eps, df, rng):
        return pgd_attack(nw, x, eps, steps=1, step_size=eps, path="reference").success[0]

    misses, _flipped = strength_misses(weak)
    assert misses > STRENGTH_MISSES
    assert flipped_by_first_only(old_rule_attack, weak) > OLD_RULE_ONLY


def _art_classifier(net):
    """A NumPy ART classifier for sign f: logits (-f/2, f/2), class 1 iff f > 0."""
    from art.estimators.classification.classifier import ClassGradientsMixin, ClassifierMixin
    from art.estimators.estimator import BaseEstimator, LossGradientsMixin

    class NetClassifier(ClassGradientsMixin, ClassifierMixin, LossGradientsMixin, BaseEstimator):
        estimator_params = BaseEstimator.estimator_params + ClassifierMixin.estimator_params

        def __init__(self):
            super().__init__(model=None, clip_values=None, preprocessing=(0.0, 1.0))
            self._nb_classes = 2

        @property
        def input_shape(self):
            return (net.spec.d,)

        def predict(self, x, batch_size=128, **kwargs):
            f = f_at(net, x)
            return np.stack([-f / 2, f / 2], axis=1)

        def class_gradient(self, x, label=None, **kwargs):
            g = output_and_gradient(net, x, path="reference").grad
            both = np.stack([-g / 2, g / 2], axis=1)
            if label is None:
                return both
            label = np.broadcast_to(np.asarray(label, dtype=int), (len(x),))
            return both[np.arange(len(x)), label][:, None, :]

        def loss_gradient(self, x, y, **kwargs):
            fw = output_and_gradient(net, x, path="reference")
            s = np.where(np.argmax(y, axis=1) == 1, 1.0, -1.0)
            w = -s * np.exp(-np.logaddexp(0.0, s * fw.f))  # d/dx log(1 + exp(-s f))
            return w[:, None] * fw.grad

        def compute_loss(self, x, y, reduction="none", **kwargs):
            s = np.where(np.argmax(y, axis=1) == 1, 1.0, -1.0)
            loss = np.logaddexp(0.0, -s * f_at(net, x))
            return loss if reduction == "none" else loss.mean()

        def fit(self, x, y, **kwargs):
            raise NotImplementedError

        def get_activations(self, *args, **kwargs):
            raise NotImplementedError

        def save(self, *args, **kwargs):
            raise NotImplementedError

        @property
        def layer_names(self):
            return None

    return NetClassifier()


@pytest.mark.parametrize("family", ["W0", "robustifying"])
def test_crosscheck_against_art(family):
    """Optional (skipped unless adversarial-robustness-toolbox is installed): on small networks
    (d = 10, m = 100, 20 inputs, 2 networks, eps = 0.95 x the DeepFool distance) every input that
    ART's PGD (100 steps of eps/10, 5 random starts) or AutoPGD (100 iterations, 5 starts) flips,
    re-verified by a forward pass, is flipped by the default attack: 0 misses."""
    pytest.importorskip("art")
    from art.attacks.evasion import AutoProjectedGradientDescent, ProjectedGradientDescentNumpy

    from theorycheck.lazy_ball import lazy_radius
    from theorycheck.perturbations import robustifying

    spec = NetworkSpec(d=10, m=100)
    misses = flipped = 0
    for seed in range(2):
        rng = generator(seed, "art-crosscheck")
        net = sample_network(spec, rng)
        for i, x in enumerate(sample_inputs(spec, 20, rng)):
            W = net.W if family == "W0" else robustifying(net, x, lazy_radius(spec, 10.0))
            nw = net.with_weights(W)
            df = deepfool(nw, x, path="reference")
            if not df.success[0]:
                continue
            eps = float(0.95 * df.delta_norm[0])
            X, s = x[None, :], np.sign(f_at(nw, x[None, :]))
            Y = np.eye(2)[(s > 0).astype(int)]
            clf = _art_classifier(nw)
            art = False
            for atk in (
                ProjectedGradientDescentNumpy(clf, norm=2, eps=eps, eps_step=eps / 10,
                                              max_iter=100, num_random_init=5, verbose=False),
                AutoProjectedGradientDescent(clf, norm=2, eps=eps, eps_step=2 * eps,
                                             max_iter=100, nb_random_init=5, verbose=False),
            ):  # fmt: skip
                D = atk.generate(X, Y) - X
                D *= min(1.0, eps / max(float(np.linalg.norm(D)), 1e-300))
                art |= bool(s[0] * f_at(nw, X + D)[0] <= 0.0)
            ours = default_attack(nw, x, eps, df.delta, generator(seed, i, "art-crosscheck"))
            flipped += art
            misses += art and not ours
    assert flipped >= 5  # not vacuous
    assert misses == 0
