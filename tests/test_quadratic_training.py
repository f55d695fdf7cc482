"""Training on samples (theorycheck.quadratic.training) against the exact population optima.

Deterministic given the seed. Tolerances: an optimiser's excess risk is judged relative to Var f*
(the risk of the zero predictor); least squares on n samples has first-order excess risk about
eps p / n (p parameters), so its tolerance is a few times p / n.
"""

from __future__ import annotations

import numpy as np
import pytest

from theorycheck.activations import get_activation
from theorycheck.quadratic import (
    GaussianMoments,
    least_squares,
    monte_carlo_metrics,
    nn_eckart_young,
    nt_fit,
    online_sgd_linear,
    rf_fit,
    sample_first_layer,
    sample_inputs,
    sample_target,
    train_quadratic_network,
)
from theorycheck.quadratic.frobenius import nn_sign_constrained
from theorycheck.quadratic.training import feature_map, linear_model
from theorycheck.seeding import generator


def test_sgd_reaches_the_eckart_young_optimum_when_m_exceeds_d():
    rng = generator(0, "sgd-nn", "wide")
    target = sample_target(10, rng, F1sq=0.0, F2sq=1.0)
    net = train_quadratic_network(target, 15, rng, steps=2000)
    best = nn_eckart_young(target, 15)
    assert best.eps == pytest.approx(0.0, abs=1e-12)
    assert net.eps - best.eps <= 0.005 * target.variance
    assert net.S == pytest.approx(best.S, rel=0.01)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sgd_reaches_the_optimum_of_its_sign_split(seed):
    # For m < d the sign split of a is (nearly) frozen by gradient flow, so SGD converges to the
    # best fit with that split, which is the Eckart-Young optimum iff the split is right.
    rng = generator(seed, "sgd-nn", "narrow")
    target = sample_target(10, rng, F1sq=0.0, F2sq=1.0)
    net = train_quadratic_network(target, 4, rng, steps=3000)
    split = nn_sign_constrained(target, int(np.sum(net.a > 0)), int(np.sum(net.a < 0)))
    assert abs(net.eps - split.eps) <= 0.005 * target.variance
    assert net.eps >= nn_eckart_young(target, 4).eps - 1e-12  # never below the global optimum


def test_sign_constrained_optimum_is_eckart_young_for_the_right_split():
    rng = generator(3, "split")
    target = sample_target(12, rng, F2sq=1.0, F1sq=0.0)
    lam = np.linalg.eigvalsh(target.B)
    top = lam[np.argsort(-np.abs(lam))[:5]]
    right = nn_sign_constrained(target, int(np.sum(top > 0)), int(np.sum(top < 0)))
    assert right.eps == pytest.approx(nn_eckart_young(target, 5).eps, abs=1e-12)
    wrong = nn_sign_constrained(target, int(np.sum(top > 0)) + 1, int(np.sum(top < 0)) - 1)
    assert wrong.eps > right.eps


@pytest.mark.parametrize("kind", ["rf", "nt"])
def test_online_sgd_and_least_squares_approach_the_population_fit(kind):
    rng = generator(4, "sgd-linear", kind)
    d, m = (8, 6) if kind == "rf" else (5, 4)
    target = sample_target(d, rng, F1sq=1.0, F2sq=1.0)
    W = sample_first_layer(d, m, rng)
    act = get_activation("gelu")
    exact = (rf_fit if kind == "rf" else nt_fit)(target, W, GaussianMoments(act))
    feats = feature_map(kind, W, act)
    p = m + 1 if kind == "rf" else m * d + 1

    def model(theta, c):
        return linear_model(kind, W, act, theta, c)

    n = 20_000 * 32  # samples seen by SGD and by least squares
    for theta, c in (
        online_sgd_linear(feats, target, rng, steps=n // 32, batch=32),
        least_squares(feats, target, n, rng),
    ):
        mc = monte_carlo_metrics(model(theta, c), target, 200_000, rng)
        eps = mc.eps()
        # The population optimum is the minimum over the span, so a trained fit cannot beat it
        # beyond the Monte Carlo error; its excess is O(eps p / n).
        assert eps.high >= exact.eps
        assert eps.estimate <= exact.eps * (1 + 10 * p / n) + (eps.high - eps.low)
        assert mc.S().estimate == pytest.approx(exact.S, rel=0.03)


@pytest.mark.parametrize("kind", ["rf", "nt"])
def test_linear_model_is_the_model_of_the_feature_map(kind):
    """linear_model(kind, ...) evaluates features(X) @ theta + c, in feature_map's order."""
    rng = generator(11, "linear-model", kind)
    d, m = 6, 5
    W = sample_first_layer(d, m, rng)
    act = get_activation("gelu")
    feats = feature_map(kind, W, act)
    X = rng.standard_normal((7, d))
    theta = rng.standard_normal(feats(X).shape[1])
    np.testing.assert_allclose(
        linear_model(kind, W, act, theta, 0.3).value(X), feats(X) @ theta + 0.3, rtol=1e-12
    )
    with pytest.raises(ValueError, match="kind"):
        linear_model("nn", W, act, theta, 0.0)


@pytest.mark.parametrize("kind", ["rf", "nt"])
def test_least_squares_equals_a_direct_solve_on_the_same_samples(kind):
    """The chunked normal equations (syrk-accumulated Gram, centred, minimum-norm solve) against
    numpy's lstsq of [1, Phi] on the very samples least_squares draws (same rng state): the
    same fit to round-off of a well-conditioned problem (n = 20 p)."""
    d, m = 6, 5
    rng = generator(0, "ls-direct", kind)
    W = sample_first_layer(d, m, rng)
    target = sample_target(d, rng, F1sq=0.5, F2sq=1.0)
    feats = feature_map(kind, W, get_activation("gelu"))
    p = m * (d if kind == "nt" else 1)
    n = 20 * (p + 1) + 7  # not a multiple of the chunk
    state = generator(1, "ls-direct", kind)
    theta, c = least_squares(feats, target, n, state, chunk=64)
    again = generator(1, "ls-direct", kind)
    X = np.concatenate([sample_inputs(d, min(64, n - s), again) for s in range(0, n, 64)])
    design = np.column_stack([np.ones(n), feats(X)])
    coef = np.linalg.lstsq(design, target.value(X), rcond=None)[0]
    np.testing.assert_allclose(theta, coef[1:], rtol=1e-8, atol=1e-10)
    assert c == pytest.approx(coef[0], rel=1e-8, abs=1e-10)
