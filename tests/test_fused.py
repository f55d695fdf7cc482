"""The fused kernel of theorycheck/fused.py against its twin (first_sign_flip + flippable_neurons).

Tolerances as in tests/test_kernels.py: f to 1e-10 of its absolute scale; t* to 1e-9 relative
(a ratio of such sums, REL_T of tests/test_attack.py); |S_R| exactly except for a pre-activation
within rounding of +-R||x|| (probability ~1e-14 per neuron, never at these seeds).
"""

from __future__ import annotations

import math

import numba
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from theorycheck.errors import UserInputError
from theorycheck.fused import single_step_statistics
from theorycheck.network import NetworkSpec, sample_inputs, sample_network
from theorycheck.seeding import generator


@st.composite
def relu_cases(draw):
    spec = NetworkSpec(
        d=draw(st.integers(1, 30)),
        m=draw(st.integers(1, 200)),
        scaling=draw(st.sampled_from(("wang", "bubeck"))),
        output_weights=draw(st.sampled_from(("sign", "gaussian"))),
        biases=draw(st.booleans()),
    )
    rng = generator(draw(st.integers(0, 2**32 - 1)), "test_fused")
    net = sample_network(spec, rng)
    X = sample_inputs(spec, draw(st.integers(1, 6)), rng) * draw(st.floats(0.2, 5.0))
    radii = rng.uniform(0, 1, draw(st.integers(0, 3))) / math.sqrt(spec.m)
    return net, X, radii


@given(relu_cases())
def test_fused_matches_reference(warm_numba, case):
    net, X, radii = case
    fast = single_step_statistics(net, X, radii, path="numba")
    ref = single_step_statistics(net, X, radii, path="reference")
    scale = np.abs(net.W @ X.T).sum(axis=0) / math.sqrt(net.spec.m) + abs(net.c) + 1e-300
    assert np.all(np.abs(fast.f - ref.f) <= 1e-10 * scale)
    np.testing.assert_allclose(fast.grad_norm, ref.grad_norm, rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(fast.zero_output, ref.zero_output)
    np.testing.assert_array_equal(np.isinf(fast.t_star), np.isinf(ref.t_star))
    fin = np.isfinite(ref.t_star)
    np.testing.assert_allclose(fast.t_star[fin], ref.t_star[fin], rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(fast.flippable, ref.flippable)


def test_fused_thread_count_invariance(warm_numba, restore_numba_threads):
    spec = NetworkSpec(d=50, m=3000)
    rng = generator(1, "fused-threads")
    net = sample_network(spec, rng)
    X = sample_inputs(spec, 17, rng)
    runs = []
    for threads in (1, min(2, numba.config.NUMBA_NUM_THREADS)):
        numba.set_num_threads(threads)
        runs.append(single_step_statistics(net, X, (0.01, 0.05)))
    for name in ("f", "grad_norm", "t_star", "flippable"):
        np.testing.assert_array_equal(getattr(runs[0], name), getattr(runs[1], name))


def test_fused_groups_of_inputs(monkeypatch):
    """Inputs processed in several groups give the same numbers as one group, to rounding (BLAS
    may pick another kernel, and so another summation order, for another matrix shape)."""
    import theorycheck.fused as fused

    spec = NetworkSpec(d=10, m=40)
    rng = generator(2, "fused-groups")
    net = sample_network(spec, rng)
    X = sample_inputs(spec, 9, rng)
    one = single_step_statistics(net, X, (0.1,))
    monkeypatch.setattr(fused, "GROUP_ELEMENTS", 80)  # two inputs per group
    many = single_step_statistics(net, X, (0.1,))
    for name in ("f", "grad_norm", "t_star"):
        np.testing.assert_allclose(getattr(one, name), getattr(many, name), rtol=1e-12)
    np.testing.assert_array_equal(one.flippable, many.flippable)


def test_fused_rejects_smooth_activations():
    net = sample_network(NetworkSpec(d=3, m=4, activation="tanh"), generator(0))
    with pytest.raises(UserInputError, match="first_sign_flip"):
        single_step_statistics(net, np.ones((1, 3)) / math.sqrt(3))
