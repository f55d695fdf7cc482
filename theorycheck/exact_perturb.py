"""The exact path for random perturbations: d-free sampling of init-gradient-stability's statistics.

docs/derivations/exact_sampler.md Sec. 7 (derivation and checks); F5 of
docs/derivations/single_step_laws.md; Bubeck et al. (2021) eq. (4).

Setting as in :mod:`theorycheck.exact`: relu, a_s = +-1, no biases, a network at initialisation
and one input x (``wang``: w_s ~ N(0, I_d), ||x|| = 1; ``bubeck`` by the scaling equivalence).
Each network gets P random perturbations x'_j = cos(theta_j) x + sin(theta_j) ||x|| v_j, the v_j
iid uniform on the unit sphere of x^perp, and the attack ray x - sign(f) t u, u = grad f /
||grad f||, at the distances t = c t* (t* the first sign flip). Exactly in law (Sec. 7):

* the v_j have coordinates b_j / ||b_j|| in an orthonormal basis e_1..e_k of their span
  (k = min(P, d - 1)), b_j the rows of a Bartlett factor (chi-square and normal draws);
* w_s = g_s x + sum_i h_si e_i + r_s with g_s, h_si iid N(0, 1) and r_s in the other d - 1 - k
  dimensions; the part of sum_A a_s r_s (A = {g_s > 0}) is handled as in
  :mod:`theorycheck.exact` (its norm^2 is N chi2_{d-1-k}; the rows' components along its
  direction are the conditioned y_s);
* every gradient difference sum_s c_s w_s / sqrt(m) then has explicit components along x, the
  e_i and that direction, and a complement part whose squared norms (jointly for all P + C
  differences) are the diagonal of L W L^T with W ~ Wishart(I, d - 2 - k) by Bartlett's
  decomposition (:func:`theorycheck.exact._complement_sq_norms`).

Cost O(m (P + C)) per network plus the breakpoint walk, whatever d is.

:func:`sample_perturbation_statistics` is the one entry point; ``path="numba"`` or
``"reference"`` draw materialised networks (any activation, biases allowed) and measure them with
the public estimators, so the paths return the same quantities with the same law.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from theorycheck.attack import _tstar_pwl_numba, first_sign_flip
from theorycheck.errors import (
    UserInputError,
    check_allocation,
    check_finite,
    check_int,
    check_real,
)
from theorycheck.exact import BLOCK_NEURONS, _complement_sq_norms, exact_supported
from theorycheck.forward import gradient_difference, output_and_gradient
from theorycheck.network import NetworkSpec, input_radius, sample_inputs, sample_network
from theorycheck.paths import check_path

__all__ = ["PERTURB_PATHS", "PerturbationStatistics", "sample_perturbation_statistics"]

#: Paths offered by :func:`sample_perturbation_statistics`.
PERTURB_PATHS = ("exact", "numba", "reference")


@dataclass(frozen=True)
class PerturbationStatistics:
    """Per-network statistics of random perturbations and of the attack ray, spec units.

    f, grad_norm, t_star, zero_output : f(x), ||grad f(x)||, the first sign flip along the attack
        ray (+inf if none; 0 where f(x) = 0 on the exact path) and f(x) == 0, shape (n,).
    flips : neurons whose pre-activation changes sign from x to x'_j, shape (n, P), int64.
    jump2 : ||grad f(x'_j) - grad f(x)||^2, shape (n, P).
    lin2 : (f(x'_j) - f(x) - <grad f(x), x'_j - x>)^2, shape (n, P).
    ratio : ||grad f(x'_j) - grad f(x)|| / ||grad f(x)||, shape (n, P).
    ray_ratio : ||grad f(x + c t* u') - grad f(x)|| / ||grad f(x)||, u' = -sign(f) u, for each
        c of ``ray_fractions``, shape (n, C); NaN where f = 0 or t* = inf.
    """

    spec: NetworkSpec
    path: str
    thetas: tuple[float, ...]
    ray_fractions: tuple[float, ...]
    f: np.ndarray
    grad_norm: np.ndarray
    t_star: np.ndarray
    zero_output: np.ndarray
    flips: np.ndarray
    jump2: np.ndarray
    lin2: np.ndarray
    ratio: np.ndarray
    ray_ratio: np.ndarray

    def to_frame(self) -> pd.DataFrame:
        """One row per network; per-perturbation columns ``flips_j``, ``jump2_j``, ``lin2_j``,
        ``ratio_j`` for ``thetas[j]``, per-fraction ``ray_ratio_j`` for ``ray_fractions[j]``."""
        cols = {"network": np.arange(len(self.f)), "f": self.f, "grad_norm": self.grad_norm,
                "t_star": self.t_star, "zero_output": self.zero_output}  # fmt: skip
        for j in range(len(self.thetas)):
            for name in ("flips", "jump2", "lin2", "ratio"):
                cols[f"{name}_{j}"] = getattr(self, name)[:, j]
        for j in range(len(self.ray_fractions)):
            cols[f"ray_ratio_{j}"] = self.ray_ratio[:, j]
        frame = pd.DataFrame(cols)
        frame.attrs.update(thetas=list(self.thetas), ray_fractions=list(self.ray_fractions),
                           path=self.path)  # fmt: skip
        return frame


def sample_perturbation_statistics(
    spec: NetworkSpec,
    n: int,
    rng: np.random.Generator,
    *,
    thetas,
    ray_fractions=(),
    path: str = "exact",
) -> PerturbationStatistics:
    """Draw n networks at initialisation with one input x each, P = len(thetas) random
    perturbations x'_j = cos(theta_j) x + sin(theta_j) ||x|| v_j (v_j iid uniform on the unit
    sphere orthogonal to x) and the attack ray at t = c t*; return their statistics.

    Parameters
    ----------
    spec : the network (``exact`` needs relu, ``output_weights="sign"``, no biases); d >= 2.
    n : number of independent (network, input) pairs.
    rng : the generator (from :func:`theorycheck.seeding.generator`).
    thetas : angles theta_j in [0, pi] between x and x'_j (||x'_j|| = ||x||).
    ray_fractions : fractions c >= 0 of t* along the attack ray.
    path : ``exact`` (d-free, O(m (P + C)) per network), ``numba`` or ``reference``
        (materialised W through :func:`~theorycheck.forward.output_and_gradient`,
        :func:`~theorycheck.forward.gradient_difference`,
        :func:`~theorycheck.attack.first_sign_flip`).

    References
    ----------
    docs/derivations/exact_sampler.md Sec. 7; F5 of docs/derivations/single_step_laws.md;
    Bubeck et al. (2021) eq. (4) (gradient stability).
    """
    check_path(path, PERTURB_PATHS, what="sample_perturbation_statistics")
    n = check_int("n", n)
    thetas = tuple(check_real("thetas", t, low=0.0, high=math.pi)
                   for t in np.atleast_1d(thetas).tolist())  # fmt: skip
    fractions = tuple(check_real("ray_fractions", c, low=0.0)
                      for c in np.atleast_1d(ray_fractions).tolist())  # fmt: skip
    if not thetas:
        raise UserInputError("thetas must hold at least one angle")
    if spec.d < 2:
        raise UserInputError(f"random perturbations orthogonal to x need d >= 2; got d = {spec.d}")
    P, C = len(thetas), len(fractions)
    per_block = min(n, _networks_per_block(spec.m, P))
    draws = per_block * spec.m * (8 + 3 * P + C) if path == "exact" else 0
    check_allocation(f"n = {n} networks of m = {spec.m} neurons",
                     8.0 * (n * (4 + 4 * P + C) + draws), hint="lower n or m")  # fmt: skip
    if path == "exact":
        if not exact_supported(spec):
            raise UserInputError(
                "path='exact' covers relu networks with output_weights='sign' and no biases; "
                f"got activation={spec.activation!r}, output_weights={spec.output_weights!r}, "
                f"biases={spec.biases}: use path='numba'"
            )
        out = _sample_exact(spec, n, rng, thetas, fractions)
    else:
        out = _sample_materialized(spec, n, rng, thetas, fractions, path)
    res = PerturbationStatistics(spec, path, thetas, fractions, *out)
    for name in ("f", "grad_norm", "jump2", "lin2"):
        check_finite(name, getattr(res, name))
    return res


# --------------------------------------------------------------------------- materialised paths


def _sample_materialized(spec, n, rng, thetas, fractions, path):
    """init-gradient-stability's measurement, one materialised network per replicate."""
    P, C = len(thetas), len(fractions)
    radius = input_radius(spec)
    th = np.asarray(thetas, dtype=float)
    f, gnorm, tstar = np.empty(n), np.empty(n), np.empty(n)
    zero = np.zeros(n, dtype=bool)
    flips = np.empty((n, P), dtype=np.int64)
    jump2, lin2, ratio = np.empty((n, P)), np.empty((n, P)), np.empty((n, P))
    ray = np.full((n, C), np.nan)
    for i in range(n):
        net = sample_network(spec, rng)
        x = sample_inputs(spec, 1, rng)[0]
        # v uniform on the unit sphere orthogonal to x.
        V = rng.standard_normal((P, spec.d))
        V -= np.outer(V @ x, x) / radius**2
        V /= np.linalg.norm(V, axis=1, keepdims=True)
        Xp = np.cos(th)[:, None] * x + np.sin(th)[:, None] * radius * V
        # One kernel call per quantity and replicate (x and the perturbed points together).
        fw = output_and_gradient(net, np.vstack([x, Xp]), path=path)
        f[i], grad, gnorm[i], fp = float(fw.f[0]), fw.grad[0], float(fw.grad_norm[0]), fw.f[1:]
        zero[i] = f[i] == 0.0
        deltas = Xp - x
        ss = first_sign_flip(net, x[None, :], path=path)
        tstar[i] = float(ss.t_star[0])
        on_ray = math.isfinite(tstar[i]) and not ss.zero_output[0]
        if on_ray and C:
            u = -math.copysign(1.0, f[i]) * grad / gnorm[i]
            deltas = np.vstack([deltas, np.asarray(fractions)[:, None] * tstar[i] * u])
        jumps = gradient_difference(net, np.broadcast_to(x, deltas.shape), deltas, path=path)
        # Matrix-vector products, one point at a time: a small gemm pays BLAS threading costs
        # that dominate at this size.
        signs0 = (net.W @ x + net.b) > 0
        for j, xp in enumerate(Xp):
            flips[i, j] = np.count_nonzero(((net.W @ xp + net.b) > 0) != signs0)
            jump2[i, j] = jumps[j] ** 2
            lin2[i, j] = (fp[j] - f[i] - deltas[j] @ grad) ** 2
            ratio[i, j] = jumps[j] / gnorm[i]
        if on_ray and C:
            ray[i] = jumps[P:] / gnorm[i]
    return f, gnorm, tstar, zero, flips, jump2, lin2, ratio, ray


# --------------------------------------------------------------------------- the exact path


def _sample_exact(spec, n, rng, thetas, fractions):
    d, m = spec.d, spec.m
    rho = input_radius(spec)  # wang units inside: ||x|| = 1
    P, C = len(thetas), len(fractions)
    out = [np.empty(n), np.empty(n), np.empty(n), np.zeros(n, dtype=bool),
           np.empty((n, P), dtype=np.int64), np.empty((n, P)), np.empty((n, P)),
           np.empty((n, P)), np.full((n, C), np.nan)]  # fmt: skip
    per_block = _networks_per_block(m, P)
    for lo in range(0, n, per_block):
        hi = min(n, lo + per_block)
        block = _exact_block(rng, hi - lo, m, d, np.asarray(thetas), np.asarray(fractions))
        for arr, val in zip(out, block, strict=True):
            arr[lo:hi] = val
    f, gnorm, tstar, zero, flips, jump2, lin2, ratio, ray = out
    # Back to the spec's units: grad f_bubeck = grad f_wang / sqrt(d), distances times ||x||;
    # f, flips, the linearisation error and the ratios are scale-free.
    return f, gnorm / rho, tstar * rho, zero, flips, jump2 / rho**2, lin2, ratio, ray


def _networks_per_block(m: int, P: int) -> int:
    """Networks per block of draws (about BLOCK_NEURONS neurons x (2 + P) numbers); depends on
    (m, P) only, so results depend only on the seed."""
    return max(1, BLOCK_NEURONS // (m * (2 + P)))


def _direction_coordinates(rng, nb, P, d):
    """Coordinates (nb, P, k) of P iid uniform unit vectors of R^(d-1) in an orthonormal basis of
    their span, k = min(P, d - 1) (Sec. 7.1: the Bartlett factor of their Gaussian Gram)."""
    if d - 1 >= P:
        B = np.tril(rng.standard_normal((nb, P, P)), -1)
        idx = np.arange(P)
        B[:, idx, idx] = np.sqrt(rng.chisquare(d - 1 - idx, size=(nb, P)))
    else:
        B = rng.standard_normal((nb, P, d - 1))
    return B / np.linalg.norm(B, axis=2, keepdims=True)


def _exact_block(rng, nb, m, d, thetas, fractions):
    """nb networks of the exact sampler (wang units). Draw order per block: directions, a, g, h,
    chi2_{d-1-k}, eta (:func:`_draw_block`), then the complement Wishart."""
    draws = _draw_block(rng, nb, m, d, len(thetas))
    return _run_block(draws, d, thetas, fractions,
                      lambda gram, dof: _complement_sq_norms(gram, dof, rng))  # fmt: skip


def _draw_block(rng, nb, m, d, P):
    """The scalars of Sec. 7.2-7.3 for nb networks: b (nb, P, k), a, g (nb, m), h (nb, m, k),
    chi2_{d-1-k} (nb,), eta (nb, m)."""
    vc = _direction_coordinates(rng, nb, P, d)  # (nb, P, k)
    k = vc.shape[2]
    a = (rng.integers(0, 2, size=(nb, m)) * 2 - 1).astype(np.float64)
    g = rng.standard_normal((nb, m))
    h = rng.standard_normal((nb, m, k))
    d1 = d - 1 - k  # the complement of span{x, e_1..e_k}
    chi = rng.chisquare(d1, size=nb) if d1 > 0 else np.zeros(nb)
    eta = rng.standard_normal((nb, m))
    return vc, a, g, h, chi, eta


def _run_block(draws, d, thetas, fractions, complement):
    """Every statistic of Sec. 7 from the scalars of :func:`_draw_block`; ``complement(gram,
    dof)`` returns the squared norms of the complement parts (nb, T) (a Wishart draw in the
    sampler; the diagonal of ``gram`` in the lift test, whose complement basis is explicit)."""
    vc, a, g, h, chi, eta = draws
    nb, m = g.shape
    P, C = len(thetas), len(fractions)
    k = vc.shape[2]
    d1 = d - 1 - k
    sq_m = math.sqrt(m)
    act = g > 0.0
    aA = a * act
    N = act.sum(axis=1)
    f = (aA * g).sum(axis=1) / sq_m
    gh = np.einsum("nm,nmk->nk", aA, h)  # sqrt(m) x the e_i components of grad f
    qnorm = np.sqrt(N * chi)  # ||sum_A a_s r_s||
    grad2 = (f**2 * m + (gh**2).sum(axis=1) + qnorm**2) / m
    gnorm = np.sqrt(grad2)
    # Components along e = sum_A a r / ||.||, conditioned as in theorycheck.exact (Sec. 2).
    Nsafe = np.maximum(N, 1)
    eta_bar = (eta * act).sum(axis=1) / Nsafe
    y = np.where(act, a * (qnorm / Nsafe)[:, None] + a * (eta - eta_bar[:, None]), eta)
    if d1 == 0:
        y = np.zeros_like(y)
    # Perturbed pre-activations z1_j = cos(theta_j) g + sin(theta_j) <h, v_j>.
    proj = np.einsum("nmk,npk->npm", h, vc)
    z1 = np.cos(thetas)[None, :, None] * g[:, None, :] + np.sin(thetas)[None, :, None] * proj
    act1 = z1 > 0.0
    flips = (act1 != act[:, None, :]).sum(axis=2).astype(np.int64)
    # Coefficients of the P + C gradient differences: c_s = a_s (1{z'_s > 0} - 1{z_s > 0}).
    coef = np.empty((nb, P + C, m))
    coef[:, :P] = a[:, None, :] * (act1.astype(float) - act[:, None, :])
    # Linearisation error: relu(z1) - relu(z0) - 1{z0 > 0} (z1 - z0) = (1{z1 > 0} - 1{z0 > 0}) z1,
    # so it is exactly 0 when no neuron flips.
    lin = (coef[:, :P] * z1).sum(axis=2) / sq_m
    tstar = np.zeros(nb)
    zero = f == 0.0
    on_ray = np.zeros(nb, dtype=bool)
    coef[:, P:] = 0.0
    for i in range(nb):
        if zero[i]:
            continue
        sgn = 1.0 if f[i] > 0.0 else -1.0
        # <w_s, grad f> sqrt(m) = g_s f sqrt(m) + <h_s, gh> + y_s ||q||; the r' parts of grad f
        # vanish (centred on A).
        v = -sgn * (g[i] * f[i] * sq_m + h[i] @ gh[i] + y[i] * qnorm[i]) / (sq_m * gnorm[i])
        tstar[i] = _tstar_pwl_numba(g[i], v, a[i], 0.0, sgn)
        if math.isfinite(tstar[i]) and C:
            on_ray[i] = True
            zt = g[i][None, :] + (fractions * tstar[i])[:, None] * v[None, :]
            coef[i, P:] = a[i] * ((zt > 0.0).astype(float) - act[i][None, :])
    # In-plane components of each difference (times sqrt(m)): along x, the e_i and e.
    dx = np.einsum("ntm,nm->nt", coef, g)
    dh = np.einsum("ntm,nmk->ntk", coef, h)
    de = np.einsum("ntm,nm->nt", coef, y)
    # The complement (d - 2 - k dimensions): Gram of the centred coefficient vectors (Sec. 2-3).
    b = np.einsum("ntm,nm->nt", coef, aA)  # sum_A a_s c_s
    gram = (
        np.einsum("ntm,num->ntu", coef, coef)
        - b[:, :, None] * b[:, None, :] / Nsafe[:, None, None] * (N > 0)[:, None, None]
    )
    q = complement(gram, d1 - 1) if d1 > 1 else np.zeros((nb, P + C))
    # A zero diagonal entry is a complement part that is exactly 0 (no flip, or all of A
    # switched off); the eigendecomposition would leave rounding there.
    q = np.where(np.diagonal(gram, axis1=1, axis2=2) > 0.0, q, 0.0)
    diff2 = (dx**2 + (dh**2).sum(axis=2) + de**2 + q) / m
    with np.errstate(divide="ignore", invalid="ignore"):
        rat = np.sqrt(diff2) / gnorm[:, None]
    ray = np.where(on_ray[:, None], rat[:, P:], np.nan)
    return f, gnorm, tstar, zero, flips, diff2[:, :P], lin**2, rat[:, :P], ray
