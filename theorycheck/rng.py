"""A counter-based normal generator usable inside numba kernels (docs/design.md "Architecture":
streaming).

Every hidden weight of the streaming path is a pure function of (seed, network, neuron, coordinate):
there is no generator state, so a kernel can regenerate neuron s's row anywhere, in any order, on
any thread, and get the same numbers. Construction:

* keys: ``network_key(seed, network)`` = mix64(mix64(seed ^ T) + mix64(network ^ T')) (Python side),
  ``neuron key`` = mix64(network_key + mix64(neuron + 1) * golden) — distinct neurons get
  unrelated 64-bit keys;
* the j-th 64-bit word of a neuron: mix64(key ^ mix64((j + 1) * golden)) — a two-round hash of
  (key, j), so two neurons' streams are unrelated at every offset (a plain SplitMix64 stream
  key + j * golden would let two keys that differ by a multiple of golden share a shifted sequence);
* normals by the ziggurat of Marsaglia and Tsang (2000), one word per normal in ~98.8% of draws
  (a SplitMix64 stream seeded by that word supplies the rare rejection steps), so a normal costs a
  hash, a table look-up and a multiply, like NumPy's own ziggurat.

mix64 is the output function of SplitMix64 (Steele, Lea, Flood 2014, "Fast splittable pseudorandom
number generators"; the finaliser of Stafford's "Mix13"). It reproduces no NumPy bit generator, so
it is validated statistically (tests/test_streaming.py: moments, KS against N(0, 1), no correlation
across neurons, networks and seeds).
"""

from __future__ import annotations

import math

import numba
import numpy as np

from theorycheck.seeding import key_to_int

__all__ = ["fill_normals", "mix64", "network_key", "neuron_key", "neuron_sign", "word_offsets"]

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31, _S11, _S32, _S63 = (np.uint64(k) for k in (30, 27, 31, 11, 32, 63))
_M127 = np.uint64(127)
_TAG_SEED = 0x5EED5EED5EED5EED
_TAG_NET = 0x0E7A0E7A0E7A0E7A
_SIGN_TAG = np.uint64(0xA5A5A5A5A5A5A5A5)
_INV_2_53 = 1.0 / 9007199254740992.0
_TWO_PI = 2.0 * math.pi


@numba.njit(cache=True, inline="always")
def mix64(z):
    """SplitMix64's output function: a bijective 64-bit mixer (uint64 -> uint64)."""
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


def _mix64_py(z: int) -> int:
    mask = (1 << 64) - 1
    z &= mask
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
    return z ^ (z >> 31)


def network_key(seed: int, network: str | int) -> np.uint64:
    """The 64-bit key of one network's weights, from the run's seed and the network's name."""
    s = _mix64_py(key_to_int(seed) ^ _TAG_SEED)
    n = _mix64_py(key_to_int(network) ^ _TAG_NET)
    return np.uint64(_mix64_py((s + n) & ((1 << 64) - 1)))


@numba.njit(cache=True, inline="always")
def neuron_key(net_key, neuron):
    return mix64(net_key + mix64(np.uint64(neuron) + np.uint64(1)) * _GOLDEN)


@numba.njit(cache=True)
def word_offsets(n_words):
    """mix64((j + 1) * golden) for j < n_words: the per-coordinate half of the word hash,
    shared by every neuron (computed once per kernel call, O(d) memory)."""
    out = np.empty(n_words, dtype=np.uint64)
    for j in range(n_words):
        out[j] = mix64((np.uint64(j) + np.uint64(1)) * _GOLDEN)
    return out


def _ziggurat_tables():
    """Marsaglia & Tsang (2000), "The ziggurat method for generating random variables", J. Stat.
    Softw. 5(8), RNOR with 128 layers: k (acceptance thresholds on a signed 32-bit integer),
    w (layer widths per unit of that integer) and f (the density at the layer edges)."""
    m1 = 2147483648.0
    dn = tn = 3.442619855899
    vn = 9.91256303526217e-3
    k, w, f = np.zeros(128), np.zeros(128), np.zeros(128)
    q = vn / math.exp(-0.5 * dn * dn)
    k[0], k[1] = (dn / q) * m1, 0.0
    w[0], w[127] = q / m1, dn / m1
    f[0], f[127] = 1.0, math.exp(-0.5 * dn * dn)
    for i in range(126, 0, -1):
        dn = math.sqrt(-2.0 * math.log(vn / dn + math.exp(-0.5 * dn * dn)))
        k[i + 1] = (dn / tn) * m1
        tn = dn
        f[i] = math.exp(-0.5 * dn * dn)
        w[i] = dn / m1
    return k, w, f


_ZK, _ZW, _ZF = _ziggurat_tables()
_ZR = 3.442619855899  # start of the tail


@numba.njit(cache=True, inline="always")
def _uniform(word):
    return (np.float64(word >> _S11) + 1.0) * _INV_2_53  # (0, 1]


@numba.njit(cache=True)
def _normal_slow(w0, hz, iz):
    # Rejection branch of the ziggurat (about 1.2% of draws). Further words come from a SplitMix64
    # stream seeded by the first word, so the mapping (key, coordinate) -> normal stays fixed.
    t = np.uint64(1)
    while True:
        x = hz * _ZW[iz]
        if iz == 0:  # the tail beyond r, by Marsaglia's exponential method
            while True:
                x = -math.log(_uniform(mix64(w0 + t * _GOLDEN))) / _ZR
                y = -math.log(_uniform(mix64(w0 + (t + np.uint64(1)) * _GOLDEN)))
                t += np.uint64(2)
                if y + y >= x * x:
                    break
            return _ZR + x if hz > 0 else -_ZR - x
        u = _uniform(mix64(w0 + t * _GOLDEN))
        t += np.uint64(1)
        if _ZF[iz] + u * (_ZF[iz - 1] - _ZF[iz]) < math.exp(-0.5 * x * x):
            return x
        word = mix64(w0 + t * _GOLDEN)
        t += np.uint64(1)
        hz = np.int64(np.int32(np.uint32(word >> _S32)))
        iz = np.int64(word & _M127)
        if abs(hz) < _ZK[iz]:
            return hz * _ZW[iz]


@numba.njit(cache=True)
def fill_normals(key, out, offsets):
    """Fill ``out`` (d,) with N(0, 1) numbers of the stream ``key``; ``offsets`` =
    :func:`word_offsets` (at least d words). Normal j is the ziggurat (Marsaglia & Tsang 2000,
    128 layers) on the word mix64(key ^ offsets[j]): its top 32 bits as the signed integer, its
    low 7 bits as the layer (disjoint bits, unlike the original's shared ones)."""
    for j in range(out.shape[0]):
        w0 = mix64(key ^ offsets[j])
        hz = np.int64(np.int32(np.uint32(w0 >> _S32)))
        iz = np.int64(w0 & _M127)
        if abs(hz) < _ZK[iz]:
            out[j] = hz * _ZW[iz]
        else:
            out[j] = _normal_slow(w0, hz, iz)


@numba.njit(cache=True, inline="always")
def neuron_sign(key):
    """An output weight a_s = +-1 from the top bit of a word outside the normals' counters."""
    return 1.0 if (mix64(key ^ _SIGN_TAG) >> _S63) == np.uint64(1) else -1.0
