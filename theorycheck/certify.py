"""Certified bounds for two-layer relu networks: gradients over the lazy ball, flip radii.

f(x; W) = m^{-1/2} sum_s a_s relu(<w_s, x> + b_s) + c, any real a, biases allowed, relu active iff
its pre-activation is > 0 (Wang, Ullah, Mianjy, Arora 2022; docs/derivations/README.md).

* :func:`gradient_norm_lower_bound`: a certified LOWER bound on
  inf_{W in B_{2,inf}(W0, R)} ||grad_x f(x; W)|| (Wang et al. 2022, Lemma 4.2 is a statement about
  this infimum). For every unit v, ||g|| >= <g, v>, and inf_W <g(W), v> separates over neurons,
  each one an exact 2-D problem; v is improved by Gilbert's (Frank-Wolfe) minimum-norm-point
  iteration over the convex hull of the reachable gradients.
* :func:`certified_radius`: a certified LOWER bound on the l2 distance from x to the nearest
  input where sign f changes (or f reaches 0), for a fixed network: no delta with
  ||delta|| <= radius has sign(f(x)) f(x + delta) <= 0. Sound routes: interval remainder,
  CROWN-style linear relaxation, quadratic majorant + trust-region duality (the tight one in the
  lazy regime), and the same with optimised majorants (``quadratic-opt``, opt-in); the largest
  certified radius of the routes run is returned. :func:`robust_error_upper` turns it into an
  UPPER estimate of the robust error (Wang et al. 2022, Corollary 3.2 is a lower-bound claim on
  it).

Derivations and proofs: docs/derivations/certificates.md. Everything is plain NumPy (matrix
products and batched eigendecompositions carry the cost), vectorised over inputs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from theorycheck.errors import UserInputError, check_int, check_real
from theorycheck.forward import as_inputs
from theorycheck.network import Network

__all__ = [
    "CERT_MARGIN",
    "DEFAULT_ROUTES",
    "RADIUS_ROUTES",
    "CertifiedRadius",
    "GradientLowerBound",
    "certified_at",
    "certified_radius",
    "directional_infimum",
    "gradient_norm_lower_bound",
    "robust_error_upper",
]

#: Relative allowance for floating-point rounding (sums of m terms, eigenvalues): every bound is
#: moved by this fraction of its scale in the safe direction. Rounding is ~1e-13 at these sizes.
CERT_MARGIN = 1e-9
#: Routes of :func:`certified_radius` (docs/derivations/certificates.md Sec. 4-6). The last,
#: ``quadratic-opt``, optimises the majorants per input (L-BFGS-B): tighter by a few per cent and
#: ~10x slower, so it is not among the defaults.
RADIUS_ROUTES = ("interval", "crown", "quadratic", "quadratic-opt")
DEFAULT_ROUTES = ("interval", "crown", "quadratic")
#: Curvature floors kappa of the quadratic route: k_s = max(|t_s|, kappa r ||w_s||) (Sec. 6).
QUADRATIC_KAPPAS = (0.1, 0.15)
#: Damped majorant updates of the quadratic route after the kappa grid, and their damping.
QUADRATIC_STEPS = 4
QUADRATIC_DAMPING = 0.2
#: Stop the majorant sequence once it certifies every input of the call (same decisions).
QUADRATIC_EARLY_STOP = True
#: ``quadratic-opt``: L-BFGS-B iterations per radius, bisection steps above the ``quadratic``
#: radius, and the bracket's top as a multiple of that radius.
OPT_ITERATIONS = 100
OPT_BISECTIONS = 6
OPT_BRACKET = 1.25
#: Inputs per batched d x d eigendecomposition (memory: chunk * d^2 doubles).
_EIG_CHUNK_DOUBLES = 2**24


def _check_relu(net: Network, what: str) -> None:
    if net.spec.activation != "relu":
        raise UserInputError(f"{what} is derived for relu networks, got {net.spec.activation}")


# ---------------------------------------------------------------------------------------------
# 1. inf over the lazy ball of ||grad_x f(x; W)||
# ---------------------------------------------------------------------------------------------


def _neuron_infima(net: Network, X: np.ndarray, V: np.ndarray, R: float):
    """Per neuron, the exact inf over ||w_s - w_s0|| <= R of a_s 1[<w_s, x> + b_s > 0] <w_s, v>.

    Sec. 2 of the derivation. Returns, each (n, m) unless noted: ``values`` (the infima),
    ``on`` (the infimum is reached, in the closure, with the neuron active), ``free`` (case A: the
    minimiser is w_s0 - R sign(a_s) v), ``kc`` and ``rho`` (case B: the minimiser is
    w_s0 + kc xh - rho sign(a_s) Pv/||Pv||), and per input (n,) ``vx`` = <v, xh>, ``pv`` = ||Pv||.
    """
    a = net.a
    xn = np.linalg.norm(X, axis=1)
    xh = X / xn[:, None]
    t0 = X @ net.W.T + net.b  # (n, m)
    r = R * xn[:, None]
    can_off = t0 - r <= 0.0
    can_on = t0 + r > 0.0
    kappa = -t0 / xn[:, None]  # active iff <delta, xh> > kappa
    vx = np.einsum("ij,ij->i", V, xh)  # <v, xh>
    pv = np.linalg.norm(V - vx[:, None] * xh, axis=1)  # ||P v|| (sqrt(1 - vx^2) cancels)
    sa = np.sign(a)
    base = (V @ net.W.T) * a  # a_s <w_s0, v>
    # Case A: the unconstrained minimiser -R sign(a_s) v lies in the active half-space.
    free = -R * sa * vx[:, None] >= kappa
    val_free = base - R * np.abs(a)
    # Case B: the minimiser sits on the hyperplane <delta, xh> = kappa (then kappa in [-R, R)).
    kc = np.clip(kappa, -R, R)
    rho = np.sqrt(np.maximum(R**2 - kc**2, 0.0))
    val_plane = base + a * kc * vx[:, None] - np.abs(a) * rho * pv[:, None]
    val_on = np.where(free, val_free, val_plane)
    on = can_on & (~can_off | (val_on < 0.0))
    values = np.where(on, val_on, 0.0)
    return values, on, free, kc, rho, vx, pv


def directional_infimum(net: Network, X, V, R: float) -> np.ndarray:
    """inf_{W in B_{2,inf}(W0, R)} <grad_x f(x; W), v> for each row x of X and unit row v of V.

    Exact (the infimum, not a bound): the objective is m^{-1/2} sum_s a_s 1[t_s > 0] <w_s, v>,
    each term depends on w_s only and the ball is a product of per-row balls, so the infimum is
    the sum of per-neuron infima, each a linear minimisation over a ball cut by a half-space
    (docs/derivations/certificates.md Sec. 2). Any value > 0 is a certified lower bound on
    inf_W ||grad f(x; W)|| (||g|| >= <g, v>). Returned without rounding margin.
    """
    _check_relu(net, "directional_infimum")
    X = as_inputs(net, X)
    V = np.asarray(V, dtype=np.float64).reshape(X.shape)
    nv = np.linalg.norm(V, axis=1)
    if np.any(np.abs(nv - 1.0) > 1e-9):
        raise UserInputError("V must have unit rows")
    R = check_real("R", R, low=0.0)
    values = _neuron_infima(net, X, V, R)[0]
    return values.sum(axis=1) / math.sqrt(net.spec.m)


def _minimising_gradient(net: Network, X, V, R):
    """The directional infimum L(v) and the gradient g(W*(v)) attaining it (the hull oracle)."""
    values, on, free, kc, rho, vx, pv = _neuron_infima(net, X, V, R)
    sm = 1.0 / math.sqrt(net.spec.m)
    a = net.a
    xh = X / np.linalg.norm(X, axis=1)[:, None]
    coef = a * on  # (n, m)
    g = sm * coef @ net.W
    # Deviations: free rows move by -R sign(a) v; plane rows by kc xh - rho sign(a) Pv/||Pv||.
    sa = np.sign(a)
    c_v = np.where(free, -R * sa, 0.0)
    c_x = np.where(free, 0.0, kc)
    c_p = np.where(free, 0.0, -rho * sa)
    P_v = V - vx[:, None] * xh
    e = np.where(pv[:, None] > 0.0, P_v / np.where(pv > 0.0, pv, 1.0)[:, None], 0.0)
    g += sm * (
        (coef * c_v).sum(axis=1)[:, None] * V
        + (coef * c_x).sum(axis=1)[:, None] * xh
        + (coef * c_p).sum(axis=1)[:, None] * e
    )
    return sm * values.sum(axis=1), g


@dataclass(frozen=True)
class GradientLowerBound:
    """Certified lower bound on inf over B_{2,inf}(W0, R) of ||grad_x f(x; W)||, per input.

    lower_bound : max(directional, two_direction), minus :data:`CERT_MARGIN` of the scale: the
        certificate.
    directional : the best single-direction bound max_k L(v_k) found.
    two_direction : sqrt(L(+-xh)_+^2 + L(+-e)_+^2) with e the unit part of the best v orthogonal
        to x (Sec. 3 of the derivation).
    hull_norm : ||p|| of the last Gilbert iterate, a point of the convex hull of the reachable
        gradients: max_v L(v) = dist(0, hull) <= hull_norm, so no direction can certify more than
        this (the limit of the directional route, not a bound on the infimum itself).
    direction : (n, d) the best v.
    init_norm : ||grad f(x; W0)||.
    """

    lower_bound: np.ndarray
    directional: np.ndarray
    two_direction: np.ndarray
    hull_norm: np.ndarray
    direction: np.ndarray
    init_norm: np.ndarray


def gradient_norm_lower_bound(
    net: Network, X, R: float, iterations: int = 100
) -> GradientLowerBound:
    """Certified lower bound on inf_{W in B_{2,inf}(W0, R)} ||grad_x f(x; W)|| for each row of X.

    Wang et al. (2022), Lemma 4.2 states ||grad f(x; W)|| >= sqrt(d)/4 for every W in the ball
    (w.p. >= 1 - gamma); this is the certificate that can show it HOLDS at a given (W0, x). Route
    (docs/derivations/certificates.md Sec. 2-3): for unit v, inf_W ||g(W)|| >= L(v) :=
    inf_W <g(W), v>, computed exactly by :func:`directional_infimum`. The best v maximises the
    concave L over the unit ball, whose maximum is the distance from 0 to the convex hull of the
    reachable gradients; Gilbert's minimum-norm-point iteration (Frank-Wolfe with exact line
    search, the oracle argmin_g <g, v> being the minimiser of L) runs ``iterations`` steps from
    g(W0) and every L(v_k) it visits is a valid bound. The init gradient's direction and that of
    the always-active neurons are also tried. ``net.W`` is W0.
    """
    _check_relu(net, "gradient_norm_lower_bound")
    X = as_inputs(net, X)
    R = check_real("R", R, low=0.0)
    iterations = check_int("iterations", iterations, minimum=0)
    xn = np.linalg.norm(X, axis=1)
    if np.any(xn == 0.0):
        raise UserInputError("inputs must be nonzero (x/||x|| defines the ball's reach)")
    n = len(X)
    sm = 1.0 / math.sqrt(net.spec.m)
    xh = X / xn[:, None]
    t0 = X @ net.W.T + net.b
    g0 = sm * (net.a * (t0 > 0.0)) @ net.W
    g_always = sm * (net.a * (t0 - R * xn[:, None] > 0.0)) @ net.W

    def unit(G):
        nrm = np.linalg.norm(G, axis=1, keepdims=True)
        return np.where(nrm > 0.0, G / np.where(nrm > 0.0, nrm, 1.0), xh)

    best = np.full(n, -np.inf)
    best_v = xh.copy()

    def consider(V):
        L, q = _minimising_gradient(net, X, V, R)
        better = L > best
        best[better] = L[better]
        best_v[better] = V[better]
        return L, q

    consider(unit(g_always))
    p = g0.copy()
    for _ in range(iterations):
        live = np.linalg.norm(p, axis=1) > 0.0
        if not np.any(live):
            break
        _, q = consider(unit(p))
        # Exact line search for the minimum-norm point of the segment [p, q].
        diff = p - q
        dd = np.einsum("ij,ij->i", diff, diff)
        gamma = np.clip(np.einsum("ij,ij->i", p, diff) / np.where(dd > 0.0, dd, 1.0), 0.0, 1.0)
        p = p - gamma[:, None] * diff
    if iterations == 0:
        consider(unit(g0))
    hull_norm = np.linalg.norm(p, axis=1)
    directional = np.maximum(best, 0.0)
    # Two orthogonal directions: ||g||^2 >= <g, xh>^2 + <g, e>^2.
    e_raw = best_v - np.einsum("ij,ij->i", best_v, xh)[:, None] * xh
    has_e = np.linalg.norm(e_raw, axis=1) > 1e-12

    def two_sided(V, ok):
        """max(L(v), L(-v), 0) where ok, else 0."""
        V = np.where(ok[:, None], V, xh)
        lo = np.maximum(directional_infimum(net, X, V, R), 0.0)
        hi = np.maximum(directional_infimum(net, X, -V, R), 0.0)
        return np.where(ok, np.maximum(lo, hi), 0.0)

    e = unit(np.where(has_e[:, None], e_raw, 0.0))
    two = np.sqrt(two_sided(xh, np.ones(n, bool)) ** 2 + two_sided(e, has_e) ** 2)
    scale = sm * (np.abs(net.a) @ (np.linalg.norm(net.W, axis=1) + R))
    lower = np.maximum(np.maximum(directional, two) - CERT_MARGIN * scale, 0.0)
    return GradientLowerBound(
        lower_bound=lower,
        directional=directional,
        two_direction=two,
        hull_norm=hull_norm,
        direction=best_v,
        init_norm=np.linalg.norm(g0, axis=1),
    )


# ---------------------------------------------------------------------------------------------
# 2. certified flip radius of a fixed network
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Local:
    """What every radius route needs at the inputs: y = sign f(x), |f|, grad f, t, ||w_s||."""

    X: np.ndarray
    f: np.ndarray
    y: np.ndarray
    g: np.ndarray
    t: np.ndarray
    wn: np.ndarray
    beta: np.ndarray  # |a_s| / sqrt(m)
    scale: np.ndarray  # magnitude of the sums, for the rounding margin

    def take(self, idx) -> _Local:
        """The same quantities at a subset of the inputs."""
        return _Local(self.X[idx], self.f[idx], self.y[idx], self.g[idx], self.t[idx],
                      self.wn, self.beta, self.scale[idx])  # fmt: skip


def _local(net: Network, X: np.ndarray) -> _Local:
    m = net.spec.m
    t = X @ net.W.T + net.b
    f = np.maximum(t, 0.0) @ net.a / math.sqrt(m) + net.c
    g = ((t > 0.0) * net.a) @ net.W / math.sqrt(m)
    beta = np.abs(net.a) / math.sqrt(m)
    wn = np.linalg.norm(net.W, axis=1)
    scale = np.abs(t) @ beta + abs(net.c) + np.linalg.norm(g, axis=1)
    return _Local(X, f, np.sign(f), g, t, wn, beta, scale)


def _harmful(loc: _Local, net: Network, r: np.ndarray):
    """Neurons whose remainder can lower y f inside the ball: y a_s < 0 and |t_s| < r ||w_s||."""
    return (loc.y[:, None] * net.a < 0.0) & (np.abs(loc.t) < r[:, None] * loc.wn)


def _interval_ok(net: Network, loc: _Local, r: np.ndarray) -> np.ndarray:
    """y f(x + delta) >= |f| - r ||g|| - sum_harmful beta_s (r ||w_s|| - |t_s|) (Sec. 4)."""
    H = _harmful(loc, net, r)
    rem = (H * (r[:, None] * loc.wn - np.abs(loc.t))) @ loc.beta
    lower = np.abs(loc.f) - r * np.linalg.norm(loc.g, axis=1) - rem
    return lower > CERT_MARGIN * (loc.scale + r * (loc.wn @ loc.beta))


def _crown_ok(net: Network, loc: _Local, r: np.ndarray) -> np.ndarray:
    """CROWN-style linear lower bound of y f over the ball, minimised exactly (Sec. 5).

    y a_s relu(z_s) with z_s in [l_s, u_s]: stable rows are exact; unstable rows with y a_s > 0
    use relu(z) >= alpha z (alpha = 1 if u >= -l else 0), those with y a_s < 0 the chord
    relu(z) <= u (z - l) / (u - l). The resulting affine function C + <Lambda, delta> has minimum
    C - r ||Lambda|| over the ball.
    """
    t, wn = loc.t, loc.wn
    lo = t - r[:, None] * wn
    hi = t + r[:, None] * wn
    ya = loc.y[:, None] * net.a
    active = lo >= 0.0
    unstable = (lo < 0.0) & (hi > 0.0)
    width = np.where(unstable, hi - lo, 1.0)
    slope_up = np.where(unstable, hi / width, 0.0)
    alpha = np.where(unstable & (hi >= -lo), 1.0, 0.0)
    # Each row's bound is lam_s * z_s + mu_s (times y a_s / sqrt(m)).
    lam = np.where(active, 1.0, np.where(unstable, np.where(ya > 0.0, alpha, slope_up), 0.0))
    mu = np.where(unstable & (ya < 0.0), -slope_up * lo, 0.0)
    coef = ya * lam / math.sqrt(net.spec.m)
    const = (coef * t).sum(axis=1) + (ya * mu).sum(axis=1) / math.sqrt(net.spec.m)
    const += loc.y * net.c
    Lam = coef @ net.W
    lower = const - r * np.linalg.norm(Lam, axis=1)
    return lower > CERT_MARGIN * (loc.scale + r * (loc.wn @ loc.beta))


def _trust_region_upper(Q: np.ndarray, c: np.ndarray, r: np.ndarray):
    """Upper bound on max_{||delta|| <= r} delta^T Q delta + <c, delta> for PSD Q, batched.

    Weak duality (Sec. 6): for every mu > lambda_max(Q) the maximum is at most
    mu r^2 + c^T (mu I - Q)^{-1} c / 4. mu is placed by bisection near the minimiser; any mu
    gives a valid bound. Also returns (mu I - Q)^{-1} c / 2, the maximiser when mu is optimal
    (used only to choose the next majorant, never for soundness).
    """
    lam, vecs = np.linalg.eigh(Q)
    ct = (np.swapaxes(vecs, 1, 2) @ c[:, :, None])[:, :, 0]  # c in the eigenbasis
    ct2 = ct**2
    lmax = lam[:, -1]
    cn = np.sqrt(ct2.sum(axis=1))
    rr = np.maximum(r, 1e-300)
    # mu - lambda_max is kept above a rounding allowance for the computed eigenvalues.
    floor = 1e-9 * (np.abs(lam).max(axis=1) + cn / rr) + 1e-300
    lo = lmax + floor
    hi = lmax + floor + cn / (2.0 * rr)
    for _ in range(80):
        mid = 0.5 * (lo + hi)
        slope = r**2 - ((ct / (mid[:, None] - lam)) ** 2).sum(axis=1) / 4.0
        lo = np.where(slope < 0.0, mid, lo)
        hi = np.where(slope < 0.0, hi, mid)
    inv = 1.0 / (hi[:, None] - lam)
    upper = hi * r**2 + (ct * (ct * inv)).sum(axis=1) / 4.0
    delta = (vecs @ (ct * inv)[:, :, None])[:, :, 0] / 2.0
    return upper, delta


def _quadratic_upper(net: Network, loc: _Local, r: np.ndarray, H: np.ndarray, k: np.ndarray):
    """max over ||delta|| <= r of <q, delta> + sum_harmful beta_s p_s(v_s), bounded by duality.

    p_s(v) = (v - tau_s + k_s)^2 / (4 k_s) >= (v - tau_s)_+ (Sec. 6). Returns the bound and, per
    harmful row, |v_s - tau_s| at the dual's maximiser (the tangent point of the next majorant).
    """
    n, d = loc.X.shape
    tau = np.abs(loc.t)
    eps = np.where(loc.t > 0.0, -1.0, 1.0)
    k = np.where(H, k, 1.0)
    w_q = np.where(H, loc.beta / (4.0 * k), 0.0)  # (n, m)
    w_c = np.where(H, loc.beta * eps * (k - tau) / (2.0 * k), 0.0)
    e = np.where(H, loc.beta * (k - tau) ** 2 / (4.0 * k), 0.0).sum(axis=1)
    c = -loc.y[:, None] * loc.g + w_c @ net.W
    upper = np.empty(n)
    delta = np.empty((n, d))
    chunk = max(1, _EIG_CHUNK_DOUBLES // (d * d))
    for lo in range(0, n, chunk):
        sl = slice(lo, lo + chunk)
        Q = (net.W.T[None, :, :] * w_q[sl, None, :]) @ net.W  # sum_s w_q[n, s] w_s w_s^T
        upper[sl], delta[sl] = _trust_region_upper(Q, c[sl], r[sl])
    upper += e
    gap = np.abs(eps * (delta @ net.W.T) - tau)
    return upper, gap


def _quadratic_heuristic(
    net: Network, loc: _Local, r: np.ndarray, H: np.ndarray, stop_when_certified: bool = False
):
    """The smallest majorant bound over the kappa grid and the damped steps, and its k.

    ``stop_when_certified``: return as soon as the best bound certifies every input (the
    remaining majorants could only lower it further, so the decision of :func:`_quadratic_ok`
    is the same; each majorant costs a d x d eigendecomposition per input).
    """
    tau = np.abs(loc.t)
    V = r[:, None] * loc.wn
    best = np.full(len(r), np.inf)
    best_k = np.ones_like(tau)
    best_gap = np.ones_like(tau)

    def done() -> bool:
        return stop_when_certified and bool(np.all(_quadratic_certifies(loc, r, best)))

    for kappa in QUADRATIC_KAPPAS:
        k = np.maximum(np.maximum(tau, kappa * V), 1e-300)
        upper, gap = _quadratic_upper(net, loc, r, H, k)
        better = upper < best
        best[better], best_k[better], best_gap[better] = upper[better], k[better], gap[better]
        if done():
            return best, best_k
    k, gap = best_k, best_gap
    for _ in range(QUADRATIC_STEPS):
        k = k ** (1.0 - QUADRATIC_DAMPING) * np.maximum(gap, 0.05 * V) ** QUADRATIC_DAMPING
        k = np.maximum(k, 1e-300)
        upper, gap = _quadratic_upper(net, loc, r, H, k)
        better = upper < best
        best[better], best_k[better] = upper[better], k[better]
        if done():
            break
    return best, best_k


def _quadratic_margin(loc: _Local, r: np.ndarray, upper: np.ndarray) -> np.ndarray:
    return CERT_MARGIN * (loc.scale + r * (loc.wn @ loc.beta) + upper)


def _quadratic_certifies(loc: _Local, r: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """y f(x + delta) >= |f| - upper > 0 on the ball, with the rounding margin."""
    return upper + _quadratic_margin(loc, r, upper) < np.abs(loc.f)


def _quadratic_ok(net: Network, loc: _Local, r: np.ndarray) -> np.ndarray:
    """Quadratic majorant of the harmful remainders + trust-region duality (Sec. 6).

    A harmful row's remainder is (v - tau)_+ with v = eps_s <w_s, delta> (eps_s = -sign t_s, +1
    at t_s = 0), tau = |t_s|, and (v - tau)_+ <= (v - tau + k)^2 / (4 k) for every k > 0. Then
    y f(x + delta) >= |f| - [delta^T Q delta + <c, delta> + e] for every delta, and the bracket
    is bounded over the ball by :func:`_trust_region_upper`. The k_s are free: first
    k_s = max(tau_s, kappa r ||w_s||) for kappa in :data:`QUADRATIC_KAPPAS`, then
    :data:`QUADRATIC_STEPS` damped steps towards the tangent point at the dual's maximiser
    (k_s = |v_s - tau_s| is the stationarity condition of the convex problem min_k bound(k)).
    Every k gives a valid bound; the smallest is used.
    """
    H = _harmful(loc, net, r)
    best, _ = _quadratic_heuristic(net, loc, r, H, stop_when_certified=QUADRATIC_EARLY_STOP)
    return _quadratic_certifies(loc, r, best)


def _quadratic_opt_ok(net: Network, loc: _Local, r: np.ndarray) -> np.ndarray:
    """:func:`_quadratic_ok`, then, where it fails, L-BFGS-B over log k_s of the harmful rows.

    The bound is convex in gamma_s = 1/(4 k_s) with partial derivative
    beta_s ((v_s - tau_s)^2 - k_s^2) at the dual's maximiser (Sec. 6); L-BFGS-B runs on log k
    from the heuristic's k, one input at a time. Every evaluated k gives a valid bound; the
    smallest one met is used.
    """
    from scipy import optimize  # only this route needs it

    H = _harmful(loc, net, r)
    best, best_k = _quadratic_heuristic(net, loc, r, H)
    ok = _quadratic_certifies(loc, r, best)
    for i in np.flatnonzero(~ok & (loc.f != 0.0)):
        one, ri, Hi = loc.take([i]), r[i : i + 1], H[i : i + 1]
        idx = np.flatnonzero(Hi[0])
        if idx.size == 0:
            continue
        k = best_k[i : i + 1].copy()
        seen = [best[i]]

        def bound(logk, one=one, ri=ri, Hi=Hi, idx=idx, k=k, seen=seen):
            k[0, idx] = np.exp(logk)
            upper, gap = _quadratic_upper(net, one, ri, Hi, k)
            seen.append(float(upper[0]))
            kk = k[0, idx]
            grad = -one.beta[idx] * (gap[0, idx] ** 2 - kk**2) / (4.0 * kk)
            return float(upper[0]), grad

        # k_s kept in [1e-4 V_s, 10 (V_s + tau_s)], V_s = r ||w_s||: beyond it the majorant is
        # useless on the ball and exp(log k) could overflow.
        V = ri[0] * loc.wn[idx]
        box = list(zip(np.log(1e-4 * V), np.log(10.0 * (V + np.abs(one.t[0, idx]))), strict=True))
        start = np.clip(np.log(best_k[i, idx]), [b[0] for b in box], [b[1] for b in box])
        optimize.minimize(
            bound, start, jac=True, method="L-BFGS-B", bounds=box,
            options={"maxiter": OPT_ITERATIONS},
        )  # fmt: skip
        low = min(v for v in seen if np.isfinite(v))
        ok[i] = low + _quadratic_margin(one, ri, np.array([low]))[0] < abs(loc.f[i])
    return ok


def certified_at(net: Network, X, r, route: str) -> np.ndarray:
    """True where ``route`` proves y f(x + delta) > 0 for every ||delta|| <= r, y = sign f(x).

    ``route``: ``interval``, ``crown`` or ``quadratic`` (docs/derivations/certificates.md
    Sec. 4-6).
    An input with f(x) = 0 is never certified (sign f is already 0). ``r``: one value or one per
    input, >= 0.
    """
    _check_relu(net, "certified_at")
    X = as_inputs(net, X)
    r = np.broadcast_to(np.asarray(r, dtype=float), (len(X),)).copy()
    if not np.all(np.isfinite(r)) or np.any(r < 0.0):
        raise UserInputError("r must be finite and >= 0 (one value or one per input)")
    if route not in RADIUS_ROUTES:
        raise UserInputError(f"route must be one of {', '.join(RADIUS_ROUTES)}; got {route!r}")
    return _certified_at(net, _local(net, X), r, route)


def _certified_at(net: Network, loc: _Local, r: np.ndarray, route: str) -> np.ndarray:
    if route == "interval":
        ok = _interval_ok(net, loc, r)
    elif route == "crown":
        ok = _crown_ok(net, loc, r)
    elif route == "quadratic":
        ok = _quadratic_ok(net, loc, r)
    else:
        ok = _quadratic_opt_ok(net, loc, r)
    return ok & (loc.f != 0.0)


@dataclass(frozen=True)
class CertifiedRadius:
    """Per-input certified flip radii of :func:`certified_radius`.

    radius : max over the routes: no ||delta|| <= radius changes sign f(x) (certified LOWER bound
        on the minimal adversarial distance; 0 where f(x) = 0).
    by_route : route name -> its own certified radius (each a valid lower bound).
    f : f(x).
    """

    radius: np.ndarray
    by_route: dict
    f: np.ndarray


def _bisect(net: Network, loc: _Local, lo, hi, route: str, steps: int) -> np.ndarray:
    """Largest certified r found by bisection on [lo, hi]; lo must be certified (or 0)."""
    lo, hi = lo.copy(), hi.copy()
    top = _certified_at(net, loc, hi, route)
    lo[top] = hi[top]
    todo = np.flatnonzero(~top & (loc.f != 0.0) & (hi > lo))
    for _ in range(steps):
        if todo.size == 0:
            break
        mid = 0.5 * (lo[todo] + hi[todo])
        ok = _certified_at(net, loc.take(todo), mid, route)
        lo[todo[ok]] = mid[ok]
        hi[todo[~ok]] = mid[~ok]
    return lo


def certified_radius(
    net: Network,
    X,
    routes: tuple[str, ...] = DEFAULT_ROUTES,
    r_max=None,
    bisections: int = 24,
) -> CertifiedRadius:
    """Certified lower bound on the l2 flip radius of sign f at each row of X (fixed network).

    For each route, bisection on r in [0, r_max] (default 4 ||x||, the attack module's cap) with
    the invariant that the lower end is certified (:func:`certified_at`); the lower end is
    returned, so the result is sound whatever the routes' monotonicity. ``quadratic-opt``
    bisects :data:`OPT_BISECTIONS` times on [q, min(OPT_BRACKET q, r_max)] above the
    ``quadratic`` radius q (which it certifies too). Certified robustness for Wang et al. (2022),
    Corollary 3.2 (docs/derivations/certificates.md Sec. 4-7).
    """
    _check_relu(net, "certified_radius")
    X = as_inputs(net, X)
    bisections = check_int("bisections", bisections, minimum=0)
    for route in routes:
        if route not in RADIUS_ROUTES:
            raise UserInputError(f"routes must be among {', '.join(RADIUS_ROUTES)}; got {route!r}")
    if not routes:
        raise UserInputError("routes must name at least one route")
    n = len(X)
    if r_max is None:
        hi0 = 4.0 * np.linalg.norm(X, axis=1)
    else:
        hi0 = np.broadcast_to(np.asarray(r_max, dtype=float), (n,)).copy()
        if not np.all(np.isfinite(hi0)) or np.any(hi0 < 0.0):
            raise UserInputError("r_max must be finite and >= 0 (one value or one per input)")
    loc = _local(net, X)
    by_route = {}
    order = sorted(routes, key=RADIUS_ROUTES.index)  # quadratic before quadratic-opt
    for route in order:
        if route == "quadratic-opt":
            q = by_route.get("quadratic")
            if q is None:
                q = _bisect(net, loc, np.zeros(n), hi0, "quadratic", bisections)
            top = np.minimum(OPT_BRACKET * q, hi0)
            by_route[route] = _bisect(net, loc, q, top, route, OPT_BISECTIONS)
        else:
            by_route[route] = _bisect(net, loc, np.zeros(n), hi0, route, bisections)
    by_route = {route: by_route[route] for route in routes}
    radius = np.max(np.stack(list(by_route.values())), axis=0)
    return CertifiedRadius(radius=radius, by_route=by_route, f=loc.f)


def robust_error_upper(net: Network, X, eps, y=None, **kwargs) -> float:
    """Certified UPPER estimate of the robust error at l2 radius eps: the fraction of inputs that
    are misclassified (sign f(x) != y; y defaults to sign f(x)) or whose certified radius
    (:func:`certified_radius`) is below eps. The true robust error (every attack's is a lower
    estimate) lies at or below it. Wang et al. (2022), Corollary 3.2 claims >= 0.9 at
    eps = O~(1/sqrt(d)) for every W of the lazy ball.
    """
    X = as_inputs(net, X)
    eps = check_real("eps", eps, low=0.0)
    cert = certified_radius(net, X, **kwargs)
    wrong = cert.f == 0.0
    if y is not None:
        y = np.broadcast_to(np.asarray(y, dtype=float), (len(X),))
        if not np.all(np.isin(y, (-1.0, 1.0))):
            raise UserInputError("y must contain labels -1 or +1")
        wrong = wrong | (np.sign(cert.f) != y)
    return float(np.mean(wrong | (cert.radius < eps)))
