"""Shared test configuration: hypothesis profiles and a numba warm-up fixture.

In the manner of numpy's and scipy's conftest.py:

* hypothesis profile ``ci`` (derandomized, no deadline, a moderate number of examples, failing
  examples printed as reproduction blobs) is loaded when the environment has ``CI=true``;
  profile ``dev`` (no deadline: the first call of a numba kernel compiles it) otherwise.
  ``HYPOTHESIS_PROFILE`` overrides the choice.
* statistical tests use fixed seeds and state the failure probability of a correct implementation
  in a comment next to the threshold (docs/design.md "Reliability": below 1e-6).
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    derandomize=True,
    deadline=None,
    max_examples=60,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", deadline=None, suppress_health_check=[HealthCheck.too_slow])

_default_profile = "ci" if os.environ.get("CI", "").lower() == "true" else "dev"
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", _default_profile))


@pytest.fixture(scope="session")
def warm_numba():
    """Compile (or load from the on-disk cache) every numba kernel once, on tiny inputs.

    The kernels use ``cache=True``; the first call in a fresh environment still compiles for a
    few seconds, which must not count against a hypothesis example. Not autouse: tests that call
    kernels request it.
    """
    from theorycheck.activations import ACTIVATIONS
    from theorycheck.attack import first_sign_flip
    from theorycheck.forward import gradient_difference, output_and_gradient
    from theorycheck.lazy_ball import (
        flippable_neurons,
        lazy_ball_project,
        perturb,
        realised_flips,
        worst_output,
    )
    from theorycheck.network import Network, NetworkSpec, sample_inputs, sample_network
    from theorycheck.seeding import generator

    rng = generator(0, "warm-numba")
    spec = NetworkSpec(d=2, m=3)
    base = sample_network(spec, rng)
    X = sample_inputs(spec, 2, rng)
    for name in ACTIVATIONS:
        net = Network(NetworkSpec(d=2, m=3, activation=name), base.a, base.W, base.b, base.c)
        output_and_gradient(net, X)
        gradient_difference(net, X, 0.1 * X)
        worst_output(net, X, 0.1)
        first_sign_flip(net, X)
    flippable_neurons(base, X, 0.1)
    realised_flips(base, base.W, X)
    lazy_ball_project(base.W + 1.0, base.W, 0.1)
    perturb(base, 0.1, "random-sphere", rng)
    return True


@pytest.fixture
def restore_numba_threads():
    """Restore numba's thread count after a test that changes it."""
    import numba

    before = numba.get_num_threads()
    yield before
    numba.set_num_threads(before)
