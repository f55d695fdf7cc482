"""The counter-based generator (theorycheck/rng.py) and the streaming path (streaming.py).

Generator: statistical tests with fixed keys; each fails a correct generator with probability
< 1e-6 (KS p-values exact; moment z-tests with |z| < 5.33 <-> two-sided p > 1e-7 each, union bound
over the handful of moments; correlations of n pairs with |r| sqrt(n) < 5.33). Power: the same
tests reject normals of standard deviation 1.05 (KS) and 1.01 (second moment).

Streaming path: equal to the materialised fused kernel on the same stream network to rounding
(f to 1e-10 of its absolute scale, t* to 1e-9 relative, |S_R| exactly); thread-count invariant
bit for bit; the stream is a pure function of (seed, network, neuron).
"""

from __future__ import annotations

import math

import numba
import numpy as np
import pytest
from scipy import stats

from theorycheck.errors import UserInputError
from theorycheck.fused import single_step_statistics
from theorycheck.network import NetworkSpec, sample_inputs
from theorycheck.rng import fill_normals, network_key, neuron_key, word_offsets
from theorycheck.seeding import generator
from theorycheck.streaming import stream_network, streaming_statistics

ALPHA = 1e-6
Z_MAX = 5.33  # two-sided normal p ~ 1e-7


@numba.njit(cache=True)
def _rows(key, m, d):
    out = np.empty((m, d))
    offsets = word_offsets(d + 1)
    for s in range(m):
        fill_normals(neuron_key(key, s), out[s], offsets)
    return out


def test_normals_match_the_standard_normal():
    x = _rows(network_key(0, "rng-test"), 20_000, 201).ravel()  # 4e6 normals
    n = x.size
    assert stats.ks_1samp(x, stats.norm.cdf).pvalue > ALPHA
    # moments k = 1..4 of N(0,1): 0, 1, 0, 3; variances of the sample moments: 1, 2, 15, 96.
    for k, mean, var in ((1, 0.0, 1.0), (2, 1.0, 2.0), (3, 0.0, 15.0), (4, 3.0, 96.0)):
        z = (np.mean(x**k) - mean) / math.sqrt(var / n)
        assert abs(z) < Z_MAX, (k, z)


def test_ziggurat_tail_and_layers():
    """The ziggurat's rare branches: the tail beyond r = 3.4426 (P = 5.8e-4, its own sampler) and
    the wedge rejections. 4e6 normals give ~2300 tail values: their count is tested against the
    exact binomial and their law against the normal tail (KS); each fails w.p. < 1e-6."""
    r = 3.442619855899
    x = _rows(network_key(0, "rng-tail"), 20_000, 200).ravel()
    tail = np.abs(x[np.abs(x) > r])
    p = 2 * stats.norm.sf(r)
    assert stats.binomtest(tail.size, x.size, p).pvalue > ALPHA
    sf_r = stats.norm.sf(r)
    assert stats.ks_1samp(tail, lambda t: 1 - stats.norm.sf(t) / sf_r).pvalue > ALPHA
    # signs symmetric in the tail and overall
    assert stats.binomtest(int(np.sum(x > 0)), x.size, 0.5).pvalue > ALPHA


def test_no_correlation_across_neurons_networks_seeds_and_offsets():
    m, d = 4000, 8
    base = _rows(network_key(1, "net-a"), m, d)
    others = {
        "next neuron": base[1:, :].ravel(),
        "other network": _rows(network_key(1, "net-b"), m, d)[:-1].ravel(),
        "other seed": _rows(network_key(2, "net-a"), m, d)[:-1].ravel(),
        "next coordinate": np.roll(base[:-1], 1, axis=1).ravel(),
    }
    x = base[:-1].ravel()
    for name, y in others.items():
        r = np.corrcoef(x, y)[0, 1]
        assert abs(r) * math.sqrt(x.size) < Z_MAX, (name, r)
    # pairs within a Box-Muller pair: uncorrelated, and (x1^2, x2^2) too (independence, not only
    # orthogonality)
    a, b = base[:, 0::2].ravel(), base[:, 1::2].ravel()
    for u, v in ((a, b), (a**2, b**2)):
        assert abs(np.corrcoef(u, v)[0, 1]) * math.sqrt(u.size) < Z_MAX


def test_tests_have_power_against_a_slightly_wrong_scale():
    x = _rows(network_key(0, "rng-test"), 2000, 101).ravel()  # 2e5: power even at this size
    assert stats.ks_1samp(x * 1.05, stats.norm.cdf).pvalue < ALPHA
    z = (np.mean((1.01 * x) ** 2) - 1.0) / math.sqrt(2.0 / x.size)  # the second-moment test
    assert abs(z) > Z_MAX


