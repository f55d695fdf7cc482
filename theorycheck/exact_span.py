"""The exact path for perturbed networks: d-free sampling of the single-step attack on the
`worst-output` and `robustifying` points of the lazy ball.

docs/theory.md Sec. 2 items 2 and 4, Sec. 4.1 [derived]; derivation in
docs/derivations/exact_sampler.md Sec. 6.

Setting as in :mod:`theorycheck.exact`: relu, a_s = +-1, no biases, one input x with ||x|| = 1
(``wang``; ``bubeck`` by the scaling equivalence of docs/theory.md Sec. 1), rows w_s = z_s x + p_s
with
p_s = P w_s. Both families move row s to

    w_s' = z_s' x + p_s - beta a_s e',      e' = V' / ||V'||,   V' = sum_{s in A'} a_s p_s,

with z_s' = z_s + varsigma a_s r1 the radial target of the worst-output maximiser (varsigma = +1)
or minimiser (-1) over the ball of radius r1 (docs/theory.md Sec. 2 item 2; the rule
:func:`theorycheck.lazy_ball.worst_output` follows, ties included) and A' = {z_s' > 0}:

* ``worst-output``: r1 = R, beta = 0, the sup maximiser if sup f >= -inf f, else the inf minimiser;
* ``robustifying`` (:func:`theorycheck.perturbations.robustifying`): r1 = rf R, the sup/inf by
  sign f(x; W0) (sign(0) := +1), beta = (1 - rf) R along e', the direction of P grad f at the
  radially moved weights (beta = 0 when that is 0).

The orthogonal move leaves every pre-activation at x equal to z_s', so A' stays the active set and
grad f(x; W') = f x + (||V'|| - beta N') e' / sqrt(m): conditioning the iid Gaussian p_s on V' (not
on the gradient at W0, as :mod:`theorycheck.exact` does) makes every quantity of the attack on W' a
function of O(m) scalars, exactly as at initialisation. The statistics at W0 (f0, ||grad f0||)
need one more scalar: the part of V0 = sum_A a_s p_s orthogonal to e' is N(0, q I_{d-2}) with
q = N - |A cap A'|^2 / N'.

:func:`sample_perturbed_statistics` is the one entry point. ``path="exact"`` uses the sampler
above (O(m) per network plus the breakpoint walk, whatever d is); ``"numba"``/``"reference"`` draw
materialised networks and call the public constructions (:func:`worst_output_weights`,
:func:`~theorycheck.perturbations.robustifying`) and :func:`~theorycheck.attack.first_sign_flip`,
so the paths return the same quantities with the same law.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np
import pandas as pd

from theorycheck.attack import _tstar_pwl_numba, _tstar_pwl_reference, first_sign_flip
from theorycheck.errors import (
    UserInputError,
    check_allocation,
    check_choice,
    check_finite,
    check_int,
    check_real,
)
from theorycheck.exact import BLOCK_NEURONS, AttackRatios, exact_supported
from theorycheck.forward import output_and_gradient
from theorycheck.lazy_ball import lazy_radius, worst_output
from theorycheck.network import Network, NetworkSpec, input_radius, sample_inputs, sample_network
from theorycheck.paths import check_path
from theorycheck.perturbations import robustifying

__all__ = [
    "SPAN_FAMILIES",
    "SPAN_PATHS",
    "PerturbedStatistics",
    "sample_perturbed_statistics",
    "worst_output_weights",
]

#: Perturbation families covered (docs/theory.md Sec. 2 items 2 and 4).
SPAN_FAMILIES = ("worst-output", "robustifying")
#: Paths offered by :func:`sample_perturbed_statistics`.
SPAN_PATHS = ("exact", "numba", "reference")


def worst_output_weights(net: Network, x, R: float, path: str = "numba") -> np.ndarray:
    """The W of the lazy ball maximising |f(x; W)|: the sup maximiser if sup f >= -inf f, else
    the inf minimiser (docs/theory.md Sec. 2 item 2; docs/derivations/worst_output.md Sec. 1-2).

    The maximiser is :meth:`theorycheck.lazy_ball.WorstOutput.argmax_weights`, W0 +- R a x^T /
    ||x|| for relu (ties, e.g. rows dead on their whole interval, included).
    """
    wo = worst_output(net, x, R, path=path)
    which = "sup" if wo.sup[0] >= -wo.inf[0] else "inf"
    return wo.argmax_weights(net, x, which)[0]


@dataclass(frozen=True)
class PerturbedStatistics(AttackRatios):
    """Single-step attack statistics at a perturbed point W of the lazy ball, one input per
    network, in the spec's own units.

    f, grad_norm : f(x; W) and ||grad_x f(x; W)||, shape (n,).
    t_star : distance along the single-step attack ray on W to the first sign flip (+inf if none).
    zero_output : f(x; W) == 0 (no attack direction; t_star, s_lin and eta_star set to 0).
    f0, grad_norm0 : f(x; W0) and ||grad_x f(x; W0)|| of the same network at initialisation
        (jointly distributed with the above).
    """

    spec: NetworkSpec
    path: str
    family: str
    R: float
    radial_fraction: float
    f: np.ndarray
    grad_norm: np.ndarray
    t_star: np.ndarray
    zero_output: np.ndarray
    f0: np.ndarray
    grad_norm0: np.ndarray

    def to_frame(self) -> pd.DataFrame:
        """One row per network: network, f, grad_norm, s_lin, t_star, eta_star, zero_output (all
        at the perturbed W), f0, grad_norm0 (at W0); family, R, radial_fraction, path in
        ``frame.attrs``."""
        frame = pd.DataFrame({
            "network": np.arange(len(self.f)), "f": self.f, "grad_norm": self.grad_norm,
            "s_lin": self.s_lin, "t_star": self.t_star, "eta_star": self.eta_star,
            "zero_output": self.zero_output, "f0": self.f0, "grad_norm0": self.grad_norm0,
        })  # fmt: skip
        frame.attrs.update(family=self.family, R=self.R, radial_fraction=self.radial_fraction,
                           path=self.path)  # fmt: skip
        return frame


def sample_perturbed_statistics(
    spec: NetworkSpec,
    n: int,
    rng: np.random.Generator,
    *,
    family: str,
    C0: float | None = None,
    R: float | None = None,
    radial_fraction: float = 0.5,
    path: str = "exact",
) -> PerturbedStatistics:
    """Draw n networks and inputs, perturb each inside its lazy ball, return the attack statistics.

    Parameters
    ----------
    spec : the network (``exact`` needs relu, ``output_weights="sign"``, no biases).
    n : number of independent (network, input) pairs.
    rng : the generator (from :func:`theorycheck.seeding.generator`).
    family : ``worst-output`` (the maximiser of |f(x; W)| over the ball) or ``robustifying``
        (:func:`theorycheck.perturbations.robustifying`).
    C0, R : the ball's size, exactly one of them: C0 (R = C0 / sqrt(m) in ``wang``, see
        :func:`theorycheck.lazy_ball.lazy_radius`) or the radius R in the spec's units.
    radial_fraction : ``robustifying`` only: share of the row budget used radially (1/2).
    path : ``exact`` (d-free sampler, O(m) per network), ``numba`` or ``reference``
        (materialised W through the public constructions and estimators).

    References
    ----------
    docs/theory.md Sec. 2 items 2 and 4, Sec. 4.1; docs/derivations/exact_sampler.md Sec. 6.
    Wang et al. (2022) Def. 2.1 (the ball), Theorem 3.1 (single step).
    """
    check_path(path, SPAN_PATHS, what="sample_perturbed_statistics")
    n = check_int("n", n)
    family = check_choice("family", family, SPAN_FAMILIES)
    if (C0 is None) == (R is None):
        raise UserInputError("give exactly one of C0 and R (the lazy-ball size)")
    R = lazy_radius(spec, C0) if R is None else check_real("R", R, low=0.0)
    rf = check_real("radial_fraction", radial_fraction, low=0.0, high=1.0)
    # Six results per network, plus on the exact path one block of draws (a, z, g, ... of
    # per-block networks x m neurons); a materialised W is checked by sample_network.
    per_block = min(n, max(1, BLOCK_NEURONS // spec.m))
    draws = 6 * per_block * spec.m if path == "exact" else 0
    check_allocation(f"n = {n} networks of m = {spec.m} neurons", 8.0 * (6 * n + draws),
                     hint="lower n or m")  # fmt: skip
    if path == "exact":
        if not exact_supported(spec):
            raise UserInputError(
                "path='exact' covers relu networks with output_weights='sign' and no biases; "
                f"got activation={spec.activation!r}, output_weights={spec.output_weights!r}, "
                f"biases={spec.biases}: use path='numba'"
            )
        out = _sample_exact(spec, n, rng, family, R, rf)
    else:
        out = _sample_materialized(spec, n, rng, family, R, rf, path)
    res = PerturbedStatistics(spec, path, family, float(R), float(rf), *out)
    for name in ("f", "grad_norm", "f0", "grad_norm0"):
        check_finite(name, getattr(res, name))
    return res


# --------------------------------------------------------------------------- materialised paths


def _sample_materialized(spec, n, rng, family, R, rf, path):
    f, gnorm, tstar = np.empty(n), np.empty(n), np.empty(n)
    zero = np.zeros(n, dtype=bool)
    f0, gnorm0 = np.empty(n), np.empty(n)
    for i in range(n):
        net = sample_network(spec, rng)
        x = sample_inputs(spec, 1, rng)
        fw0 = output_and_gradient(net, x, path=path)
        f0[i], gnorm0[i] = fw0.f[0], fw0.grad_norm[0]
        if family == "worst-output":
            W = worst_output_weights(net, x, R, path=path)
        else:
            W = robustifying(net, x[0], R, radial_fraction=rf, path=path)
        step = first_sign_flip(net.with_weights(W), x, path=path)
        f[i], gnorm[i], tstar[i], zero[i] = step.f[0], step.grad_norm[0], step.t_star[0], \
            step.zero_output[0]  # fmt: skip
    return f, gnorm, tstar, zero, f0, gnorm0


# --------------------------------------------------------------------------- the exact path


def _span_parameters(family, R, rf, rho):
    """(r1, beta, by_sign) in wang units (||x|| = 1): radial radius, orthogonal length, and
    whether the radial direction follows sign f0 (robustifying) or the larger of |sup|, |inf|.

    In ``bubeck`` units the rows are 1/sqrt(d) times the wang ones and ||x|| = sqrt(d) = rho, so a
    move of length L in W is a move of length L rho in wang units, radially and orthogonally.
    """
    if family == "worst-output":
        return R * rho, 0.0, False
    return rf * R * rho, (1.0 - rf) * R * rho, True


def _sample_exact(spec, n, rng, family, R, rf):
    d, m = spec.d, spec.m
    rho = input_radius(spec)
    r1, beta, by_sign = _span_parameters(family, R, rf, rho)
    f, gnorm, tstar = np.empty(n), np.empty(n), np.empty(n)
    zero = np.zeros(n, dtype=bool)
    f0, gnorm0 = np.empty(n), np.empty(n)
    per_block = max(1, BLOCK_NEURONS // m)
    for lo in range(0, n, per_block):
        hi = min(n, lo + per_block)
        draws = _draw_block(rng, hi - lo, m, d)
        out = _run_block(*draws, d, r1, beta, by_sign)
        f[lo:hi], gnorm[lo:hi], tstar[lo:hi], zero[lo:hi], f0[lo:hi], gnorm0[lo:hi] = out
    # Back to the spec's units: grad f_bubeck = grad f_wang / sqrt(d), distances times ||x||.
    return f, gnorm / rho, tstar * rho, zero, f0, gnorm0 / rho


def _draw_block(rng, nb, m, d):
    """The random numbers of nb networks, in a fixed order: a, z, g (nb, m) as in
    :func:`theorycheck.exact._draw_block`, then chi2_{d-1} (||V'||^2 / N') and chi2_{d-2} (the
    part of V0 orthogonal to e') of shape (nb,)."""
    a = rng.integers(0, 2, size=(nb, m), dtype=np.int8) * np.int8(2) - np.int8(1)
    z = rng.standard_normal((nb, m))
    g = rng.standard_normal((nb, m))
    chi1 = rng.chisquare(d - 1, size=nb) if d > 1 else np.zeros(nb)
    chi2 = rng.chisquare(d - 2, size=nb) if d > 2 else np.zeros(nb)
    return a, z, g, chi1, chi2


def _run_block(a, z, g, chi1, chi2, d, r1, beta, by_sign):
    """The numba kernel on one block: (f, ||grad f||, t*, zero, f0, ||grad f0||), wang units."""
    nb = z.shape[0]
    f, gnorm, tstar, f0, gnorm0 = (np.empty(nb) for _ in range(5))
    zero = np.zeros(nb, dtype=np.bool_)
    _span_kernel(a, z, g, chi1, chi2, d, r1, beta, by_sign, f, gnorm, tstar, zero, f0, gnorm0)
    return f, gnorm, tstar, zero, f0, gnorm0


@numba.njit(parallel=True, cache=True)
def _span_kernel(a, z, g, chi1, chi2, d, r1, beta, by_sign, f, gnorm, tstar, zero, f0, gnorm0):
    # One network per iteration, each written to its own slot: thread-count invariant.
    for i in numba.prange(z.shape[0]):
        _span_network(a[i], z[i], g[i], chi1[i], chi2[i], d, r1, beta, by_sign, f, gnorm, tstar,
                      zero, f0, gnorm0, i)  # fmt: skip


@numba.njit(cache=True)
def _span_network(a, z, g, chi1, chi2, d, r1, beta, by_sign, f, gnorm, tstar, zero, f0, gnorm0,
                  i):  # fmt: skip
    m = z.shape[0]
    inv_sqrt_m = 1.0 / math.sqrt(m)
    # W0: f0, N = |A|, and the worst-output sup/inf over the ball of radius r1.
    n0 = 0
    f0sum = 0.0
    sup = 0.0
    inf = 0.0
    for s in range(m):
        if z[s] > 0.0:
            n0 += 1
            f0sum += a[s] * z[s]
        up = max(z[s] + r1, 0.0)
        dn = max(z[s] - r1, 0.0)
        if a[s] > 0:
            sup += up
            inf += dn
        else:
            sup -= dn
            inf -= up
    f0i = f0sum * inv_sqrt_m
    if by_sign:
        direction = 1.0 if f0i >= 0.0 else -1.0
    else:
        direction = 1.0 if sup * inv_sqrt_m >= -(inf * inv_sqrt_m) else -1.0
    # Radial targets z_s + direction a_s r1 (docs/theory.md Sec. 2 item 2, ties included).
    zp = np.empty(m)
    n1 = 0
    n_both = 0
    fsum = 0.0
    gsum = 0.0
    for s in range(m):
        zp[s] = z[s] + direction * a[s] * r1
        if zp[s] > 0.0:
            n1 += 1
            fsum += a[s] * zp[s]
            gsum += g[s]
            if z[s] > 0.0:
                n_both += 1
    fi = fsum * inv_sqrt_m
    vnorm = math.sqrt(n1 * chi1) if d > 1 else 0.0
    b = beta if vnorm > 0.0 else 0.0  # no orthogonal move when P grad f = 0
    ge = (vnorm - b * n1) * inv_sqrt_m  # component of grad f(x; W') along e'
    f[i] = fi
    gnorm[i] = math.sqrt(fi * fi + ge * ge)
    gbar = gsum / n1 if n1 > 0 else 0.0
    y = np.empty(m)  # y_s = <p_s, e'>, conditioned on V'
    sa = 0.0  # <V0, e'> = sum_A a_s y_s
    for s in range(m):
        if d == 1:
            y[s] = 0.0
        elif zp[s] > 0.0:
            y[s] = a[s] * (vnorm / n1 + g[s] - gbar)
        else:
            y[s] = g[s]
        if z[s] > 0.0:
            sa += a[s] * y[s]
    q = n0 - n_both * n_both / n1 if n1 > 0 else float(n0)
    f0[i] = f0i
    gnorm0[i] = math.sqrt(f0i * f0i + (sa * sa + q * chi2) / m)
    zero[i] = fi == 0.0
    if zero[i]:
        tstar[i] = 0.0
        return
    if d == 1:
        # the ray runs along x: f(x(t)) = (1 - t) f(x) (see theorycheck.exact._exact_network)
        tstar[i] = 1.0
        return
    sgn = 1.0 if fi > 0.0 else -1.0
    gn = gnorm[i]
    for s in range(m):  # y becomes the ray slope v_s = -sign(f) <w_s', u>
        y[s] = -sgn * (zp[s] * fi + (y[s] - b * a[s]) * ge) / gn
    tstar[i] = _tstar_pwl_numba(zp, y, a, 0.0, sgn)


# ------------------------------------------------------------------- the readable NumPy twin


def _radial_direction(a, z, r1, by_sign):
    """+1 (the sup maximiser) or -1 (the inf minimiser) over the ball of radius r1: by sign f0
    (robustifying, sign(0) := +1) or by sup f >= -inf f (worst-output)."""
    m = len(z)
    if by_sign:
        return 1.0 if np.sum(a[z > 0] * z[z > 0]) / math.sqrt(m) >= 0.0 else -1.0
    up, dn = np.maximum(z + r1, 0.0), np.maximum(z - r1, 0.0)
    sup = np.where(a > 0, up, -dn).sum() / math.sqrt(m)
    inf = np.where(a > 0, dn, -up).sum() / math.sqrt(m)
    return 1.0 if sup >= -inf else -1.0


def _radial_targets(a, z, r1, direction):
    """z_s' of the worst-output maximiser (direction +1) or minimiser (-1) over the ball of radius
    r1: z_s + direction a_s r1 (docs/derivations/exact_sampler.md Sec. 6.1)."""
    return z + direction * a * r1


def _conditioned_components(a, active, g, vnorm, d):
    """y_s = <p_s, e'> given V' = vnorm e' (Sec. 1(b) of the derivation with c = 1_{A'}):
    a_s (||V'|| / N' + g_s - mean_{A'} g) on A', g_s off A'."""
    if d == 1:
        return np.zeros_like(g)
    gbar = g[active].mean() if active.any() else 0.0
    return np.where(active, a * (vnorm / max(active.sum(), 1) + g - gbar), g)


def _init_orthogonal_sq(a, active0, active1, y, chi2):
    """||V0||^2 = <V0, e'>^2 + q chi2_{d-2}, q = N - |A cap A'|^2 / N' (derivation Sec. 6.4)."""
    N, N1, both = active0.sum(), active1.sum(), (active0 & active1).sum()
    q = N - both**2 / N1 if N1 > 0 else float(N)
    return np.sum(a[active0] * y[active0]) ** 2 + q * chi2


def _span_network_reference(a, z, g, chi1, chi2, d, r1, beta, by_sign):
    """Readable twin of :func:`_span_network` for one network (wang units).

    Returns f, ||grad f||, t*, zero (at W'), f0, ||grad f0|| (at W0).
    """
    m = len(z)
    a = a.astype(np.float64)
    A0 = z > 0
    f0 = float(np.sum(a[A0] * z[A0])) / math.sqrt(m)
    zp = _radial_targets(a, z, r1, _radial_direction(a, z, r1, by_sign))
    A1 = zp > 0
    N1 = int(A1.sum())
    f = float(np.sum(a[A1] * zp[A1])) / math.sqrt(m)
    vnorm = math.sqrt(N1 * chi1) if d > 1 else 0.0
    b = beta if vnorm > 0.0 else 0.0
    # grad f(x; W') = f x + (V' - b N' e') / sqrt(m): the orthogonal move keeps A' and runs along e'
    ge = (vnorm - b * N1) / math.sqrt(m)
    gnorm = math.sqrt(f**2 + ge**2)
    y = _conditioned_components(a, A1, g, vnorm, d)
    gnorm0 = math.sqrt(f0**2 + _init_orthogonal_sq(a, A0, A1, y, chi2) / m)
    if f == 0.0:
        return f, gnorm, 0.0, True, f0, gnorm0
    if d == 1:
        return f, gnorm, 1.0, False, f0, gnorm0
    sgn = math.copysign(1.0, f)
    v = -sgn * (zp * f + (y - b * a) * ge) / gnorm
    return f, gnorm, _tstar_pwl_reference(zp, v, a, 0.0, sgn), False, f0, gnorm0


def _run_block_reference(a, z, g, chi1, chi2, d, r1, beta, by_sign):
    """:func:`_run_block` through the NumPy twin (same outputs, for tests)."""
    rows = [
        _span_network_reference(a[i], z[i], g[i], chi1[i], chi2[i], d, r1, beta, by_sign)
        for i in range(z.shape[0])
    ]
    f, gnorm, tstar, zero, f0, gnorm0 = (np.array(c) for c in zip(*rows, strict=True))
    return f, gnorm, tstar, zero.astype(bool), f0, gnorm0
