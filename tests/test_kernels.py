"""Forward kernels: numba == reference, gradient == finite differences, exact identities.

Tolerances are derived, not tuned. Both paths compute each pre-activation z_s = <w_s, x> + b_s with
an error of at most gamma_d (|b_s| + sum_k |W_sk x_k|) (gamma_n = n eps / (1 - n eps)), evaluate
sigma to a few ulps and sum m terms with an error of at most gamma_m times the sum of their
absolute values. With d <= 30 and m <= 200 that is below 300 eps ~ 7e-14 of the "absolute scale"
S_f = m^{-1/2} sum_s |a_s| (|sigma(z_s)| + |sigma'(z_s)| (|b_s| + sum_k |W_sk x_k|)) + |c| (and the
analogous S_g for gradients), so a relative tolerance of 1e-10 of that scale leaves a margin of
1000 while any real error (a wrong sigma', a dropped neuron or chunk) is O(1) of it.
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import assume, given
from hypothesis import strategies as st

from theorycheck.activations import ACTIVATIONS
from theorycheck.forward import gradient_difference, output_and_gradient
from theorycheck.network import Network, NetworkSpec, sample_inputs, sample_network
from theorycheck.seeding import generator

EPS = float(np.finfo(np.float64).eps)
RTOL = 1e-10

# sup_t |sigma''(t)| and sup_t |sigma'''(t)| (closed forms, used by the finite-difference bounds).
#   tanh: sigma'' = -2 th (1 - th^2), max 4 / (3 sqrt 3);
#         sigma''' = -2 (1 - th^2)(1 - 3 th^2), max 2.
#   softplus: sigma'' = s(1-s) <= 1/4; sigma''' = s(1-s)(1-2s), max sqrt(3)/18.
#   gelu: sigma'' = phi(t)(2 - t^2), max 2 phi(0); sigma''' = phi(t)(t^3 - 4t), extremal where
#   t^4 - 7 t^2 + 4 = 0, the larger value at t^2 = (7 - sqrt 33)/2.
#   quadratic: sigma'' = 2, sigma''' = 0.  relu: 0 on a linear piece.
_T_GELU = math.sqrt((7 - math.sqrt(33)) / 2)
SUP_D2 = {
    "relu": 0.0,
    "softplus": 0.25,
    "tanh": 4 / (3 * math.sqrt(3)),
    "gelu": 2 / math.sqrt(2 * math.pi),
    "quadratic": 2.0,
}
SUP_D3 = {
    "relu": 0.0,
    "softplus": math.sqrt(3) / 18,
    "tanh": 2.0,
    "gelu": math.exp(-(_T_GELU**2) / 2) / math.sqrt(2 * math.pi) * abs(_T_GELU**3 - 4 * _T_GELU),
    "quadratic": 0.0,
}


@st.composite
def networks(
    draw,
    activations=tuple(ACTIVATIONS),
    scalings=("wang", "bubeck"),
    biases=(False, True),
    on_sphere=False,
):
    """(net, X): a network drawn at initialisation and n inputs, all from one fixed seed."""
    d = draw(st.integers(1, 30))
    m = draw(st.integers(1, 200))
    n = draw(st.integers(1, 5))
    spec = NetworkSpec(
        d=d,
        m=m,
        activation=draw(st.sampled_from(activations)),
        scaling=draw(st.sampled_from(scalings)),
        output_weights=draw(st.sampled_from(("sign", "gaussian"))),
        biases=draw(st.sampled_from(biases)),
    )
    rng = generator(draw(st.integers(0, 2**32 - 1)), "test_kernels")
    net = sample_network(spec, rng)
    X = sample_inputs(spec, n, rng)
    if not on_sphere:
        X = X * draw(st.floats(0.05, 20.0))
    return net, X


# gelu's sigma = t Phi(t) with Phi = (1 + erf(t / sqrt 2)) / 2, and sigma' = Phi(t) + t phi(t), and
# tanh's sigma' = 1 - tanh^2 are differences of O(1) numbers: in the tails they carry an absolute
# error ~ eps (times |t| for gelu's sigma), not a relative one. The scales include that floor.
SIGMA_FLOOR = {"gelu": 1.0}  # absolute error of sigma(t) <~ eps * floor * |t|
DSIGMA_FLOOR = {"gelu": 1.0, "tanh": 1.0}  # absolute error of sigma'(t) <~ eps * floor


def _pre(net, X):
    return X @ net.W.T + net.b, np.abs(X) @ np.abs(net.W).T + np.abs(net.b)


def scale_f(net, X):
    """S_f per input (see the module docstring)."""
    act = net.spec.act
    Z, Zabs = _pre(net, X)
    terms = (
        np.abs(act.sigma(Z))
        + SIGMA_FLOOR.get(act.name, 0.0) * np.abs(Z)
        + np.abs(act.dsigma(Z)) * Zabs
    )
    return terms @ np.abs(net.a) / math.sqrt(net.spec.m) + abs(net.c)


def scale_grad(net, X):
    """S_g per input and coordinate: m^{-1/2} sum_s |a_s| (|sigma'| + |sigma''| |z|_abs) |W_sk|."""
    act = net.spec.act
    Z, Zabs = _pre(net, X)
    terms = (
        np.abs(act.dsigma(Z)) + DSIGMA_FLOOR.get(act.name, 0.0) + np.abs(act.d2sigma(Z)) * Zabs
    ) * np.abs(net.a)
    return terms @ np.abs(net.W) / math.sqrt(net.spec.m)


def assert_close_to_scale(actual, expected, scale, rtol=RTOL):
    err = np.abs(np.asarray(actual) - np.asarray(expected))
    bad = err > rtol * np.asarray(scale)
    assert not np.any(bad), (
        f"max error {err.max():.3e} vs tolerance {rtol * np.max(scale):.3e} at {np.argwhere(bad)}"
    )


# -- numba == reference -----------------------------------------------------------------------


@given(case=networks())
def test_output_and_gradient_numba_matches_reference(warm_numba, case):
    net, X = case
    fast = output_and_gradient(net, X, path="numba")
    ref = output_and_gradient(net, X, path="reference")
    assert fast.f.shape == (len(X),) and fast.grad.shape == X.shape
    assert_close_to_scale(fast.f, ref.f, scale_f(net, X))
    assert_close_to_scale(fast.grad, ref.grad, scale_grad(net, X))


@given(case=networks(), rel_size=st.floats(1e-3, 3.0), seed=st.integers(0, 2**32 - 1))
def test_gradient_difference_numba_matches_reference(warm_numba, case, rel_size, seed):
    net, X = case
    delta = (
        generator(seed, "delta").standard_normal(X.shape)
        * rel_size
        * np.linalg.norm(X, axis=1, keepdims=True)
        / math.sqrt(X.shape[1])
    )
    fast = gradient_difference(net, X, delta, path="numba")
    ref = gradient_difference(net, X, delta, path="reference")
    # | ||u|| - ||v|| | <= ||u - v||, and each coordinate of u - v is within RTOL * S_g.
    scale = np.linalg.norm(scale_grad(net, X) + scale_grad(net, X + delta), axis=1)
    assert_close_to_scale(fast, ref, scale)
    # The definition: the norm of the difference of the two gradients.
    g0 = output_and_gradient(net, X, path="reference").grad
    g1 = output_and_gradient(net, X + delta, path="reference").grad
    assert_close_to_scale(ref, np.linalg.norm(g1 - g0, axis=1), scale)


@given(case=networks())
def test_gradient_difference_of_zero_step_is_zero(warm_numba, case):
    net, X = case
    for path in ("numba", "reference"):
        assert np.array_equal(gradient_difference(net, X, np.zeros_like(X), path=path),
                              np.zeros(len(X)))  # fmt: skip


# -- gradient == central finite differences ------------------------------------------------------


@given(case=networks())
def test_gradient_matches_central_finite_differences(warm_numba, case):
    """grad_x f against (f(x + h e_k) - f(x - h e_k)) / (2h), coordinate by coordinate.

    Error budget of the difference quotient at the actually represented points x_k +- h:
    truncation <= h^2/6 sup|d^3 f / dx_k^3| <= h^2/6 m^{-1/2} sum_s |a_s| |W_sk|^3 sup|sigma'''|;
    rounding <= 2 err_f / (2h) with err_f = (d + m + 10) eps S_f the error bound on a computed f;
    the quotient estimates the derivative at the computed midpoint, which is within
    eps (|x_k| + h) of x_k: a further sup|d^2 f/dx_k^2| eps (|x_k| + h). relu: f is linear on
    the segment when no pre-activation changes sign within it (|z_s| > h |W_sk|, enforced with
    assume), so its truncation error is 0; quadratic: f is a quadratic polynomial, the central
    difference is exact up to rounding.
    """
    net, X = case
    name = net.spec.activation
    d = X.shape[1]
    m = net.spec.m
    h = 2.0**-20 if name == "relu" else 2.0**-17  # ~1e-6 (relu), ~eps^(1/3) (smooth)
    Z = X @ net.W.T + net.b
    if name == "relu":
        assume(np.all(np.abs(Z)[:, :, None] > 2 * h * np.abs(net.W)[None, :, :]))
    grads = [output_and_gradient(net, X, path=path).grad for path in ("numba", "reference")]
    absW = np.abs(net.W)
    M3 = SUP_D3[name] * (np.abs(net.a) @ absW**3) / math.sqrt(m)  # (d,)
    M2 = SUP_D2[name] * (np.abs(net.a) @ absW**2) / math.sqrt(m)
    for k in range(d):
        Xp, Xm = X.copy(), X.copy()
        Xp[:, k] += h
        Xm[:, k] -= h
        # f by the reference path (cheap for many small calls); numba == reference is tested above.
        fp = output_and_gradient(net, Xp, path="reference").f
        fm = output_and_gradient(net, Xm, path="reference").f
        step = Xp[:, k] - Xm[:, k]
        fd = (fp - fm) / step
        err_f = (d + m + 10) * EPS * np.maximum(scale_f(net, Xp), scale_f(net, Xm))
        tol = (
            step**2 / 24 * M3[k]  # (step/2)^2 / 6
            + 2 * err_f / step
            + M2[k] * EPS * (np.abs(X[:, k]) + h)
            + 4 * EPS * np.abs(grads[1][:, k])
        )
        for grad in grads:
            err = np.abs(fd - grad[:, k])
            assert np.all(err <= tol), f"coordinate {k}: error {err} > tolerance {tol}"


# -- exact identities ---------------------------------------------------------------------------


@given(case=networks(activations=("relu",), biases=(False,)))
def test_euler_identity_relu(warm_numba, case):
    """relu without biases is positively homogeneous of degree 1: f(x) = <grad f(x), x>."""
    net, X = case
    for path in ("numba", "reference"):
        fw = output_and_gradient(net, X, path=path)
        assert_close_to_scale(np.einsum("ij,ij->i", fw.grad, X), fw.f, scale_f(net, X))


@given(case=networks(activations=("quadratic",), biases=(False,)))
def test_euler_identity_quadratic(warm_numba, case):
    """t^2 without biases is homogeneous of degree 2: 2 f(x) = <grad f(x), x>."""
    net, X = case
    for path in ("numba", "reference"):
        fw = output_and_gradient(net, X, path=path)
        assert_close_to_scale(np.einsum("ij,ij->i", fw.grad, X), 2 * fw.f, 2 * scale_f(net, X))


@given(case=networks(scalings=("wang",), on_sphere=True))
def test_wang_and_bubeck_are_one_model(warm_numba, case):
    """W_b = W / sqrt(d) at x_b = sqrt(d) x: f_b = f_w, grad f_w = sqrt(d) grad f_b
    (docs/theory.md Sec. 1)."""
    net_w, X = case
    d = net_w.spec.d
    np.testing.assert_allclose(np.linalg.norm(X, axis=1), 1.0, rtol=4 * d * EPS)
    spec_b = NetworkSpec(d=d, m=net_w.spec.m, activation=net_w.spec.activation,
                         scaling="bubeck", output_weights=net_w.spec.output_weights,
                         biases=net_w.spec.biases)  # fmt: skip
    net_b = Network(spec_b, net_w.a, net_w.W / math.sqrt(d), net_w.b, net_w.c)
    Xb = math.sqrt(d) * X
    for path in ("numba", "reference"):
        fw = output_and_gradient(net_w, X, path=path)
        fb = output_and_gradient(net_b, Xb, path=path)
        assert_close_to_scale(fb.f, fw.f, scale_f(net_w, X))
        assert_close_to_scale(math.sqrt(d) * fb.grad, fw.grad, scale_grad(net_w, X))


def test_network_accepts_a_single_input_vector(warm_numba):
    spec = NetworkSpec(d=4, m=7, activation="tanh")
    rng = generator(3, "single-input")
    net = sample_network(spec, rng)
    x = sample_inputs(spec, 1, rng)
    one = output_and_gradient(net, x[0])
    batch = output_and_gradient(net, x)
    assert np.array_equal(one.f, batch.f) and np.array_equal(one.grad, batch.grad)
    assert np.array_equal(one.grad_norm, np.linalg.norm(one.grad, axis=1))