def test_stream_is_a_pure_function_of_its_key():
    spec = NetworkSpec(d=7, m=50)
    a = stream_network(spec, 3, "n0")
    b = stream_network(NetworkSpec(d=7, m=80), 3, "n0")
    np.testing.assert_array_equal(a.W, b.W[:50])  # rows do not depend on m
    np.testing.assert_array_equal(a.a, b.a[:50])
    assert not np.array_equal(a.W, stream_network(spec, 3, "n1").W)
    assert set(np.unique(a.a)) <= {-1.0, 1.0}


@pytest.mark.parametrize("scaling", ["wang", "bubeck"])
def test_streaming_equals_materialised(scaling):
    for d, m, n in ((1, 5, 2), (13, 300, 5), (64, 2000, 3)):
        spec = NetworkSpec(d=d, m=m, scaling=scaling)
        X = sample_inputs(spec, n, generator(4, "stream-x", d))
        radii = (0.05, 0.3) if scaling == "wang" else (0.05 / math.sqrt(d), 0.3 / math.sqrt(d))
        net = stream_network(spec, 9, f"net-{d}")
        mat = single_step_statistics(net, X, radii, path="numba")
        st = streaming_statistics(spec, 9, f"net-{d}", X, radii)
        scale = np.abs(net.W @ X.T).sum(axis=0) / math.sqrt(m)
        assert np.all(np.abs(st.f - mat.f) <= 1e-10 * scale)
        np.testing.assert_allclose(st.grad_norm, mat.grad_norm, rtol=1e-10)
        np.testing.assert_array_equal(st.zero_output, mat.zero_output)
        np.testing.assert_allclose(st.t_star, mat.t_star, rtol=1e-9)
        np.testing.assert_array_equal(st.flippable, mat.flippable)


def test_streaming_thread_count_invariance(restore_numba_threads):
    spec = NetworkSpec(d=40, m=3000)
    X = sample_inputs(spec, 3, generator(5, "stream-threads"))
    runs = []
    for threads in (1, min(2, numba.config.NUMBA_NUM_THREADS)):
        numba.set_num_threads(threads)
        runs.append(streaming_statistics(spec, 1, 0, X, (0.02,)))
    for name in ("f", "grad_norm", "t_star", "flippable"):
        np.testing.assert_array_equal(getattr(runs[0], name), getattr(runs[1], name))


def test_streaming_memory_is_not_m_times_d():
    """Peak allocation (tracemalloc sees NumPy's and numba's allocator) stays far below the
    8 m d bytes of W: the rows are regenerated, never stored."""
    import tracemalloc

    spec = NetworkSpec(d=2000, m=2000)
    x = np.zeros((1, spec.d))
    x[0, 0] = 1.0
    streaming_statistics(spec, 0, 0, x, (0.01,))  # compile / load outside the measurement
    tracemalloc.start()
    s = streaming_statistics(spec, 0, 0, x, (0.01,))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert np.isfinite(s.f[0]) and s.t_star[0] > 0
    assert peak < 8 * spec.m * spec.d / 8, peak


def test_streaming_rejects_other_networks():
    with pytest.raises(UserInputError, match="streaming"):
        streaming_statistics(NetworkSpec(d=3, m=3, activation="tanh"), 0, 0, np.ones((1, 3)))


def test_sampled_stream_networks_are_the_stream_networks():
    """sample_stream_statistics(spec, n, rng) is network i = stream (seed, i) on input i, seed
    drawn from rng: it equals the fused numba path on the materialised stream networks."""
    from theorycheck.streaming import sample_stream_statistics

    spec = NetworkSpec(d=7, m=40)
    radii = (0.1, 0.5)
    got = sample_stream_statistics(spec, 5, generator(3, "stream-sample"), radii=radii)
    rng = generator(3, "stream-sample")
    seed = int(rng.integers(2**62))
    X = sample_inputs(spec, 5, rng)
    for i in range(5):
        ref = single_step_statistics(stream_network(spec, seed, i), X[i : i + 1], radii)
        np.testing.assert_allclose(got.f[i], ref.f[0], rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(got.grad_norm[i], ref.grad_norm[0], rtol=1e-12)
        np.testing.assert_allclose(got.t_star[i], ref.t_star[0], rtol=1e-9)
        np.testing.assert_array_equal(got.flippable[i], ref.flippable[0])
