"""Adversarial points of the lazy ball and certified bounds on gradients (docs/theory.md Sec. 2-3).

Perturbation families of docs/theory.md Sec. 2 beyond those of :mod:`theorycheck.lazy_ball`:

* :func:`robustifying` (item 4, [derived]): half of each row's budget radially, raising |f(x)|,
  half along -sign(a_s) e, e the unit direction of grad f orthogonal to x, shrinking the gradient.
* :func:`gradient_shrinking` (item 3): a search for the W of the ball with the smallest
  ||grad_x f(x; W)||. A search, so its value is an UPPER estimate of the minimum over the ball; it
  carries the certified LOWER bound of :func:`gradient_norm_certificate` beside it.

Certified bounds (derivations in docs/derivations/gradient_certificates.md):

* :func:`gradient_norm_certificate`: a deterministic lower bound on min over the ball of
  ||grad f(x; W)|| computed from (a, W0, b, x, R), the quantitative form of the proof of
  Wang et al. (2022) Lemma 4.2.
* :func:`gradient_drift_certificate`: an upper bound on sup_{||delta|| <= rho}
  ||grad f(x + delta) - grad f(x)|| (docs/theory.md Sec. 3; Wang et al. Lemma 4.4, Bubeck et al.
  2021
  Sec. 3), with :func:`gradient_drift_search`, a search giving a LOWER estimate of that sup.

All randomness comes from a passed :class:`numpy.random.Generator` (theorycheck.seeding.generator).
The heavy lifting is BLAS matrix products and the existing numba forward kernels; the searches are
sequential and control-flow heavy, so they are written in NumPy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import special

from theorycheck.activations import Activation
from theorycheck.errors import UserInputError, check_choice, check_finite, check_int, check_real
from theorycheck.forward import as_inputs, gradient_difference, output_and_gradient
from theorycheck.lazy_ball import lazy_ball_project, perturb, worst_output
from theorycheck.network import Network
from theorycheck.paths import check_path

__all__ = [
    "DriftCertificate",
    "DriftSearchResult",
    "GradientCertificate",
    "GradientShrinkResult",
    "gradient_drift_certificate",
    "gradient_drift_search",
    "gradient_norm_certificate",
    "gradient_shrinking",
    "robustifying",
]

#: Interior critical points of sigma' (zeros of sigma''), where sup/inf of sigma' over an interval
#: can sit besides its endpoints: tanh' = sech^2 peaks at 0; gelu'' = phi(t)(2 - t^2) vanishes at
#: +-sqrt(2); softplus' (the logistic) and quadratic' (2t) are monotone. relu is handled apart.
_DSIGMA_CRITICAL = {
    "softplus": (),
    "tanh": (0.0,),
    "gelu": (-math.sqrt(2.0), math.sqrt(2.0)),
    "quadratic": (),
}
#: Certificates are computed in floating point (eigenvalues, sums of m terms); they are widened by
#: this relative margin, far above the rounding (~1e-13 for the sizes used) and far below any slack.
CERT_MARGIN = 1e-9
#: Above this many rows the Gram-matrix form of the flip bound (k x k memory) is skipped.
GRAM_MAX = 4000


def _one_input(net: Network, x) -> np.ndarray:
    X = as_inputs(net, x)
    if X.shape[0] != 1:
        raise UserInputError(f"x must be one input of shape ({net.spec.d},), got {X.shape[0]} rows")
    x = X[0]
    if not np.any(x):
        raise UserInputError(
            "x must be nonzero (its direction defines the radial part of the ball)"
        )
    return x


def _orthogonal_part(v: np.ndarray, xh: np.ndarray) -> np.ndarray:
    """P v with P = I - xh xh^T (xh a unit vector); works on rows of a matrix too."""
    return v - np.multiply.outer(v @ xh, xh)


# ---------------------------------------------------------------------------------------------
# robustifying (docs/theory.md Sec. 2 item 4)
# ---------------------------------------------------------------------------------------------


def robustifying(
    net: Network, x, R: float, *, radial_fraction: float = 0.5, path: str = "numba"
) -> np.ndarray:
    """The `robustifying` point of B_{2,inf}(W0, R) for input ``x`` (docs/theory.md Sec. 2, item 4).

    Two moves, each within its own share of the row budget, in orthogonal directions:

    1. radial (length <= radial_fraction * R along x/||x||): every row moves so that sign(f) f is
       maximal over the smaller ball of radius radial_fraction * R, i.e. |f(x)| rises as much as
       that budget allows. This is the worst-output maximiser (docs/derivations/worst_output.md):
       for monotone sigma, w_s += radial_fraction R sign(f) sign(a_s) x/||x||; for gelu and t^2
       the per-neuron optimum of :func:`theorycheck.lazy_ball.worst_output` is used. sign(0) := +1.
    2. orthogonal (length (1 - radial_fraction) R): w_s -= (1 - radial_fraction) R c_s e with
       e = P grad f / ||P grad f|| at the radially moved weights (P projects orthogonally to x)
       and c_s = sign(a_s) (times sign sigma'(t_s) where that is negative, gelu only); a neuron
       the radial move put at an interior critical point of sigma (gelu's minimum, 0 for t^2)
       has sigma'(t_s) = 0 exactly, whatever sigma' gives at its rounded pre-activation: this
       leaves every pre-activation <w_s, x> + b_s, hence f(x), unchanged and lowers the
       component of grad f along e by (1 - radial_fraction) R m^{-1/2} sum_s |a_s sigma'(t_s)|.
       It may overshoot (the component along e then changes sign); docs/theory.md prescribes the
       fixed budget, so no cap is applied.

    Each row moves by sqrt(rf^2 + (1 - rf)^2) R <= R (R / sqrt 2 at the default rf = 1/2), so W
    lies in the ball. Consequences proved in docs/derivations/gradient_certificates.md Sec. 5:
    |f(x; W)| >= |f(x; W0)| always (W0 lies in the smaller ball), and the orthogonal move never
    changes f(x).

    Parameters
    ----------
    net : the network at initialisation (its W is W0).
    x : one input, shape (d,).
    R : the radius of the lazy ball in the network's units
        (:func:`theorycheck.lazy_ball.lazy_radius`).
    radial_fraction : share of the per-row budget used radially (docs/theory.md: 1/2).

    Returns
    -------
    W : (m, d) hidden weights.
    """
    x = _one_input(net, x)
    R = check_real("R", R, low=0.0)
    rf = check_real("radial_fraction", radial_fraction, low=0.0, high=1.0)
    check_path(path, what="robustifying")
    W0 = net.W
    xn = float(np.linalg.norm(x))
    xh = x / xn
    f0 = float(output_and_gradient(net, x, path=path).f[0])
    sgn = 1.0 if f0 >= 0.0 else -1.0
    # 1. radial: pre-activations move to the per-neuron maximisers of sign(f) a_s sigma(t).
    wo = worst_output(net, x, rf * R, path=path)
    t_target = (wo.t_sup if sgn > 0 else wo.t_inf)[0]
    z = W0 @ x + net.b
    W_rad = W0 + np.outer((t_target - z) / xn, xh)
    # A neuron moved to an interior critical point of sigma (gelu's minimum, 0 for t^2) has
    # sigma'(t_s) = 0 exactly. Evaluated at the rounded pre-activation, sigma' is rounding noise
    # of either sign (~1e-17): it must enter neither grad f (when every neuron sits there, the
    # exact Pg is 0 and e would be a noise direction that each path rounds differently) nor c_s.
    at_crit = np.isin(t_target, net.spec.act.critical_points)
    # 2. orthogonal: shrink P grad f along its own direction; pre-activations are unchanged.
    # grad f at W_rad with the critical neurons' (exactly zero) terms dropped: a_s -> 0 there.
    live = Network(net.spec, np.where(at_crit, 0.0, net.a), W_rad, net.b, net.c)
    g = output_and_gradient(live, x, path=path).grad[0]
    Pg = g - (g @ xh) * xh
    pg_norm = float(np.linalg.norm(Pg))
    W = W_rad
    if pg_norm > 0.0 and rf < 1.0:
        e = Pg / pg_norm
        t = W_rad @ x + net.b
        dsig = np.where(at_crit, 0.0, np.asarray(net.spec.act.dsigma(t), dtype=float))
        c = np.sign(net.a) * np.where(dsig < 0.0, -1.0, 1.0)
        W = W_rad - (1.0 - rf) * R * np.outer(c, e)
    out = lazy_ball_project(W, W0, R, path=path)  # a no-op up to rounding: deviations <= R
    check_finite("robustifying W", out)
    return out


# ---------------------------------------------------------------------------------------------
# certified lower bound on ||grad f|| over the ball (Wang et al. Lemma 4.2, quantitative)
# ---------------------------------------------------------------------------------------------


def _dsigma_range(act: Activation, lo: np.ndarray, hi: np.ndarray):
    """Elementwise (min, max) of sigma' over the closed intervals [lo, hi].

    relu (sigma'(0) = 0, active iff t > 0): sigma' = 1 is reachable iff hi > 0, 0 iff lo <= 0.
    Smooth sigma: endpoints plus the interior critical points of sigma' (:data:`_DSIGMA_CRITICAL`).
    """
    if act.piecewise_linear:
        return np.where(lo > 0.0, 1.0, 0.0), np.where(hi > 0.0, 1.0, 0.0)
    vlo, vhi = act.dsigma(lo), act.dsigma(hi)
    dmin, dmax = np.minimum(vlo, vhi), np.maximum(vlo, vhi)
    for c in _DSIGMA_CRITICAL[act.name]:
        inside = (lo < c) & (c < hi)
        vc = float(act.dsigma(np.float64(c)))
        dmin = np.where(inside, np.minimum(dmin, vc), dmin)
        dmax = np.where(inside, np.maximum(dmax, vc), dmax)
    return dmin, dmax


#: Below this size the full eigendecomposition is as cheap as the certificate.
EIG_DIRECT_MAX = 200


def certified_top_eigenvalue(G: np.ndarray) -> float:
    """A certified upper bound on the largest eigenvalue of the symmetric PSD matrix ``G``.

    Lanczos (ARPACK, ``scipy.sparse.linalg.eigsh``, from the deterministic start sqrt(diag G))
    gives an estimate theta from below; mu = theta (1 + 1e-6) is raised by 1% until the Cholesky
    factorisation of mu I - G succeeds, which proves mu I - G positive definite up to rounding:
    the computed factor is exact for mu I - G + E with ||E||_2 <= (n + 1) n u mu (Demmel 1989;
    the diagonal of mu I - G is at most mu), so lambda_max(G) <= mu (1 + 2 (n + 1)^2 u) is
    returned. Cost: a few matrix-vector products and one Cholesky (n^3 / 3 flops) instead of a
    full ``eigvalsh`` (docs/derivations/gradient_certificates.md, "Top eigenvalue").
    Small matrices (n <= :data:`EIG_DIRECT_MAX`) use ``eigvalsh``, widened the same way.
    """
    from scipy.linalg import cholesky
    from scipy.sparse.linalg import eigsh

    n = G.shape[0]
    widen = 1.0 + 2.0 * (n + 1) ** 2 * np.finfo(float).eps
    if n <= EIG_DIRECT_MAX:
        return max(float(np.linalg.eigvalsh(G)[-1]), 0.0) * widen
    start = np.sqrt(np.maximum(np.diag(G), 0.0)) + 1e-300
    theta = float(eigsh(G, k=1, which="LA", tol=1e-8, v0=start, return_eigenvectors=False)[0])
    mu = max(theta, 1e-300 + float(np.max(np.diag(G))) * 1e-12) * (1.0 + 1e-6)
    eye = np.eye(n)
    for _ in range(200):
        try:
            cholesky(mu * eye - G, lower=True, check_finite=False, overwrite_a=True)
            return mu * widen
        except np.linalg.LinAlgError:
            mu *= 1.01
    return max(float(np.linalg.eigvalsh(G)[-1]), 0.0) * widen  # pragma: no cover


def _flip_sum_bound(U: np.ndarray, kappa: np.ndarray, nonnegative: bool) -> dict[str, float]:
    """Upper bounds on max ||sum_s c_s u_s|| over coefficients with |c_s| <= kappa_s.

    ``nonnegative``: the c_s are known to lie in [0, kappa_s] (relu with the flip sign folded
    into u_s). Three valid bounds (docs/derivations/gradient_certificates.md Sec. 2):
    triangle sum_s kappa_s ||u_s||; operator ||U||_op ||kappa||_2 (Cauchy-Schwarz); Gram
    sqrt(sum_{s,t} kappa_s kappa_t G+_{st}) with G+ = max(G, 0) (nonnegative c) or |G|.
    """
    keep = kappa > 0.0
    U, kappa = U[keep], kappa[keep]
    k = len(kappa)
    if k == 0:
        return {"triangle": 0.0, "operator": 0.0, "gram": 0.0}
    out = {"triangle": float(kappa @ np.linalg.norm(U, axis=1))}
    if k <= GRAM_MAX:
        G = U @ U.T
        top = certified_top_eigenvalue(G) if k <= U.shape[1] else None
        Gs = np.maximum(G, 0.0) if nonnegative else np.abs(G)
        out["gram"] = math.sqrt(max(float(kappa @ Gs @ kappa), 0.0))
    else:
        top = None
        out["gram"] = math.inf
    if top is None:
        top = certified_top_eigenvalue(U.T @ U)
    out["operator"] = math.sqrt(max(top, 0.0)) * float(np.linalg.norm(kappa))
    return out


@dataclass(frozen=True)
class GradientCertificate:
    """A certified lower bound on min over B_{2,inf}(W0, R) of ||grad_x f(x; W)||.

    lower_bound = sqrt(x_component_lower^2 + max(p_grad_norm_init - radial_term - flip_term, 0)^2),
    widened by :data:`CERT_MARGIN`. Derivation: docs/derivations/gradient_certificates.md Sec. 1-3.

    p_grad_norm_init : ||P grad f(x; W0)||, P = I - x x^T / ||x||^2.
    radial_term : bound on ||P sum_s a_s sigma'(t_s(W)) (w_s - w_s0)|| / sqrt(m) (the C0-term).
    flip_term : bound on ||P sum_s a_s (sigma'(t_s(W)) - sigma'(t_s(W0))) w_s0|| / sqrt(m).
    flip_terms : the three bounds (triangle, operator, gram) whose minimum is flip_term.
    x_component_lower : lower bound on |<grad f(x; W), x/||x||>| over the ball (relu only; else 0).
    n_flippable : |S_R(x)| (relu) or the number of neurons whose sigma' can change at all.
    """

    lower_bound: float
    p_grad_norm_init: float
    radial_term: float
    flip_term: float
    flip_terms: dict
    x_component_lower: float
    n_flippable: int


def gradient_norm_certificate(net: Network, x, R: float) -> GradientCertificate:
    """Certified lower bound on min_{W in B_{2,inf}(W0, R)} ||grad_x f(x; W)||, from W0, x, R.

    Quantitative version of the proof of Wang et al. (2022), Lemma 4.2: ||grad f(W)|| >=
    ||P grad f(W)|| >= ||P grad f(W0)|| - (radial term) - (flip term), every term computed
    deterministically for the given network (no probability), plus for relu an exact range of the
    radial component <grad f, x/||x||> that also separates per neuron. Valid for every activation
    and with biases. Derivation: docs/derivations/gradient_certificates.md Sec. 1-3.
    """
    x = _one_input(net, x)
    R = check_real("R", R, low=0.0)
    act = net.spec.act
    m = net.spec.m
    W0, a, b = net.W, net.a, net.b
    xn = float(np.linalg.norm(x))
    xh = x / xn
    r = R * xn
    u0 = W0 @ x  # <w_s0, x> without bias
    t0 = u0 + b  # pre-activations at W0
    lo, hi = t0 - r, t0 + r  # reachable pre-activations of neuron s over the ball
    sm = 1.0 / math.sqrt(m)
    g0 = sm * (a * act.dsigma(t0)) @ W0
    p_norm = float(np.linalg.norm(g0 - (g0 @ xh) * xh))
    dmin, dmax = _dsigma_range(act, lo, hi)
    # radial term: sup over the ball of |sigma'| times the per-row deviation R, summed.
    radial = sm * R * float(np.abs(a) @ np.maximum(np.abs(dmin), np.abs(dmax)))
    # flip term: sigma'(t_s(W)) - sigma'(t0_s) lies in [dmin - d0, dmax - d0].
    d0 = act.dsigma(t0)
    kappa = np.maximum(dmax - d0, d0 - dmin)
    kappa = np.where(kappa > 0.0, kappa, 0.0)
    sel = np.flatnonzero(kappa > 0.0)
    U = (sm * a[sel])[:, None] * _orthogonal_part(W0[sel], xh)
    if act.piecewise_linear:
        # relu: the change is +1 (inactive -> active) or -1 (active -> inactive), sign known.
        U *= np.where(t0[sel] > 0.0, -1.0, 1.0)[:, None]
    terms = _flip_sum_bound(U, kappa[sel], nonnegative=act.piecewise_linear)
    flip = min(terms.values())
    xlow = _radial_component_lower(net, u0, r, xn) if act.piecewise_linear else 0.0
    lp = max(p_norm - radial - flip, 0.0)
    bound = math.sqrt(xlow**2 + lp**2) * (1.0 - CERT_MARGIN)
    return GradientCertificate(
        lower_bound=bound,
        p_grad_norm_init=p_norm,
        radial_term=radial,
        flip_term=flip,
        flip_terms=terms,
        x_component_lower=xlow,
        n_flippable=len(sel),
    )


def _radial_component_lower(net: Network, u0: np.ndarray, r: float, xn: float) -> float:
    """relu: lower bound on |<grad f(x; W), x/||x||>| over the ball.

    <grad f, x/||x||> = m^{-1/2} sum_s a_s 1[u_s + b_s > 0] u_s / ||x|| with u_s = <w_s, x> free
    in [u0_s - r, u0_s + r] independently: each term ranges over the values at the two endpoints
    and, when the kink u = -b_s lies inside, 0 and its active-side limit -a_s b_s (closure of the
    range; the term is linear on the active side and 0 on the other). The bound is the distance
    from 0 to the resulting interval.
    """
    a, b = net.a, net.b
    ulo, uhi = u0 - r, u0 + r
    h_lo = np.where(ulo + b > 0.0, a * ulo, 0.0)
    h_hi = np.where(uhi + b > 0.0, a * uhi, 0.0)
    kink = (ulo < -b) & (-b < uhi)
    vmin = np.minimum(h_lo, h_hi)
    vmax = np.maximum(h_lo, h_hi)
    at_kink = -a * b
    vmin = np.where(kink, np.minimum(vmin, np.minimum(0.0, at_kink)), vmin)
    vmax = np.where(kink, np.maximum(vmax, np.maximum(0.0, at_kink)), vmax)
    scale = 1.0 / (math.sqrt(net.spec.m) * xn)
    lo_sum, hi_sum = scale * float(vmin.sum()), scale * float(vmax.sum())
    return max(0.0, lo_sum, -hi_sum)


# ---------------------------------------------------------------------------------------------
# gradient-shrinking search (docs/theory.md Sec. 2 item 3)
# ---------------------------------------------------------------------------------------------

SHRINK_METHODS = ("auto", "pattern", "pgd")


@dataclass(frozen=True)
class GradientShrinkResult:
    """Result of :func:`gradient_shrinking`.

    W : the best point of the ball found, (m, d).
    grad_norm : ||grad_x f(x; W)|| recomputed at that W: an UPPER estimate of
        min_{W in ball} ||grad f(x; W)|| (a search never certifies a minimum).
    history : best value found so far after each search iteration (nonincreasing).
    certified_lower_bound : :func:`gradient_norm_certificate` ``.lower_bound``: the minimum lies
        in [certified_lower_bound, grad_norm].
    grad_norm_init : ||grad f(x; W0)||.
    method : ``pattern`` (relu: exact per activation pattern + flip search) or ``pgd``.
    restart_values : the value reached by each restart.
    """

    W: np.ndarray
    grad_norm: float
    history: np.ndarray
    certified_lower_bound: float
    grad_norm_init: float
    method: str
    restart_values: np.ndarray

    estimate_kind = "upper estimate of the minimum over the ball"


def gradient_shrinking(
    net: Network,
    x,
    R: float,
    rng: np.random.Generator,
    steps: int | None = None,
    restarts: int = 4,
    method: str = "auto",
    path: str = "numba",
) -> GradientShrinkResult:
    """Search B_{2,inf}(W0, R) for the smallest ||grad_x f(x; W)|| (docs/theory.md Sec. 2, item 3).

    Wang et al. (2022) Lemma 4.2 bounds this minimum from below; this is the adversary's side.

    ``pattern`` (relu; the default for piecewise-linear sigma). grad f depends on W only through
    the activation pattern and the active rows. For a fixed pattern the problem is convex and
    solved exactly: writing w_s - w_s0 = alpha_s x/||x|| + beta_s (beta_s orthogonal to x), the
    optimal beta_s are aligned against P grad f and the optimal alpha lie on a one-parameter family
    (docs/derivations/gradient_certificates.md Sec. 4). Patterns are searched by steepest-descent
    flips of the flippable neurons S_R (moving a row across its hyperplane when that lowers the
    norm), restarting from W0's pattern and from ``restarts - 1`` random patterns; ``steps`` caps
    the flips per restart (default 4 |S_R| + 10).

    ``pgd`` (any sigma; the default for smooth sigma). Projected gradient descent on
    ||grad f||^2 with the analytic W-gradient d/dw_s = 2 m^{-1/2} a_s (sigma'(t_s) g +
    sigma''(t_s) <w_s, g> x), g = grad f, t_s = <w_s, x> + b_s (relu: sigma'' = 0 a.e.), an
    Armijo backtracking step and :func:`lazy_ball_project` after every step; ``steps`` steps
    (default 200) from W0 and from ``restarts - 1`` uniform points of the ball.

    The returned value is recomputed from the returned W with
    :func:`theorycheck.forward.output_and_gradient`, so it is attained: an UPPER estimate of the
    minimum. The certified lower bound is returned beside it.
    """
    x = _one_input(net, x)
    R = check_real("R", R, low=0.0)
    restarts = check_int("restarts", restarts)
    check_choice("method", method, SHRINK_METHODS)
    check_path(path, what="gradient_shrinking")
    act = net.spec.act
    if method == "auto":
        method = "pattern" if act.piecewise_linear else "pgd"
    if method == "pattern" and not act.piecewise_linear:
        raise UserInputError(
            f"method 'pattern' needs a piecewise-linear activation (relu), got {act.name}; "
            "use method='pgd'"
        )
    g_init = float(output_and_gradient(net, x, path=path).grad_norm[0])
    if method == "pattern":
        cap = None if steps is None else check_int("steps", steps, minimum=0)
        W, history, finals = _pattern_search(net, x, R, rng, restarts, cap)
    else:
        n_steps = 200 if steps is None else check_int("steps", steps, minimum=0)
        W, history, finals = _pgd_search(net, x, R, rng, restarts, n_steps, path)
    W = lazy_ball_project(W, net.W, R, path=path)
    value = float(output_and_gradient(net.with_weights(W), x, path=path).grad_norm[0])
    if value > g_init:  # W0 itself is a point of the ball
        W, value = net.W.copy(), g_init
    history = np.minimum.accumulate(np.concatenate([[g_init], history, [value]]))
    cert = gradient_norm_certificate(net, x, R).lower_bound
    return GradientShrinkResult(
        W=W,
        grad_norm=value,
        history=history,
        certified_lower_bound=cert,
        grad_norm_init=g_init,
        method=method,
        restart_values=np.asarray(finals, dtype=float),
    )


#: Grids of :meth:`_PatternProblem.best_mu` at most: the bracket 4/256 shrinks 8-fold per
#: 17-point grid, below 1e-15 after 15.
MU_REFINEMENTS = 20


@dataclass
class _PatternProblem:
    """The relu gradient-shrinking problem reduced to (pattern, alpha) (derivation Sec. 4).

    Neurons split into always-active F (z_s > R||x||), never-active, and flippable S_R. For F the
    optimal alpha_s = -sign(a_s) R mu is never clipped, so F enters through four sums only.
    """

    R: float
    sm: float
    a: np.ndarray  # a_s on S
    p: np.ndarray  # <w_s0, x/||x||> on S
    lo: np.ndarray  # lowest alpha_s keeping s active (closure): max(-z_s/||x||, -R), on S
    U: np.ndarray  # m^{-1/2} a_s P w_s0, rows over S
    q: np.ndarray  # ||u_s||^2
    GF: float  # m^{-1/2} sum_F a_s p_s
    AF: float  # m^{-1/2} sum_F |a_s|
    vF: np.ndarray  # m^{-1/2} P sum_F a_s w_s0

    def alpha(self, mu):
        """alpha_s(mu) = clip(-sign(a_s) R mu, lo_s, R) for mu scalar or (K,) -> (K, k)."""
        mu = np.atleast_1d(np.asarray(mu, dtype=float))
        return np.clip(-np.sign(self.a) * self.R * mu[:, None], self.lo, self.R)

    def sums(self, active, mu):
        """(gx, B) at pattern ``active`` on S for every mu (vectorised over mu)."""
        mu = np.atleast_1d(np.asarray(mu, dtype=float))
        al = self.alpha(mu)[:, active]
        a, p = self.a[active], self.p[active]
        gx = self.GF - self.AF * self.R * mu + self.sm * ((p + al) @ a)
        rho = np.sqrt(np.maximum(self.R**2 - al**2, 0.0))
        B = self.AF * self.R * np.sqrt(np.maximum(1.0 - mu**2, 0.0)) + self.sm * (rho @ np.abs(a))
        return gx, B

    def objective(self, active, mu, V):
        gx, B = self.sums(active, mu)
        return gx**2 + np.maximum(V - B, 0.0) ** 2

    def best_mu(self, active, V) -> tuple[float, float]:
        """argmin over mu in [-1, 1] of J(pattern, mu): J is quasi-convex in mu (derivation
        Sec. 4), so its minimiser lies between the neighbours of a grid's best point. A grid of
        257 points (it guards against flat stretches where every alpha is clipped), then nested
        grids of 17 points over the best bracket, each 8 times narrower, to rounding."""
        lo, hi, points = -1.0, 1.0, 257
        best_mu, best_J = 0.0, math.inf
        for _ in range(MU_REFINEMENTS):
            grid = np.linspace(lo, hi, points)
            J = self.objective(active, grid, V)
            i = int(np.argmin(J))
            if J[i] < best_J:
                best_mu, best_J = float(grid[i]), float(J[i])
            lo, hi, points = grid[max(i - 1, 0)], grid[min(i + 1, len(grid) - 1)], 17
            if not hi - lo > 1e-15:
                break
        # J at the chosen mu as every caller evaluates it (one mu): a batched product rounds
        # differently, and a value below the caller's own could make it re-solve forever.
        return best_mu, float(self.objective(active, best_mu, V)[0])


def _pattern_search(net: Network, x: np.ndarray, R: float, rng, restarts: int, max_flips):
    m = net.spec.m
    W0, a, b = net.W, net.a, net.b
    xn = float(np.linalg.norm(x))
    xh = x / xn
    z = W0 @ x + b
    r = R * xn
    sm = 1.0 / math.sqrt(m)
    always = z > r
    S = np.flatnonzero((z > -r) & (z <= r))
    p_all = W0 @ xh
    vF = sm * _orthogonal_part(a[always] @ W0[always], xh)
    U = (sm * a[S])[:, None] * _orthogonal_part(W0[S], xh)
    prob = _PatternProblem(
        R=R,
        sm=sm,
        a=a[S],
        p=p_all[S],
        lo=np.maximum(-z[S] / xn, -R),
        U=U,
        q=np.einsum("ij,ij->i", U, U),
        GF=sm * float(a[always] @ p_all[always]),
        AF=sm * float(np.abs(a[always]).sum()),
        vF=vF,
    )
    active0 = z[S] > 0.0
    if max_flips is None:
        max_flips = 4 * len(S) + 10
    starts = [active0]
    for _ in range(restarts - 1):
        flip_rate = rng.random()
        starts.append(active0 ^ (rng.random(len(S)) < flip_rate))
    best = (math.inf, None, None)
    history, finals = [], []
    for active in starts:
        J, active, mu = _greedy_flips(prob, active.copy(), max_flips, history)
        finals.append(math.sqrt(J))
        if J < best[0]:
            best = (J, active, mu)
    _, active, mu = best
    return _pattern_weights(net, x, R, S, prob, active, mu), np.asarray(history), finals


def _greedy_flips(prob: _PatternProblem, active: np.ndarray, max_flips: int, history: list):
    """Steepest-descent over single flips of S_R at fixed mu, re-solving mu when stuck."""
    v = prob.vF + prob.U[active].sum(axis=0)
    V2 = float(v @ v)
    mu, J = prob.best_mu(active, math.sqrt(V2))
    history.append(math.sqrt(J))
    if len(prob.a) == 0:
        return J, active, mu
    D = prob.U @ v  # <v, u_s>
    flips = 0
    sm, R = prob.sm, prob.R
    while flips < max_flips:
        al = prob.alpha(mu)[0]
        gx, B = (float(t[0]) for t in prob.sums(active, mu))
        rho = np.sqrt(np.maximum(R**2 - al**2, 0.0))
        sgn = np.where(active, -1.0, 1.0)  # leaving (-) or joining (+) the active set
        gx_new = gx + sgn * sm * prob.a * (prob.p + al)
        B_new = B + sgn * sm * np.abs(prob.a) * rho
        V_new = np.sqrt(np.maximum(V2 + 2.0 * sgn * D + prob.q, 0.0))
        J_new = gx_new**2 + np.maximum(V_new - B_new, 0.0) ** 2
        J = gx**2 + max(math.sqrt(V2) - B, 0.0) ** 2
        s = int(np.argmin(J_new))
        if not J_new[s] < J * (1.0 - 1e-12):
            mu_new, J_re = prob.best_mu(active, math.sqrt(V2))
            if J_re < J * (1.0 - 1e-12):
                mu, J = mu_new, J_re
                history.append(math.sqrt(J))
                continue
            break
        active[s] = ~active[s]
        step = sgn[s] * prob.U[s]
        v = v + step
        V2 = float(v @ v)
        D = D + prob.U @ step
        flips += 1
        J = float(J_new[s])  # mu is re-solved only when no single flip helps any more
        history.append(math.sqrt(J))
    return J, active, mu


def _pattern_weights(net, x, R, S, prob: _PatternProblem, active_S, mu) -> np.ndarray:
    """Build W from (pattern on S, mu): alpha along x/||x||, beta aligned against P grad f."""
    m = net.spec.m
    W0, a = net.W, net.a
    xn = float(np.linalg.norm(x))
    xh = x / xn
    z = W0 @ x + net.b
    r = R * xn
    always = z > r
    alpha = np.where(always, -np.sign(a) * R * mu, 0.0)
    active = always.copy()
    # Activated rows sit strictly above their hyperplane and deactivated ones strictly below:
    # the relaxation's closure points (t = 0) are pushed inside by a margin negligible vs R.
    margin = 1e-9 * R
    kappa = -z[S] / xn
    al_S = prob.alpha(mu)[0]
    al_S = np.where(active_S, np.minimum(np.maximum(al_S, kappa + margin), R), al_S)
    al_S = np.where(~active_S & (z[S] > 0.0), np.maximum(kappa - margin, -R), al_S)
    al_S = np.where(~active_S & (z[S] <= 0.0), 0.0, al_S)
    alpha[S] = al_S
    active[S] = active_S
    v = prob.vF + prob.U[active_S].sum(axis=0)
    V = float(np.linalg.norm(v))
    rho = np.where(active, np.sqrt(np.maximum(R**2 - alpha**2, 0.0)), 0.0)
    B = float(np.abs(a) @ rho) / math.sqrt(m)
    W = W0 + np.outer(alpha, xh)
    if V > 0.0 and B > 0.0:
        tau = min(1.0, V / B)
        W -= np.outer(tau * rho * np.sign(a), v / V)
    return W


def _shrink_objective(net: Network, W: np.ndarray, x: np.ndarray):
    """(||g||^2, d||g||^2/dW) with g = grad_x f(x; W) (derivation Sec. 4, first display)."""
    act = net.spec.act
    m = net.spec.m
    t = W @ x + net.b
    d1 = act.dsigma(t)
    d2 = act.d2sigma(t)
    sm = 1.0 / math.sqrt(m)
    g = sm * (net.a * d1) @ W
    Wg = W @ g
    G = 2.0 * sm * (np.outer(net.a * d1, g) + np.outer(net.a * d2 * Wg, x))
    return float(g @ g), G


def _pgd_search(net: Network, x: np.ndarray, R: float, rng, restarts: int, steps: int, path: str):
    W0 = net.W
    starts = [W0.copy()]
    starts += [perturb(net, R, "random-ball", rng, path=path) for _ in range(restarts - 1)]
    best_val, best_W = math.inf, W0.copy()
    history, finals = [], []
    for W in starts:
        val, G = _shrink_objective(net, W, x)
        eta = 0.25  # moving every row by eta * gradient changes g by ~2 eta ||g||
        for _ in range(steps):
            for _ in range(40):  # Armijo backtracking for the projected step
                W_new = lazy_ball_project(W - eta * G, W0, R, path=path)
                val_new, G_new = _shrink_objective(net, W_new, x)
                step2 = float(np.sum((W_new - W) ** 2))
                if val_new <= val - 1e-4 * step2 / eta:
                    break
                eta *= 0.5
            else:
                break
            if step2 == 0.0:
                break
            W, val, G = W_new, val_new, G_new
            eta *= 1.5
            history.append(math.sqrt(min(val, best_val)))
        finals.append(math.sqrt(val))
        if val < best_val:
            best_val, best_W = val, W
    return best_W, np.asarray(history), finals


# ---------------------------------------------------------------------------------------------
# gradient drift over an input ball (docs/theory.md Sec. 3, Wang et al. Lemma 4.4)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DriftCertificate:
    """Certified upper bound on sup_{||delta|| <= rho} ||grad f(x + delta) - grad f(x)||.

    bound : min of the three bounds in ``terms``, widened by :data:`CERT_MARGIN`.
    terms : ``operator`` m^{-1/2} ||diag(a) W_S||_op ||kappa_S||_2 (docs/theory.md Sec. 3's formula
        m^{-1/2} ||W_S||_op sqrt(|S|) for relu with a = +-1), ``triangle``, ``gram``.
    n_flippable : |S| (relu: neurons whose activation some delta flips; smooth sigma: neurons
        whose sigma' can change at all).
    """

    bound: float
    terms: dict
    n_flippable: int


def gradient_drift_certificate(net: Network, x, rho: float) -> DriftCertificate:
    """Certified upper bound on sup_{||delta|| <= rho} ||grad f(x + delta) - grad f(x)||.

    grad f(x + delta) - grad f(x) = m^{-1/2} sum_s a_s (sigma'(t_s + <w_s, delta>) - sigma'(t_s))
    w_s and <w_s, delta> ranges over [-rho ||w_s||, rho ||w_s||]. For relu only
    S = { s : -rho ||w_s|| < t_s <= rho ||w_s|| } (t_s = <w_s, x> + b_s) can change, each by a
    known sign, giving docs/theory.md Sec. 3's m^{-1/2} ||W_S||_op sqrt(|S|) (a = +-1) among three
    valid bounds; for smooth sigma kappa_s = sup |sigma'(t) - sigma'(t_s)| over the reachable
    interval replaces the 0/1 indicator. Uses the network's W as it is (W0 or a point of the
    ball). Derivation: docs/derivations/gradient_certificates.md Sec. 6.
    """
    x = _one_input(net, x)
    rho = check_real("rho", rho, low=0.0)
    act = net.spec.act
    W, a = net.W, net.a
    t = W @ x + net.b
    reach = rho * np.linalg.norm(W, axis=1)
    dmin, dmax = _dsigma_range(act, t - reach, t + reach)
    d0 = act.dsigma(t)
    kappa = np.maximum(np.maximum(dmax - d0, d0 - dmin), 0.0)
    sel = np.flatnonzero(kappa > 0.0)
    U = a[sel, None] * W[sel]
    if act.piecewise_linear:
        U *= np.where(t[sel] > 0.0, -1.0, 1.0)[:, None]
    terms = _flip_sum_bound(U, kappa[sel], nonnegative=act.piecewise_linear)
    terms = {k: v / math.sqrt(net.spec.m) for k, v in terms.items()}
    bound = min(terms.values()) * (1.0 + CERT_MARGIN)
    return DriftCertificate(bound=bound, terms=terms, n_flippable=len(sel))


@dataclass(frozen=True)
class DriftSearchResult:
    """Result of :func:`gradient_drift_search`.

    delta : the best perturbation found, ||delta|| <= rho.
    value : ||grad f(x + delta) - grad f(x)|| at that delta, recomputed: a LOWER estimate of the
        sup over the ball.
    history : best value so far after each iteration (nondecreasing).
    certificate : :func:`gradient_drift_certificate` ``.bound``: the sup lies in
        [value, certificate].
    """

    delta: np.ndarray
    value: float
    history: np.ndarray
    certificate: float

    estimate_kind = "lower estimate of the supremum over the ball"


def gradient_drift_search(
    net: Network,
    x,
    rho: float,
    rng: np.random.Generator,
    steps: int = 40,
    restarts: int = 4,
    scales: tuple[float, ...] = (1.0, 0.5, 0.25),
    path: str = "numba",
) -> DriftSearchResult:
    """Search the ball ||delta|| <= rho for the largest ||grad f(x + delta) - grad f(x)||.

    Projected gradient ascent with normalised steps on D(delta) = ||Delta(delta)||,
    Delta = m^{-1/2} sum_s a_s (sigma'(t_s + <w_s, delta>) - sigma'(t_s)) w_s. relu's sigma' is a
    step, so D is piecewise constant; the ascent then uses the surrogate
    sigma'_tau(t) = logistic(t / tau) for the direction, annealing tau from c median||w_s|| / 2 to
    a thousandth of that, while every iterate is scored with the true D.

    Runs: every start direction u (the single-step attack directions +-grad f / ||grad f||, +-the
    top two right singular vectors of the rows whose sigma' can change, weighted by how much, and
    ``restarts`` uniform directions) at every cap c = scale * rho in ``scales``: start at c u, step
    length 2c decaying to c/50, project onto ||delta|| <= c. The smaller caps matter for relu,
    whose best cell is often inside the ball (flipping every reachable neuron is not best), where
    an ascent on the full ball is pushed to its boundary.

    The value is recomputed by :func:`theorycheck.forward.gradient_difference` at the returned
    delta: a LOWER estimate of the sup (docs/theory.md Sec. 3); the certified upper bound is
    returned
    beside it.
    """
    x = _one_input(net, x)
    rho = check_real("rho", rho, low=0.0)
    steps = check_int("steps", steps, minimum=0)
    restarts = check_int("restarts", restarts, minimum=0)
    scales = tuple(check_real("scales", c, low=0.0, high=1.0, low_open=True) for c in scales)
    check_path(path, what="gradient_drift_search")
    cert = gradient_drift_certificate(net, x, rho).bound
    d = net.spec.d
    if rho == 0.0 or not scales:
        return DriftSearchResult(np.zeros(d), 0.0, np.zeros(1), cert)
    act = net.spec.act
    W, a = net.W, net.a
    sm = 1.0 / math.sqrt(net.spec.m)
    t = W @ x + net.b
    d0 = act.dsigma(t)
    directions = []
    g = sm * (a * d0) @ W
    gn = float(np.linalg.norm(g))
    if gn > 0.0:
        directions += [g / gn, -g / gn]
    reach = rho * np.linalg.norm(W, axis=1)
    dmin, dmax = _dsigma_range(act, t - reach, t + reach)
    kappa = np.maximum(np.maximum(dmax - d0, d0 - dmin), 0.0)
    if np.any(kappa > 0.0):
        K = kappa[kappa > 0.0, None] * W[kappa > 0.0]
        _, vecs = np.linalg.eigh(K.T @ K)
        for j in range(1, min(2, d) + 1):
            directions += [vecs[:, -j], -vecs[:, -j]]
    G = rng.standard_normal((restarts, d))
    nrm = np.linalg.norm(G, axis=1, keepdims=True)
    directions += list(G / np.where(nrm > 0.0, nrm, 1.0))
    if not directions:
        directions = [np.zeros(d)]
    w_med = float(np.median(np.linalg.norm(W, axis=1)))

    def drift(tt):
        """The true Delta at pre-activations tt (sigma' exactly: relu's step, sigma'(0) = 0)."""
        return sm * (a * (act.dsigma(tt) - d0)) @ W

    best_val, best_delta = -1.0, np.zeros(d)
    history = []
    for c in scales:
        cap = c * rho
        tau0 = 0.5 * cap * w_med
        for u in directions:
            delta = cap * u
            tt = t + W @ delta
            val = float(np.linalg.norm(drift(tt)))
            if val > best_val:
                best_val, best_delta = val, delta.copy()
            for k in range(steps):
                frac = k / max(steps - 1, 1)
                if act.piecewise_linear:
                    tau = tau0 * 1e-3**frac
                    s1 = special.expit(tt / tau)
                    slope = s1 * (1.0 - s1) / tau
                    Delta = sm * (a * (s1 - d0)) @ W
                else:
                    slope = act.d2sigma(tt)
                    Delta = drift(tt)
                dn = float(np.linalg.norm(Delta))
                if dn == 0.0:
                    direction = rng.standard_normal(d)  # flat: take a random step out of it
                else:
                    direction = sm * (a * slope * (W @ (Delta / dn))) @ W
                nd = float(np.linalg.norm(direction))
                if nd == 0.0:
                    break
                delta = delta + cap * 2.0 * 0.01**frac * direction / nd
                dl = float(np.linalg.norm(delta))
                if dl > cap:
                    delta *= cap / dl
                tt = t + W @ delta
                val = float(np.linalg.norm(drift(tt)))
                if val > best_val:
                    best_val, best_delta = val, delta.copy()
                history.append(best_val)
    if act.piecewise_linear:
        best_delta, best_val = _toggle_polish(W, a, t, d0, best_delta, best_val, rho, history)
    # The reported value is recomputed by the library's estimator at the returned delta.
    best_val = float(gradient_difference(net, x, best_delta, path=path)[0])
    history = np.maximum.accumulate(np.asarray(history if history else [best_val]))
    return DriftSearchResult(best_delta, best_val, history, cert)


def _toggle_polish(W, a, t, d0, delta, val, rho, history, n_near=32, rounds=30):
    """relu: greedy single-neuron toggles from delta, scored with the true drift.

    Candidates are the ``n_near`` neurons whose hyperplane <w_s, x + delta> + b_s = 0 is nearest;
    each is moved just across it by the smallest change of delta (along w_s), projected back onto
    the ball. The best improving candidate is taken, up to ``rounds`` times. This reaches small
    cells next to the ascent's end point that the smoothed ascent steps over.
    """
    sm = 1.0 / math.sqrt(W.shape[0])
    wn2 = np.einsum("ij,ij->i", W, W)
    for _ in range(rounds):
        tt = t + W @ delta
        dist = np.abs(tt) / np.sqrt(np.where(wn2 > 0.0, wn2, np.inf))
        near = np.argsort(dist, kind="stable")[:n_near]
        near = near[wn2[near] > 0.0]
        if near.size == 0:
            return delta, val
        target = np.where(tt[near] > 0.0, -1e-9, 1e-9) * np.sqrt(wn2[near]) * rho
        cand = delta[None, :] + ((target - tt[near]) / wn2[near])[:, None] * W[near]
        norms = np.linalg.norm(cand, axis=1)
        cand *= np.minimum(1.0, rho / np.where(norms > 0.0, norms, 1.0))[:, None]
        TT = t[None, :] + cand @ W.T
        vals = np.linalg.norm(sm * (((TT > 0.0) - d0) * a) @ W, axis=1)
        j = int(np.argmax(vals))
        if not vals[j] > val:
            return delta, val
        delta, val = cand[j], float(vals[j])
        history.append(val)
    return delta, val
