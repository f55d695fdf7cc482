"""Bad inputs raise UserInputError with one line that names the parameter (docs/design.md
"Reliability").

Also the converse where it matters: valid values of every accepted type are accepted, and no
computed result is silently non-finite.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from theorycheck.activations import ACTIVATIONS
from theorycheck.attack import first_sign_flip
from theorycheck.bounds import get_bound
from theorycheck.errors import UserInputError
from theorycheck.forward import gradient_difference, output_and_gradient
from theorycheck.lazy_ball import (
    flippable_neurons,
    lazy_ball_project,
    lazy_radius,
    perturb,
    realised_flips,
    worst_output,
)
from theorycheck.network import NetworkSpec, sample_inputs, sample_network
from theorycheck.seeding import generator


def raises_naming(param: str, fn, *args, **kwargs) -> str:
    """Call fn and require a one-line UserInputError whose message names ``param``."""
    with pytest.raises(UserInputError) as info:
        fn(*args, **kwargs)
    msg = str(info.value)
    assert "\n" not in msg, f"not one line: {msg!r}"
    assert re.search(rf"(?<![\w*]){re.escape(param)}(?![\w*])", msg), (
        f"message does not name {param!r}: {msg!r}"
    )
    return msg


@pytest.fixture(scope="module")
def net():
    spec = NetworkSpec(d=3, m=8)
    return sample_network(spec, generator(0, "test_validation"))


@pytest.fixture(scope="module")
def X(net):
    return sample_inputs(net.spec, 2, generator(1, "test_validation"))


# -- NetworkSpec --------------------------------------------------------------------------------


def test_network_spec_named_errors():
    raises_naming("d", NetworkSpec, d=0, m=5)
    raises_naming("m", NetworkSpec, d=3, m=0)
    raises_naming("m", NetworkSpec, d=3, m=1.5)
    raises_naming("d", NetworkSpec, d=float("nan"), m=5)
    msg = raises_naming("activation", NetworkSpec, d=3, m=5, activation="sigmoid")
    assert all(name in msg for name in ACTIVATIONS)  # the message lists the choices
    raises_naming("scaling", NetworkSpec, d=3, m=5, scaling="ntk")
    raises_naming("output_weights", NetworkSpec, d=3, m=5, output_weights="uniform")
    raises_naming("biases", NetworkSpec, d=3, m=5, biases="yes")


invalid_sizes = (
    st.integers(max_value=0)
    | st.floats(allow_nan=True, allow_infinity=True).filter(lambda v: not float(v).is_integer())
    | st.floats(max_value=0.0)
    | st.sampled_from([math.nan, math.inf, -math.inf, True, False, None, "3", [3], 3 + 0j])
)


@given(param=st.sampled_from(["d", "m"]), value=invalid_sizes)
def test_any_invalid_size_is_rejected(param, value):
    kwargs = {"d": 3, "m": 5, param: value}
    raises_naming(param, NetworkSpec, **kwargs)


@given(
    param=st.sampled_from(["d", "m"]),
    value=st.integers(1, 10**6),
    kind=st.sampled_from([int, float, np.int64, np.int32, np.uint16]),
)
def test_any_valid_size_is_accepted(param, value, kind):
    """An integer >= 1 of any usual type (Python int, integral float, NumPy integer such as the
    elements of an np.arange grid) is a valid size and is stored as a Python int."""
    if kind is np.uint16:
        value = min(value, 65535)
    spec = NetworkSpec(**{"d": 3, "m": 5, param: kind(value)})
    stored = getattr(spec, param)
    assert stored == value and type(stored) is int


# -- radii and constants --------------------------------------------------------------------------


negative_or_nan = st.floats(max_value=-1e-300) | st.sampled_from([math.nan, -math.inf])


@given(C0=negative_or_nan)
def test_lazy_radius_rejects_bad_C0(C0):
    raises_naming("C0", lazy_radius, NetworkSpec(d=3, m=5), C0)


@given(R=negative_or_nan)
def test_radius_rejected_by_every_ball_function(net, X, R):
    raises_naming("R", flippable_neurons, net, X, R)
    raises_naming("R", worst_output, net, X, R)
    raises_naming("R", lazy_ball_project, net.W, net.W, R)
    raises_naming("R", perturb, net, R, "random-sphere", generator(0))


def test_perturb_never_returns_non_finite_weights(net):
    """docs/design.md: no silent NaN, non-finite results raise. An infinite radius is accepted by
    the
    radius check, so the perturbation itself must not return W = +-inf."""
    for path in ("numba", "reference"):
        with pytest.raises((UserInputError, FloatingPointError)):
            perturb(net, math.inf, "random-sphere", generator(0), path=path)


def test_perturb_rejects_unknown_kind(net):
    raises_naming("kind", perturb, net, 0.1, "random-cube", generator(0))


# -- inputs and weights ---------------------------------------------------------------------------


def _estimators(net, X):
    R = 0.1
    return {
        "output_and_gradient": lambda Y, **kw: output_and_gradient(net, Y, **kw),
        "gradient_difference": lambda Y, **kw: gradient_difference(net, Y, 0.0, **kw),
        "flippable_neurons": lambda Y, **kw: flippable_neurons(net, Y, R, **kw),
        "realised_flips": lambda Y, **kw: realised_flips(net, net.W, Y, **kw),
        "worst_output": lambda Y, **kw: worst_output(net, Y, R, **kw),
        "first_sign_flip": lambda Y, **kw: first_sign_flip(net, Y, **kw),
    }


bad_shapes = st.sampled_from([(2, 4), (2, 2), (4,), (1, 2, 3), (0,), (3, 1)])


@given(shape=bad_shapes, which=st.sampled_from(list(_estimators(None, None))))
def test_inputs_of_wrong_shape_are_rejected(net, shape, which):
    raises_naming("X", _estimators(net, None)[which], np.ones(shape))


@given(
    bad=st.sampled_from([math.nan, math.inf, -math.inf]),
    where=st.tuples(st.integers(0, 1), st.integers(0, 2)),
    which=st.sampled_from(list(_estimators(None, None))),
)
def test_inputs_with_nan_or_inf_are_rejected(net, X, bad, where, which):
    Y = X.copy()
    Y[where] = bad
    raises_naming("X", _estimators(net, X)[which], Y)


def test_bogus_path_is_rejected_everywhere(net, X):
    for which, fn in _estimators(net, X).items():
        msg = raises_naming("path", fn, X, path="bogus")
        assert "reference" in msg and "numba" in msg, which
    raises_naming("path", lazy_ball_project, net.W, net.W, 0.1, path="bogus")
    raises_naming("path", perturb, net, 0.1, "random-sphere", generator(0), path="bogus")


def test_weights_of_wrong_shape_are_rejected(net, X):
    raises_naming("W", realised_flips, net, net.W[:, :2], X)
    raises_naming("W", lazy_ball_project, net.W[:-1], net.W, 0.1)
    raises_naming("W", net.with_weights, net.W.T)


def test_sample_inputs_rejects_bad_count(net):
    raises_naming("n", sample_inputs, net.spec, 0, generator(0))


def test_materialised_W_over_budget_is_rejected():
    spec = NetworkSpec(d=10**5, m=10**6)  # 800 GB of float64
    msg = raises_naming("m*d", spec.check_materializable)
    assert "GiB" in msg
    with pytest.raises(UserInputError):
        sample_network(spec, generator(0))  # refused before allocating anything
    NetworkSpec(d=100, m=1000).check_materializable()  # a small W is fine


# -- bounds ---------------------------------------------------------------------------------------


@given(gamma=st.floats(allow_nan=True, allow_infinity=True).filter(lambda g: not 0 < g < 1))
def test_bound_rejects_gamma_outside_unit_interval(gamma):
    raises_naming("gamma", get_bound("wang2022.lemma_4_3"), m=10, C0=1, gamma=gamma)


def test_bound_examples_from_the_brief():
    raises_naming("gamma", get_bound("wang2022.lemma_4_3"), m=10, C0=1, gamma=1.5)
    msg = raises_naming("'wang2022.lemma_9_9'", get_bound, "wang2022.lemma_9_9")
    assert "unknown bound" in msg
    raises_naming("m", get_bound("wang2022.lemma_4_3"), m=10.5, C0=1, gamma=0.1)
    raises_naming("C0", get_bound("wang2022.lemma_4_3"), m=10, C0=-1, gamma=0.1)
