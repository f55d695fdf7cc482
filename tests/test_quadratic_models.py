"""The models' Monte Carlo fast path (value_and_gradient: shared products and one activation
jet) against their readable value and gradient (docs/derivations/quadratic.md Sec. 3)."""

from __future__ import annotations

import numpy as np
import pytest

from theorycheck.activations import ACTIVATIONS
from theorycheck.quadratic import sample_first_layer, sample_inputs, sample_target
from theorycheck.quadratic.models import NeuralTangent, QuadraticForm, RandomFeatures, SumModel
from theorycheck.seeding import generator


def _models(activation: str, d: int, m: int, rng):
    W = sample_first_layer(d, m, rng)
    A = rng.standard_normal((m, d))
    z = rng.standard_normal(m)
    target = sample_target(d, rng, F1sq=0.5, F2sq=1.0)
    rf = RandomFeatures(W, z, activation, 0.3)
    nt = NeuralTangent(W, A, activation, -0.2)
    form = QuadraticForm(target.B, rng.standard_normal(d), 0.1)
    return {"rf": rf, "nt": nt, "form": form, "sum": SumModel((rf, nt, form))}


@pytest.mark.parametrize("activation", list(ACTIVATIONS))
def test_value_and_gradient_equals_value_then_gradient(activation):
    rng = generator(0, "models-fast-path", activation)
    d, m = 12, 30
    X = sample_inputs(d, 500, rng)
    for name, model in _models(activation, d, m, rng).items():
        f, g = model.value_and_gradient(X)
        f_ref, g_ref = model.value(X), model.gradient(X)
        # Same products, possibly another summation order: agreement to round-off of the
        # terms' size (|terms| <= sum over m of |a_j||x| ~ 1e2 here).
        scale_f = 1.0 + np.abs(f_ref).max()
        scale_g = 1.0 + np.abs(g_ref).max()
        assert np.max(np.abs(f - f_ref)) <= 1e-12 * m * scale_f, name
        assert np.max(np.abs(g - g_ref)) <= 1e-12 * m * scale_g, name
        assert g.shape == (len(X), d)


def test_a_wrong_second_derivative_in_the_fast_path_is_caught(monkeypatch):
    """The comparison above can fail: a jet whose sigma'' is off by 1% changes NT's gradient."""
    rng = generator(0, "models-fast-path", "planted")
    act = ACTIVATIONS["tanh"]
    d, m = 12, 30
    X = sample_inputs(d, 200, rng)
    nt = _models("tanh", d, m, rng)["nt"]
    good = act.jet

    def off(t):
        s, d1, d2 = good(t)
        return s, d1, 1.01 * d2

    monkeypatch.setattr(type(act), "jet", lambda self, t: off(t))
    _, g = nt.value_and_gradient(X)
    assert np.max(np.abs(g - nt.gradient(X))) > 1e-6
