"""The exact path: d-free sampling of everything the single-step attack needs at initialisation.

docs/theory.md Sec. 4 and 4.1 [derived]; derivation and checks in docs/derivations/exact_sampler.md.

Setting: relu, output weights a_s = +-1, no biases, a network at initialisation and one input x
(``wang``: w_s ~ N(0, I_d), ||x|| = 1; ``bubeck`` by the scaling equivalence of docs/theory.md Sec.
1).
By rotation invariance take x = e_1 and split every row as w_s = z_s x + y_s e + r_s, with e the
unit direction of the part of grad f orthogonal to x and r_s in the remaining d - 2 dimensions.
Exactly in law (docs/derivations/exact_sampler.md, Sec. 1-3):

* z_s ~ N(0, 1) iid, a_s = +-1 iid, A = {s : z_s > 0}, N = |A|, f = m^{-1/2} sum_A a_s z_s;
* V = sum_A a_s P w_s has ||V||^2 = N chi2_{d-1}, independent of (a, z); grad f = f x + V/sqrt(m);
* y_s = <P w_s, V/||V||> is g_s (s not in A) and a_s (||V||/N + g_s - mean_A g) (s in A), with
  g iid N(0, 1);
* the remaining parts are r_s = xi_s (s not in A), a_s (xi_s - mean_A xi) (s in A), xi_s iid
  N(0, I_{d-2}), independent of everything above. A sum sum_s c_s r_s is therefore N(0, q I_{d-2})
  with q = sum_s c_s^2 - (sum_A a_s c_s)^2 / N, and several such sums are jointly Gaussian with the
  Gram matrix of their coefficient vectors (sampled with Bartlett's decomposition of a Wishart
  matrix: O(T^3) per network for T of them, whatever d is).

Every quantity below is then a function of O(m) scalars: f, ||grad f||, s_lin, |S_R|, the
worst-output sup/inf over the lazy ball (it depends on z only), t* by the exact breakpoint walk of
:mod:`theorycheck.attack` on z_s(t) = z_s - sign(f) t <w_s, u>, <w_s, u> = (z_s f + y_s ||V|| /
sqrt(m)) / ||grad f||, and the gradient difference ||grad f(x(t)) - grad f(x)|| at given distances t
along the attack ray. The cost is O(m) per network plus the breakpoint walk, whatever d is.

:func:`sample_init_statistics` is the one entry point. With ``path="exact"`` it uses the sampler
above; with ``path="numba"`` or ``"reference"`` it draws materialised networks and calls the public
estimators (:func:`~theorycheck.attack.first_sign_flip`, :func:`~theorycheck.lazy_ball.
flippable_neurons`, :func:`~theorycheck.lazy_ball.worst_output`,
:func:`~theorycheck.forward.gradient_difference`), so the paths return the same quantities with
the same law and the tests compare them in distribution.

Each row is an independent (network, input) pair: the exact path samples the marginal law of one
input per network. It does not give the joint law of several inputs of one network.
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
    check_finite,
    check_int,
    check_real,
)
from theorycheck.forward import gradient_difference, output_and_gradient
from theorycheck.lazy_ball import flippable_neurons, worst_output
from theorycheck.network import NetworkSpec, input_radius, sample_inputs, sample_network
from theorycheck.paths import check_path

__all__ = ["SAMPLER_PATHS", "InitStatistics", "exact_supported", "sample_init_statistics"]

#: Paths offered by :func:`sample_init_statistics`.
SAMPLER_PATHS = ("exact", "numba", "reference")

#: The exact path draws its random numbers in blocks of about this many neurons (several networks
#: per block when m is small), so memory stays bounded when n * m is large. The block layout depends
#: only on (n, m), so results depend only on the seed, never on the thread count.
BLOCK_NEURONS = 2**20


def exact_supported(spec: NetworkSpec) -> bool:
    """Whether the exact path covers ``spec``: relu, a = +-1, no biases (docs/theory.md Sec. 4)."""
    return spec.activation == "relu" and spec.output_weights == "sign" and not spec.biases


class AttackRatios:
    """s_lin and eta* from the fields f, grad_norm, t_star, zero_output of a statistics class."""

    f: np.ndarray
    grad_norm: np.ndarray
    t_star: np.ndarray
    zero_output: np.ndarray

    @property
    def s_lin(self) -> np.ndarray:
        """Linear prediction |f| / ||grad f|| of the flip distance (0 where f = 0)."""
        return np.abs(self.f) / np.where(self.zero_output, 1.0, self.grad_norm)

    @property
    def eta_star(self) -> np.ndarray:
        """|eta*| = t* / ||grad f|| (0 where f = 0)."""
        return self.t_star / np.where(self.zero_output, 1.0, self.grad_norm)


@dataclass(frozen=True)
class InitStatistics(AttackRatios):
    """Per-network statistics at initialisation, one input per network, in the spec's own units.

    f, grad_norm : f(x) and ||grad_x f(x)||, shape (n,).
    t_star : distance along the single-step attack ray to the first sign flip (+inf if none).
    zero_output : f(x) == 0 (no attack direction; t_star, s_lin and grad_diff set to 0).
    flippable : |S_R(x)| for each radius of ``radii``, shape (n, len(radii)), int64.
    worst_sup, worst_inf : sup and inf of f(x; W) over the lazy ball of each radius,
        shape (n, len(radii)).
    grad_diff : ||grad f(x - sign(f) t u) - grad f(x)|| for each t of ``ray_distances``,
        shape (n, len(ray_distances)).
    f_step : f(x - sign(f) t u) at the end point of each step of ``steps``, t = alpha
        ||grad f(x)||^power, shape (n, len(steps)) (f(x) = 0 where there is no direction).
    """

    spec: NetworkSpec
    path: str
    radii: tuple[float, ...]
    ray_distances: tuple[float, ...]
    steps: tuple[tuple[float, float], ...]
    f: np.ndarray
    grad_norm: np.ndarray
    t_star: np.ndarray
    zero_output: np.ndarray
    flippable: np.ndarray
    worst_sup: np.ndarray
    worst_inf: np.ndarray
    grad_diff: np.ndarray
    f_step: np.ndarray

    def to_frame(self) -> pd.DataFrame:
        """One row per network. Per-radius columns are ``flippable_j``, ``worst_sup_j``,
        ``worst_inf_j`` for ``radii[j]``; per-distance columns ``grad_diff_j`` for
        ``ray_distances[j]`` (both kept in ``frame.attrs``)."""
        cols = {
            "network": np.arange(len(self.f)),
            "f": self.f,
            "grad_norm": self.grad_norm,
            "s_lin": self.s_lin,
            "t_star": self.t_star,
            "eta_star": self.eta_star,
            "zero_output": self.zero_output,
        }
        for j in range(len(self.radii)):
            cols[f"flippable_{j}"] = self.flippable[:, j]
            cols[f"worst_sup_{j}"] = self.worst_sup[:, j]
            cols[f"worst_inf_{j}"] = self.worst_inf[:, j]
        for j in range(len(self.ray_distances)):
            cols[f"grad_diff_{j}"] = self.grad_diff[:, j]
        for j in range(len(self.steps)):
            cols[f"f_step_{j}"] = self.f_step[:, j]
        frame = pd.DataFrame(cols)
        frame.attrs.update(radii=list(self.radii), ray_distances=list(self.ray_distances),
                           steps=[list(st) for st in self.steps], path=self.path)  # fmt: skip
        return frame


def sample_init_statistics(
    spec: NetworkSpec,
    n: int,
    rng: np.random.Generator,
    *,
    radii=(),
    ray_distances=(),
    steps=(),
    path: str = "exact",
) -> InitStatistics:
    """Draw n networks at initialisation with one input each and return their statistics.

    Parameters
    ----------
    spec : the network (``exact`` needs relu, ``output_weights="sign"``, no biases).
    n : number of independent (network, input) pairs.
    rng : the generator (from :func:`theorycheck.seeding.generator`).
    radii : lazy-ball radii R in the spec's units (R = C0 / sqrt(m) in ``wang``, see
        :func:`theorycheck.lazy_ball.lazy_radius`) for |S_R| and the worst-output sup/inf.
    ray_distances : distances t >= 0 along the attack ray, in the spec's input units, at which
        the gradient difference is measured.
    steps : pairs (alpha, power): single steps of length t = alpha ||grad f(x)||^power along the
        attack ray (spec units), at whose end points f is evaluated (``f_step``). A step
        delta = eta grad f has alpha = |eta|, power = 1; a fixed ||delta|| = s has (s, 0); the
        prescribed step |eta| = c ||grad f||^-2 of Bubeck et al. has (c, -1).
    path : ``exact`` (d-free sampler, O(m) per network), ``numba`` or ``reference`` (materialised
        W through the public estimators).

    References
    ----------
    docs/theory.md Sec. 4.1; docs/derivations/exact_sampler.md. Wang et al. (2022) Lemma 4.3
    (|S_R|), Theorem 3.1 (single step); Bubeck et al. (2021) Theorem 1.
    """
    check_path(path, SAMPLER_PATHS, what="sample_init_statistics")
    n = check_int("n", n)
    radii = tuple(check_real("radii", R, low=0.0) for R in np.atleast_1d(radii).tolist())
    ray_distances = tuple(
        check_real("ray_distances", t, low=0.0) for t in np.atleast_1d(ray_distances).tolist()
    )
    steps = tuple(
        (check_real("steps alpha", float(al), low=0.0), check_real("steps power", float(pw)))
        for al, pw in (steps or ())
    )
    k, T, K = len(radii), len(ray_distances), len(steps)
    # Results (n rows) plus, on the exact path, one block of draws (a, z, g of per-block
    # networks x m neurons and the kernel's two m-vectors); a materialised W is checked by
    # sample_network.
    per_block = min(n, max(1, BLOCK_NEURONS // spec.m))
    draws = 3 * per_block * spec.m + 2 * spec.m + per_block * T * (T + 2) if path == "exact" else 0
    check_allocation(f"n = {n} networks of m = {spec.m} neurons",
                     8.0 * (n * (4 + 3 * k + T + K) + draws), hint="lower n or m")  # fmt: skip
    if path == "exact":
        if not exact_supported(spec):
            raise UserInputError(
                "path='exact' covers relu networks with output_weights='sign' and no biases; "
                f"got activation={spec.activation!r}, output_weights={spec.output_weights!r}, "
                f"biases={spec.biases}: use path='numba'"
            )
        out = _sample_exact(spec, n, rng, radii, ray_distances, steps)
    else:
        out = _sample_materialized(spec, n, rng, radii, ray_distances, steps, path)
    res = InitStatistics(spec, path, radii, ray_distances, steps, *out)
    for name in ("f", "grad_norm", "worst_sup", "worst_inf", "grad_diff", "f_step"):
        check_finite(name, getattr(res, name))
    return res


# --------------------------------------------------------------------------- materialised paths


def _sample_materialized(spec, n, rng, radii, ray_distances, steps, path):
    k, T, K = len(radii), len(ray_distances), len(steps)
    fstep = np.zeros((n, K))
    f, gnorm, tstar = np.empty(n), np.empty(n), np.empty(n)
    zero = np.zeros(n, dtype=bool)
    flips = np.empty((n, k), dtype=np.int64)
    sup, inf = np.empty((n, k)), np.empty((n, k))
    gdiff = np.zeros((n, T))
    for i in range(n):
        net = sample_network(spec, rng)
        x = sample_inputs(spec, 1, rng)
        step = first_sign_flip(net, x, path=path)
        f[i], gnorm[i], tstar[i], zero[i] = step.f[0], step.grad_norm[0], step.t_star[0], \
            step.zero_output[0]  # fmt: skip
        for j, R in enumerate(radii):
            flips[i, j] = flippable_neurons(net, x, R, path=path)[0]
            wo = worst_output(net, x, R, path=path)
            sup[i, j], inf[i, j] = wo.sup[0], wo.inf[0]
        if (T or K) and not zero[i]:
            grad = output_and_gradient(net, x, path=path).grad[0]
            u = grad / np.linalg.norm(grad)
        if T and not zero[i]:
            deltas = -np.sign(f[i]) * np.asarray(ray_distances)[:, None] * u
            gdiff[i] = gradient_difference(net, np.repeat(x, T, axis=0), deltas, path=path)
        if K and not zero[i]:
            t = np.array([al * gnorm[i] ** pw for al, pw in steps])
            fstep[i] = output_and_gradient(net, x - np.sign(f[i]) * t[:, None] * u, path=path).f
    return f, gnorm, tstar, zero, flips, sup, inf, gdiff, fstep


# --------------------------------------------------------------------------- the exact path


def _sample_exact(spec, n, rng, radii, ray_distances, steps):
    d, m = spec.d, spec.m
    rho = input_radius(spec)  # ||x||; the kernel works in wang units (||x|| = 1)
    # |S_R| and the ball depend on R ||x|| only (docs/theory.md F6; lazy_ball module docstring).
    r = np.asarray(radii, dtype=np.float64) * rho
    t_ray = np.asarray(ray_distances, dtype=np.float64) / rho  # wang units: t_wang = t / ||x||
    k, T, K = len(radii), len(ray_distances), len(steps)
    # Steps t = alpha g^p in spec units are t_w = alpha rho^(-p-1) g_w^p in wang units
    # (t = rho t_w, g = g_w / rho).
    st_alpha = np.array([al * rho ** (-pw - 1.0) for al, pw in steps], dtype=np.float64)
    st_power = np.array([pw for _, pw in steps], dtype=np.float64)
    f, gnorm, tstar = np.empty(n), np.empty(n), np.empty(n)
    zero = np.zeros(n, dtype=bool)
    flips = np.empty((n, k), dtype=np.int64)
    sup, inf = np.empty((n, k)), np.empty((n, k))
    gdiff = np.zeros((n, T))
    fstep = np.zeros((n, K))
    per_block = max(1, BLOCK_NEURONS // m)
    for lo in range(0, n, per_block):
        hi = min(n, lo + per_block)
        a, z, g, chi = _draw_block(rng, hi - lo, m, d)
        dx, de, gram = np.empty((hi - lo, T)), np.empty((hi - lo, T)), np.empty((hi - lo, T, T))
        _exact_kernel(a, z, g, chi, d, r, t_ray, st_alpha, st_power, f[lo:hi], gnorm[lo:hi],
                      tstar[lo:hi], zero[lo:hi], flips[lo:hi], sup[lo:hi], inf[lo:hi], dx, de,
                      gram, fstep[lo:hi])  # fmt: skip
        if T:
            q = _complement_sq_norms(gram, d - 2, rng)
            gdiff[lo:hi] = np.sqrt((dx**2 + de**2 + q) / m)
    # Back to the spec's units: grad f_bubeck = grad f_wang / sqrt(d), distances times ||x||.
    return f, gnorm / rho, tstar * rho, zero, flips, sup, inf, gdiff / rho, fstep


def _draw_block(rng, nb, m, d):
    """The random numbers of nb networks, in a fixed order: a, z, g (nb, m), chi2_{d-1} (nb,)."""
    a = rng.integers(0, 2, size=(nb, m), dtype=np.int8) * np.int8(2) - np.int8(1)
    z = rng.standard_normal((nb, m))
    g = rng.standard_normal((nb, m))
    chi = rng.chisquare(d - 1, size=nb) if d > 1 else np.zeros(nb)
    return a, z, g, chi


def _complement_sq_norms(gram, k, rng):
    """diag(L B B^T L^T) with L L^T = gram (nb, T, T) and B B^T ~ Wishart_T(I, k).

    The parts of the T gradient differences in the (d-2)-dimensional complement of span{x, e} are
    rows of L G with G a T x k standard normal matrix, so their squared norms are the diagonal of
    L (G G^T) L^T. Bartlett's decomposition samples G G^T as B B^T with B lower triangular,
    B_ii^2 ~ chi2_{k-i}, B_ij ~ N(0,1) (i > j) when k >= T; for k < T G itself is small (T x k).
    """
    nb, T, _ = gram.shape
    if k <= 0:
        return np.zeros((nb, T))
    # A symmetric square root of the (PSD, possibly singular) Gram matrix: L = Q diag(sqrt(lam)).
    lam, Q = np.linalg.eigh(gram)
    L = Q * np.sqrt(np.clip(lam, 0.0, None))[:, None, :]
    if k >= T:
        B = np.tril(rng.standard_normal((nb, T, T)), -1)
        idx = np.arange(T)
        B[:, idx, idx] = np.sqrt(rng.chisquare(k - idx, size=(nb, T)))
    else:
        B = rng.standard_normal((nb, T, k))
    LB = L @ B
    return np.einsum("ntk,ntk->nt", LB, LB)


@numba.njit(parallel=True, cache=True)
def _exact_kernel(a, z, g, chi, d, r, t_ray, st_alpha, st_power, f, gnorm, tstar, zero, flips,
                  sup, inf, dx, de, gram, fstep):  # fmt: skip
    # One network per iteration, each written to its own row: thread-count invariant.
    for i in numba.prange(z.shape[0]):
        _exact_network(a[i], z[i], g[i], chi[i], d, r, t_ray, st_alpha, st_power, f, gnorm, tstar,
                       zero, flips, sup, inf, dx, de, gram, fstep, i)  # fmt: skip


@numba.njit(cache=True)
def _exact_network(a, z, g, chi, d, r, t_ray, st_alpha, st_power, f, gnorm, tstar, zero, flips,
                   sup, inf, dx, de, gram, fstep, i):  # fmt: skip
    m = z.shape[0]
    inv_sqrt_m = 1.0 / math.sqrt(m)
    n_act = 0
    fsum = 0.0
    gsum = 0.0
    for s in range(m):
        if z[s] > 0.0:
            n_act += 1
            fsum += a[s] * z[s]
            gsum += g[s]
    fi = fsum * inv_sqrt_m
    vnorm = math.sqrt(n_act * chi) if d > 1 else 0.0
    f[i] = fi
    gnorm[i] = math.sqrt(fi * fi + vnorm * vnorm / m)
    # worst output and |S_R| depend on z only (docs/theory.md Sec. 2 item 2, F6).
    for j in range(r.shape[0]):
        rj = r[j]
        cnt = 0
        hi_sum = 0.0
        lo_sum = 0.0
        for s in range(m):
            if -rj < z[s] <= rj:
                cnt += 1
            up = max(z[s] + rj, 0.0)
            dn = max(z[s] - rj, 0.0)
            if a[s] > 0:
                hi_sum += up
                lo_sum += dn
            else:
                hi_sum -= dn
                lo_sum -= up
        flips[i, j] = cnt
        sup[i, j] = hi_sum * inv_sqrt_m
        inf[i, j] = lo_sum * inv_sqrt_m
    T = t_ray.shape[0]
    for j in range(T):
        dx[i, j] = 0.0
        de[i, j] = 0.0
        for l in range(T):
            gram[i, j, l] = 0.0
    zero[i] = fi == 0.0
    for j in range(st_alpha.shape[0]):
        fstep[i, j] = 0.0
    if zero[i]:
        tstar[i] = 0.0
        return
    sgn = 1.0 if fi > 0.0 else -1.0
    gbar = gsum / n_act
    y = np.empty(m)
    v = np.empty(m)
    for s in range(m):
        if d == 1:
            y[s] = 0.0  # no direction orthogonal to x
        elif z[s] > 0.0:
            y[s] = a[s] * (vnorm / n_act + g[s] - gbar)
        else:
            y[s] = g[s]
        # ray: z_s(t) = z_s + t v_s, v_s = -sign(f) <w_s, u>
        v[s] = -sgn * (z[s] * fi + y[s] * vnorm * inv_sqrt_m) / gnorm[i]
    if d == 1:
        # x(t) = (1 - t) x: f(x(t)) = (1 - t) f(x) by positive homogeneity, so t* = ||x|| = 1
        # exactly; the breakpoint walk would meet m coincident breakpoints and a rounding tie.
        tstar[i] = 1.0
    else:
        tstar[i] = _tstar_pwl_numba(z, v, a, 0.0, sgn)
    # End points of the single steps: f(x(t)) = m^-1/2 sum_s a_s relu(z_s + t v_s).
    for j in range(st_alpha.shape[0]):
        t = st_alpha[j] * gnorm[i] ** st_power[j]
        acc = 0.0
        for s in range(m):
            acc += a[s] * max(z[s] + t * v[s], 0.0)
        fstep[i, j] = acc * inv_sqrt_m
    if T == 0:
        return
    # Gradient differences at ray distances t_j: c_s(t) = a_s (1{z_s(t) > 0} - 1{z_s > 0}).
    c = np.zeros(T)
    ca = np.zeros(T)  # sum_A a_s c_s(t)
    for s in range(m):
        nz = 0
        for j in range(T):
            c[j] = a[s] * ((1.0 if z[s] + t_ray[j] * v[s] > 0.0 else 0.0)
                           - (1.0 if z[s] > 0.0 else 0.0))  # fmt: skip
            if c[j] != 0.0:
                nz += 1
        if nz == 0:
            continue
        for j in range(T):
            dx[i, j] += c[j] * z[s]
            de[i, j] += c[j] * y[s]
            if z[s] > 0.0:
                ca[j] += a[s] * c[j]
            for l in range(T):
                gram[i, j, l] += c[j] * c[l]
    for j in range(T):
        for l in range(T):
            gram[i, j, l] -= ca[j] * ca[l] / n_act


def _exact_network_reference(a, z, g, chi, d, r, t_ray, st_alpha=(), st_power=()):
    """Readable NumPy twin of :func:`_exact_network` for one network (wang units).

    Returns f, ||grad f||, t*, zero, |S_R| (k,), sup (k,), inf (k,), the pieces of the
    gradient differences: the components along x and e (T,) and the complement Gram matrix
    (T, T), and f at the end points of the steps t = st_alpha ||grad f||^st_power (K,).
    """
    m = len(z)
    a = a.astype(np.float64)
    active = z > 0
    N = int(active.sum())
    f = float(np.sum(a[active] * z[active])) / math.sqrt(m)
    vnorm = math.sqrt(N * chi) if d > 1 else 0.0
    gnorm = math.sqrt(f**2 + vnorm**2 / m)
    R = np.asarray(r)[:, None]
    flips = np.count_nonzero((-R < z) & (z <= R), axis=1)
    up, dn = np.maximum(z + R, 0.0), np.maximum(z - R, 0.0)
    sup = np.where(a > 0, up, -dn).sum(axis=1) / math.sqrt(m)
    inf = np.where(a > 0, dn, -up).sum(axis=1) / math.sqrt(m)
    T = len(t_ray)
    K = len(st_alpha)
    if f == 0.0:
        return (f, gnorm, 0.0, True, flips, sup, inf, np.zeros(T), np.zeros(T), np.zeros((T, T)),
                np.zeros(K))  # fmt: skip
    sgn = math.copysign(1.0, f)
    if d == 1:
        y = np.zeros(m)
    else:
        y = np.where(active, a * (vnorm / N + g - g[active].mean()), g)
    v = -sgn * (z * f + y * vnorm / math.sqrt(m)) / gnorm
    tstar = 1.0 if d == 1 else _tstar_pwl_reference(z, v, a, 0.0, sgn)  # see _exact_network
    C = a * ((z + np.asarray(t_ray)[:, None] * v > 0).astype(float) - active)  # (T, m)
    ca = (C * a)[:, active].sum(axis=1)
    gram = C @ C.T - np.outer(ca, ca) / N
    t_end = np.asarray(st_alpha, float) * gnorm ** np.asarray(st_power, float)
    f_step = np.maximum(z + t_end[:, None] * v, 0.0) @ a / math.sqrt(m)
    return f, gnorm, tstar, False, flips, sup, inf, C @ z, C @ y, gram, f_step
