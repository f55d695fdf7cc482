"""kkt-universal-perturbation: gradient methods converge to non-robust networks (Vardi, Yehudai,
Shamir 2022, "Gradient Methods Provably Converge to Non-Robust Networks", NeurIPS 2022).

Data: n points uniform on the sphere of radius sqrt(d), labels exactly balanced (n/2 each, in a
random order). A depth-2 relu network with biases, f(x) = sum_k a_k relu(<w_k, x> + b_k), width
k, is trained on the exponential (or logistic) loss until the loss is below ``target_loss``
(1e-30 as in the paper's experiments). Per network:

* the KKT residual of the max-margin problem min ||theta||^2/2 s.t. y_i f(x_i) >= 1 (Lyu & Li
  2020, the limit of gradient flow) at the loss checkpoints 1e-2, 1e-5, 1e-10, 1e-20, 1e-30;
* the universal perturbation delta = eta sum_i y_i x_i of Vardi et al.'s main theorem:
  eta_min, the smallest eta > 0 at which x_i - y_i delta is misclassified for every i, exactly
  (f is piecewise linear along the line), and checked by forward passes at eta_min;
  ||delta_min|| = eta_min ||sum_i y_i x_i|| against O(sqrt(d / (c^2 n))) (c = 1/2: balanced
  classes) through its implied constant over d and over n;
* the robust network of the same data (the construction behind the paper's theorem "robust
  networks exist", one relu per training point, each active on its own point only) and its
  certified l2 radius, of order sqrt(d), with the flip distance of an explicit attack (segments
  to the nearest points of the other class) beside it.

The reduction to the span (exact, docs below): every training input, every gradient of the loss
with respect to w_k and the perturbation direction lie in span(x_1, ..., x_n). With an
orthonormal basis Q of that span, x_i = Q z_i, and w_k = Q v_k + w_k_perp where w_k_perp never
moves under gradient flow and never meets any input of the experiment. So the network is trained
and attacked in R^n coordinates (v_k, b_k, a_k), and only ||w_k_perp||^2 enters (the parameter
norm of the KKT residual). The coordinates z_i are drawn from their exact law (Bartlett's
decomposition of the Gaussian Gram matrix, normalised rows), so the cost does not depend on d;
the tests train the materialised d-dimensional network from the same start and get the same
numbers.

Training: gradient flow on the loss L, reparametrised in time (any positive rescaling of
-grad L traces the same trajectory), discretised with steps of relative length ``step``:
theta <- theta + step ||theta|| g / ||g||, g = -grad log L (a softmax-weighted sum of the margin
gradients, computed in the log domain). The loss falls below 1e-30 in a few hundred steps while
plain gradient descent would need ~1e30.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize, special
from threadpoolctl import threadpool_limits

from theorycheck.bounds import get_bound
from theorycheck.numbers import num
from theorycheck.rates import implied_constant
from theorycheck.seeding import generator
from theorycheck.simulation import Evaluation, FigureSpec, Simulation
from theorycheck.simulations._common import law_summary, main
from theorycheck.verdicts import (
    Evidence,
    Quantifier,
    convergence_verdict,
    description,
    implied_constant_verdict,
    statement_verdict,
)

#: Loss checkpoints at which the KKT residual is measured (the last is the stopping target).
CHECKPOINTS = (1e-2, 1e-5, 1e-10, 1e-20, 1e-30)


# -- data --------------------------------------------------------------------------------------


def sphere_coordinates(n: int, d: int, rng) -> np.ndarray:
    """Coordinates z_i in R^n (rows), in an orthonormal basis of their span, of n points i.i.d.
    uniform on the sphere of radius sqrt(d) in R^d (n <= d).

    Bartlett's decomposition: for G (n x d) with N(0, 1) entries, G = L Q^T with Q^T Q = I and L
    lower triangular, L_jj^2 ~ chi^2_{d-j} (j = 0, ..., n-1) and L_jl ~ N(0, 1) below the
    diagonal, independent (Bartlett 1933; Muirhead 1982, Thm. 3.2.14). Rows of G/||G_i|| are
    uniform on the unit sphere, so z_i = sqrt(d) L_i / ||L_i||. O(n^2) whatever d.
    """
    if n > d:
        raise ValueError(f"n = {n} points need d >= n, got d = {d}")
    L = np.tril(rng.standard_normal((n, n)), -1)
    L[np.diag_indices(n)] = np.sqrt(rng.chisquare(d - np.arange(n)))
    return math.sqrt(d) * L / np.linalg.norm(L, axis=1, keepdims=True)


def balanced_labels(n: int, rng) -> np.ndarray:
    """n labels, floor(n/2) of them -1 and the rest +1, in a uniformly random order."""
    y = np.where(np.arange(n) < n // 2, -1.0, 1.0)
    return rng.permutation(y)


# -- the network in span coordinates ------------------------------------------------------------


@dataclass
class Net:
    """A depth-2 relu network f(x) = sum_k a_k relu(<v_k, z> + b_k) in span coordinates, with the
    squared norms ``perp`` (one per neuron) of the weight components outside the span."""

    V: np.ndarray  # (k, n)
    b: np.ndarray  # (k,)
    a: np.ndarray  # (k,)
    perp: np.ndarray  # (k,)

    def __call__(self, Z) -> np.ndarray:
        return np.maximum(Z @ self.V.T + self.b, 0.0) @ self.a

    def sq_norm(self) -> float:
        return float((self.V**2).sum() + self.perp.sum() + (self.b**2).sum() + (self.a**2).sum())


def init_net(k: int, n: int, d: int, rng, scale: float = 1.0) -> Net:
    """w_k ~ N(0, scale^2 I_d / d), b = 0, a_k = +-scale / sqrt(k): the span coordinates of w_k
    are N(0, scale^2/d) each and ||w_k_perp||^2 ~ (scale^2/d) chi^2_{d-n}, independent."""
    s2 = scale**2 / d
    V = math.sqrt(s2) * rng.standard_normal((k, n))
    perp = s2 * rng.chisquare(d - n, size=k) if d > n else np.zeros(k)
    a = scale * rng.choice((-1.0, 1.0), size=k) / math.sqrt(k)
    return Net(V, np.zeros(k), a, perp)


def margins(net: Net, Z, y) -> np.ndarray:
    return y * net(Z)


def log_loss(q, loss: str) -> float:
    """log L for margins q: L = sum exp(-q) or sum log(1 + exp(-q)), in the log domain."""
    if loss == "exp":
        return float(special.logsumexp(-q))
    return float(special.logsumexp(np.log(np.maximum(_log1pexp(-q), 1e-320))))


def _log1pexp(t):
    return np.logaddexp(0.0, t)


def _weights(q, loss: str) -> np.ndarray:
    """-l'(q_i), scaled by a common positive factor (only the direction of the step matters)."""
    if loss == "exp":
        lw = -q
    else:  # -l'(q) = 1 / (1 + e^q)
        lw = -_log1pexp(q)
    return np.exp(lw - lw.max())


def margin_gradients(net: Net, Z, y):
    """The gradients of q_i = y_i f(x_i) with respect to (V, b, a): arrays (n, k, n), (n, k),
    (n, k) (rows i)."""
    A = Z @ net.V.T + net.b
    D = (A > 0).astype(float)
    H = A * D
    gb = y[:, None] * D * net.a[None, :]
    gV = gb[:, :, None] * Z[:, None, :]
    ga = y[:, None] * H
    return gV, gb, ga


def train(net: Net, Z, y, loss: str = "exp", step: float = 0.02, target: float = 1e-30,
          max_steps: int = 20_000, checkpoints=CHECKPOINTS):  # fmt: skip
    """Train ``net`` in place (see the module docstring) until the loss is <= ``target``.

    Returns (steps, final log loss, {checkpoint: (step, KKT residuals)}) with the residuals of
    :func:`kkt_residual` measured the first time the loss falls below each checkpoint."""
    log_targets = sorted((math.log(c), c) for c in checkpoints if c >= target)[::-1]
    record = {}
    t = 0
    while True:
        A = Z @ net.V.T + net.b
        D = (A > 0).astype(float)
        q = y * (np.maximum(A, 0.0) @ net.a)
        ll = log_loss(q, loss)
        while log_targets and ll <= log_targets[0][0]:
            record[log_targets.pop(0)[1]] = (t, kkt_residual(net, Z, y))
        if ll <= math.log(target) or t >= max_steps:
            return t, ll, record
        w = _weights(q, loss) * y  # (n,)
        gb = (D * w[:, None]).sum(axis=0) * net.a
        ga = (A * D).T @ w
        gV = net.a[:, None] * ((D * w[:, None]).T @ Z)
        gnorm = math.sqrt(float((gV**2).sum() + (gb**2).sum() + (ga**2).sum()))
        if gnorm == 0.0:  # every neuron off on every point: a stationary point, training stops
            return t, ll, record
        lam = step * math.sqrt(net.sq_norm()) / gnorm
        net.V += lam * gV
        net.b += lam * gb
        net.a += lam * ga
        t += 1


def train_batch(nets: list[Net], Zs, ys, loss: str = "exp", step: float = 0.02,
                target: float = 1e-30, max_steps: int = 20_000,
                checkpoints=CHECKPOINTS) -> list[tuple[int, float, dict]]:  # fmt: skip
    """:func:`train` on several networks of the same shape at once (stacked arrays, one Python
    loop for all): the same updates, each network stopping at its own target. Returns one
    :func:`train` result per network; ``nets`` are trained in place."""
    R = len(nets)
    V = np.stack([net.V for net in nets])
    b = np.stack([net.b for net in nets])
    a = np.stack([net.a for net in nets])
    perp = np.stack([net.perp for net in nets]).sum(axis=1)
    Z, y = np.stack(Zs), np.stack(ys)
    targets = sorted((c for c in checkpoints if c >= target), reverse=True)
    records = [{} for _ in range(R)]
    steps = np.zeros(R, dtype=np.int64)
    final = np.zeros(R)
    active = np.ones(R, dtype=bool)
    dead = np.zeros(R, dtype=bool)
    t = 0
    while True:
        A = Z @ V.transpose(0, 2, 1) + b[:, None, :]  # (R, n, k)
        D = (A > 0).astype(float)
        H = A * D
        q = y * np.einsum("rnk,rk->rn", H, a)
        lw = -q if loss == "exp" else -_log1pexp(q)
        ll = special.logsumexp(-q if loss == "exp" else np.log(np.maximum(_log1pexp(-q), 1e-320)),
                               axis=1)  # fmt: skip
        for r in np.flatnonzero(active):
            net = Net(V[r], b[r], a[r], nets[r].perp)
            for c in targets:
                if c not in records[r] and ll[r] <= math.log(c):
                    records[r][c] = (t, kkt_residual(net, Z[r], y[r]))
            if ll[r] <= math.log(target) or t >= max_steps or dead[r]:
                active[r] = False
                steps[r], final[r] = t, ll[r]
        if not active.any():
            break
        w = np.exp(lw - lw.max(axis=1, keepdims=True)) * y  # (R, n)
        Dw = D * w[:, :, None]
        gb = Dw.sum(axis=1) * a
        ga = np.einsum("rnk,rn->rk", H, w)
        gV = a[:, :, None] * (Dw.transpose(0, 2, 1) @ Z)
        gnorm = np.sqrt((gV**2).sum(axis=(1, 2)) + (gb**2).sum(axis=1) + (ga**2).sum(axis=1))
        dead = gnorm == 0.0  # every neuron off on every point: stopped at the next look
        sq = (V**2).sum(axis=(1, 2)) + perp + (b**2).sum(axis=1) + (a**2).sum(axis=1)
        moving = active & ~dead
        lam = np.where(moving, step * np.sqrt(sq) / np.where(moving, gnorm, 1.0), 0.0)
        V += lam[:, None, None] * gV
        b += lam[:, None] * gb
        a += lam[:, None] * ga
        t += 1
    out = []
    for r, net in enumerate(nets):
        net.V, net.b, net.a = V[r].copy(), b[r].copy(), a[r].copy()
        out.append((int(steps[r]), float(final[r]), records[r]))
    return out


def kkt_residual(net: Net, Z, y) -> dict:
    """Distance of ``net`` from a KKT point of min ||theta||^2/2 s.t. y_i f(x_i) >= 1.

    theta is rescaled to min_i q_i = 1 (q 2-homogeneous: theta / sqrt(q_min)); with the margin
    gradients J (one column per point, taken at the rescaled theta, relu'(0) = 0) the multipliers
    are lambda = argmin_{lambda >= 0} ||theta - J lambda|| (non-negative least squares), and
    ``stationarity`` = ||theta - J lambda|| / ||theta|| (the perpendicular weights, which no
    gradient reaches, counted in), ``slackness`` = sum lambda_i (q_i - 1) / ||theta||^2 (Lyu & Li
    2020, Def. of an (eps, delta)-approximate KKT point, made scale-free). Both are 0 at a KKT
    point. Computed from the n x n Gram matrix of the gradients,
    <grad q_i, grad q_j> = y_i y_j (sum_k a_k^2 D_ik D_jk (<z_i, z_j> + 1) + sum_k H_ik H_jk),
    and <grad q_i, theta> = 2 q_i (Euler: q is 2-homogeneous); :func:`kkt_residual_reference`
    forms J explicitly (tested equal).
    """
    q = margins(net, Z, y)
    qmin = float(q.min())
    if qmin <= 0:
        return {"stationarity": math.nan, "slackness": math.nan}
    s2 = 1.0 / qmin
    A = Z @ net.V.T + net.b
    D = (A > 0).astype(float)
    H = A * D
    gram = (((D * net.a**2) @ D.T) * (Z @ Z.T + 1.0) + H @ H.T) * np.outer(y, y) * s2
    rhs = 2.0 * q * s2  # <grad q_i(theta s), theta s> = 2 q_i(theta s) = 2 q_i s^2
    sq = net.sq_norm() * s2
    lam = _nnls_gram(gram, rhs)
    res2 = max(sq - 2.0 * float(lam @ rhs) + float(lam @ gram @ lam), 0.0)
    slack = float(lam @ (q * s2 - 1.0)) / sq
    return {"stationarity": math.sqrt(res2 / sq), "slackness": slack}


def _nnls_gram(gram, rhs) -> np.ndarray:
    """argmin_{lambda >= 0} lambda' G lambda - 2 rhs' lambda, by non-negative least squares on a
    square root of G (eigenvalues clipped at 0: G is a Gram matrix)."""
    w, U = np.linalg.eigh(gram)
    keep = w > w.max() * 1e-13
    R = (U[:, keep] * np.sqrt(w[keep])).T  # R'R = G on its range
    target = (U[:, keep].T @ rhs) / np.sqrt(w[keep])
    lam, _ = optimize.nnls(R, target, maxiter=50 * len(rhs))
    return lam


def kkt_residual_reference(net: Net, Z, y) -> dict:
    """:func:`kkt_residual` with the gradients formed explicitly (the readable reference)."""
    q = margins(net, Z, y)
    qmin = float(q.min())
    s = 1.0 / math.sqrt(qmin)
    gV, gb, ga = margin_gradients(net, Z, y)
    J = np.concatenate([gV.reshape(len(y), -1), gb, ga], axis=1).T * s
    theta = np.concatenate([net.V.ravel(), net.b, net.a]) * s
    lam, res = optimize.nnls(J, theta, maxiter=50 * len(y))
    perp = float(net.perp.sum()) * s * s
    sq = float(theta @ theta) + perp
    return {
        "stationarity": math.sqrt(res**2 + perp) / math.sqrt(sq),
        "slackness": float(lam @ (q * s * s - 1.0)) / sq,
    }


# -- the universal perturbation -----------------------------------------------------------------


def flipped_intervals(net: Net, z, yi: float, u) -> list[tuple[float, float]]:
    """The set {eta > 0 : y_i f(z - y_i eta u) < 0} as a sorted list of open intervals (exact:
    f is piecewise linear along the line, with a kink where a pre-activation changes sign; beyond
    the last kink it is linear)."""
    A = net.V @ z + net.b  # pre-activations at eta = 0
    c = yi * (net.V @ u)  # they fall at rate c: A - eta c
    with np.errstate(divide="ignore", invalid="ignore"):
        kinks = np.where(c != 0, A / c, np.inf)
    kinks = np.unique(kinks[(kinks > 0) & np.isfinite(kinks)])
    last = float(kinks[-1]) if kinks.size else 0.0
    pts = np.concatenate([[0.0], kinks, [2.0 * last + 1.0]])
    g = yi * (np.maximum(A[None, :] - pts[:, None] * c[None, :], 0.0) @ net.a)
    # a value at rounding level is 0 (e.g. every neuron off between two kinks): not a flip
    g[np.abs(g) <= 1e-10 * np.abs(g).max()] = 0.0
    return negative_intervals(pts, g)


def negative_intervals(pts, g) -> list[tuple[float, float]]:
    """{t > pts[0] : h(t) < 0} for the piecewise-linear h with h(pts[j]) = g[j], linear between
    the (increasing) points and beyond the last one, as sorted open intervals."""
    out = []
    start = pts[0] if g[0] < 0 else None
    for j in range(1, len(pts)):
        t0, t1, g0, g1 = pts[j - 1], pts[j], g[j - 1], g[j]
        if start is None and g1 < 0:
            start = t0 + (t1 - t0) * g0 / (g0 - g1) if g0 > 0 else t0
        elif start is not None and g1 >= 0:
            out.append((start, t0 + (t1 - t0) * g0 / (g0 - g1) if g1 > 0 else t1))
            start = None
    slope = (g[-1] - g[-2]) / (pts[-1] - pts[-2])
    if start is None and slope < 0:
        out.append((pts[-1] + g[-1] / -slope if g[-1] > 0 else pts[-1], math.inf))
    elif start is not None:
        out.append((start, pts[-1] - g[-1] / slope if slope > 0 else math.inf))
    return [(s, t) for s, t in out if t > s]


def first_flips(net: Net, Z, y) -> np.ndarray:
    """Per point, the smallest eta > 0 at which x_i - y_i eta sum_j y_j x_j is misclassified
    (inf if none); their maximum is the paper's "maximum eta_min over the samples"."""
    u = y @ Z
    out = np.full(len(y), math.inf)
    for i in range(len(y)):
        iv = flipped_intervals(net, Z[i], y[i], u)
        if iv:
            out[i] = iv[0][0]
    return out


def universal_eta(net: Net, Z, y) -> tuple[float, float]:
    """(eta_min, eta_check): eta_min = inf {eta > 0 : y_i f(x_i - y_i eta u) < 0 for every i},
    u = sum_i y_i x_i (inf when no eta flips every point), and a point eta_check just above it
    inside the common flipped interval, where :func:`verify_flips` checks the forward passes."""
    u = y @ Z
    ivs = [flipped_intervals(net, Z[i], y[i], u) for i in range(len(y))]
    if any(not iv for iv in ivs):
        return math.inf, math.inf
    first = max(iv[0][0] for iv in ivs)  # no eta below every point's first flip flips them all
    candidates = [first, *sorted({s for iv in ivs for s, _ in iv if s > first})]
    for e in candidates:
        ends = []
        for iv in ivs:
            hit = [t for s, t in iv if s <= e < t]
            if not hit:
                break
            ends.append(hit[0])
        else:
            top = min(ends)
            # just above eta_min, inside the common interval, far enough for the forward
            # passes to see the sign beyond rounding (1e-6 relative)
            check = e + min(0.5 * (top - e), 1e-6 * e) if math.isfinite(top) else e * (1 + 1e-6)
            return e, check
    return math.inf, math.inf


def verify_flips(net: Net, Z, y, eta: float) -> bool:
    """Forward passes: every x_i - y_i eta sum_j y_j x_j is classified -y_i (f != 0)."""
    u = y @ Z
    f = net(Z - (y * eta)[:, None] * u[None, :])
    return bool(np.all(np.sign(f) == -y))


# -- the robust network -------------------------------------------------------------------------


def robust_net(Z, y, d: int) -> tuple[Net, float]:
    """The robust network of the data: one neuron per point, v_j = z_j, b_j = -beta d, a_j = y_j,
    beta = (1 + rho)/2 with rho = max_{i != j} |<x_i, x_j>| / d. Returns (net, beta)."""
    G = Z @ Z.T
    off = G[~np.eye(len(y), dtype=bool)]
    rho = float(np.abs(off).max() / d) if off.size else 0.0
    beta = (1 + rho) / 2
    n = len(y)
    return Net(Z.copy(), np.full(n, -beta * d), y.copy(), np.zeros(n)), beta


def certified_radius(Z, y, d: int, beta: float) -> np.ndarray:
    """Per point, a radius r_i such that every ||delta|| < r_i keeps sign f(x_i + delta) = y_i for
    :func:`robust_net` (any delta in R^d): with ||x_j|| = sqrt(d), Cauchy-Schwarz keeps each
    neuron j of the other class off while <x_j, x_i> + sqrt(d) r <= beta d, and the point's own
    neuron on at value >= (1 - beta) d - sqrt(d) ||delta|| > 0; neurons of its own class only add.
    r_i = min((1 - beta) sqrt(d), min_{y_j != y_i} (beta d - <x_j, x_i>) / sqrt(d)), which is
    >= (1 - rho) sqrt(d) / 2."""
    G = Z @ Z.T
    other = y[:, None] != y[None, :]
    sd = math.sqrt(d)
    gap = np.where(other, (beta * d - G) / sd, np.inf).min(axis=1)
    return np.minimum((1 - beta) * sd, gap)


def segment_attack(net: Net, Z, y, i: int, j: int) -> float:
    """||delta|| at the first flip of f along the segment from x_i to x_j (y_j != y_i), by the
    exact piecewise-linear analysis along the line: an upper estimate of the smallest flipping
    perturbation of x_i."""
    u = Z[i] - Z[j]
    # x_i - y_i eta (y_i u) = x_i + eta (x_j - x_i): eta = 1 is x_j (a flip beyond it still counts)
    ivs = flipped_intervals(net, Z[i], y[i], y[i] * u)
    if not ivs:
        return math.inf
    return ivs[0][0] * float(np.linalg.norm(u))


# -- the simulation -----------------------------------------------------------------------------

#: Failure probability of the high-probability readings (the implied constants' quantile level).
GAMMA = 0.1
N_BOOT = 1000
#: Relative step of the discretised flow and the scale of the initialisation (small, so that the
#: directions are set by training, not by the initial weights).
STEP = 0.02
INIT_SCALE = 1e-3
TARGET_LOSS = 1e-30
#: Points of the other class each training point is attacked towards (the closest ones).
ATTACK_TARGETS = 4
#: The loss checkpoints as ell = log10(1/L).
ELLS = tuple(round(-math.log10(c)) for c in CHECKPOINTS)


@dataclass(frozen=True)
class KKTConfig:
    series: str  # "over-d" (n fixed), "over-n" (d fixed), "beyond" (n past the condition)
    d: int
    n: int
    width: int
    loss: str  # "exp" or "logistic"
    networks_per_block: int
    n_blocks: int
    step: float = STEP
    init_scale: float = INIT_SCALE
    target_loss: float = TARGET_LOSS


def measure_network(net: Net, Z, y, d: int, result, target: float = TARGET_LOSS) -> dict:
    """One row: the trained ``net`` (``result`` from :func:`train`), its universal perturbation
    checked by forward passes, the robust network of the same data and its certificate."""
    steps, ll, record = result
    n = len(y)
    G = Z @ Z.T
    max_inner = float(np.abs(G[~np.eye(n, dtype=bool)]).max())
    c = float(min(np.sum(y > 0), np.sum(y < 0)) / n)
    u = y @ Z
    eta, check = universal_eta(net, Z, y)
    verified = bool(math.isfinite(eta) and verify_flips(net, Z, y, check))
    delta = eta * float(np.linalg.norm(u))
    rob, beta = robust_net(Z, y, d)
    cert = certified_radius(Z, y, d, beta)
    # attack each point towards the 4 closest points of the other class
    other = y[:, None] != y[None, :]
    nearest = np.argsort(-np.where(other, G, -np.inf), axis=1)[:, :ATTACK_TARGETS]
    attack = min(
        segment_attack(rob, Z, y, i, int(j)) for i in range(n) for j in nearest[i] if other[i, j]
    )
    reta, rcheck = universal_eta(rob, Z, y)
    row = {
        "d": d, "n": n, "c": c, "max_inner": max_inner,
        "s": float(3 * n * (max_inner + 1) / (d + 1)), "rho": max_inner / d,
        "steps": steps, "log10_loss": ll / math.log(10), "reached": bool(ll <= math.log(target)),
        "sum_norm": float(np.linalg.norm(u)), "eta_min": eta, "delta_norm": delta,
        "eta_first_max": float(first_flips(net, Z, y).max()),
        "verified": verified,
        "delta_over_sqrt_d": delta / math.sqrt(d),
        "robust_certified": float(cert.min()), "robust_certified_max": float(cert.max()),
        "robust_attack": attack, "robust_universal": reta * float(np.linalg.norm(u)),
        "robust_universal_verified": bool(math.isfinite(reta) and verify_flips(rob, Z, y, rcheck)),
        "robust_fits": bool(np.all(np.sign(rob(Z)) == y)),
    }  # fmt: skip
    for cp, ell in zip(CHECKPOINTS, ELLS, strict=True):
        res = record.get(cp, (math.nan, {"stationarity": math.nan, "slackness": math.nan}))[1]
        row[f"kkt_stationarity_{ell}"] = res["stationarity"]
        row[f"kkt_slackness_{ell}"] = res["slackness"]
    return row


class KKTUniversalPerturbation(Simulation):
    id = "kkt-universal-perturbation"
    title = "Trained depth-2 relu networks admit a universal perturbation (Vardi et al. 2022)"
    claims = (
        "vardi2022.universal_perturbation",
        "vardi2022.robust_network",
        "vardi2022.kkt_direction",
        "vardi2022.sphere_inner_products",
    )
    limitations = (
        "The main theorem speaks about every KKT point of the max-margin problem; the product "
        "checks networks trained by a discretised gradient flow until the loss is 1e-30 (the "
        "paper's experiment), which are approximate KKT points only: their measured stationarity "
        "residual falls slowly (about 0.13 to 0.09 from loss 1e-2 to 1e-30 at width 100, flatter "
        "at width 50), while the complementary slackness falls like 1/log(1/L) (directional "
        "convergence of gradient flow is logarithmically slow). The verdicts on the universal "
        "perturbation are therefore about trained networks on random data (random data and "
        "initialisation; the quantile is 1 - gamma), not about every KKT point. eta_min is exact "
        "for each network (f is piecewise linear along the line) and every value is checked by "
        "forward passes. The robust network is the one-neuron-per-point construction; its radius "
        "is certified (a proven lower bound), the attack along the segments to the 4 nearest "
        "points of the other class gives an upper estimate. Networks are trained in the span of "
        "the data (exact, see the module); d costs nothing, n and the width set the time."
    )

    def _configs(self, profile):
        if profile == "quick":
            per, blocks, width = 5, 1, 50
            dims, n_fixed = (10**4, 10**5, 10**6, 10**7), 8
            # d = 1e8 keeps n up to ~600 inside the separation condition; the implied constant
            # rises from 0.5 (n = 4, the linear model's c) and levels off near 0.8 by n ~ 100
            ns, d_fixed = (8, 16, 32, 64, 128), 10**8
            beyond, d_beyond = (32, 128), 10**4
            logistic = (4, 8, 16, 32, 64)
        else:
            per, blocks, width = 20, 2, 100
            dims, n_fixed = (10**4, 10**4.5, 10**5, 10**5.5, 10**6, 10**6.5, 10**7), 8
            ns, d_fixed = (8, 16, 32, 64, 128, 256), 10**8
            beyond, d_beyond = (32, 128, 256), 10**4
            logistic = (8, 16, 32, 64, 128, 256)
        for d in dims:
            yield KKTConfig("over-d", round(d), n_fixed, width, "exp", per, blocks)
        for n in ns:
            yield KKTConfig("over-n", d_fixed, n, width, "exp", per, blocks)
        for n in logistic:
            yield KKTConfig("over-n", d_fixed, n, width, "logistic", per, blocks)
        for n in beyond:
            yield KKTConfig("beyond", d_beyond, n, width, "exp", per, blocks)

    # -- measurement -------------------------------------------------------------------------
    def measure(self, config: KKTConfig, rng) -> pd.DataFrame:
        d, n, R = config.d, config.n, config.networks_per_block
        Zs, ys, nets = [], [], []
        for _ in range(R):
            Zs.append(sphere_coordinates(n, d, rng))
            ys.append(balanced_labels(n, rng))
            nets.append(init_net(config.width, n, d, rng, scale=config.init_scale))
        rows = []
        # n x n and k x n matrices: one BLAS thread is fastest (threads only contend)
        with threadpool_limits(1):
            results = train_batch(nets, Zs, ys, loss=config.loss, step=config.step,
                                  target=config.target_loss)  # fmt: skip
            for r in range(R):
                row = measure_network(nets[r], Zs[r], ys[r], d, results[r], config.target_loss)
                rows.append({"replicate": r, **row})
        return pd.DataFrame(rows)

    # -- evaluation --------------------------------------------------------------------------
    #: The bounds the implied constants divide by (a test may plant a wrong one).
    universal_bound = get_bound("vardi2022.universal_perturbation")
    robust_bound = get_bound("vardi2022.robust_network")
    inner_bound = get_bound("vardi2022.sphere_inner_products")

    def implied(self, df) -> np.ndarray:
        """||delta_min|| divided by the bound at C = 1, per network."""
        rate = self.universal_bound(d=df["d"].to_numpy(), n=df["n"].to_numpy(),
                                    c=df["c"].to_numpy(), s=df["s"].to_numpy(), C=1.0)  # fmt: skip
        return df["delta_norm"].to_numpy(dtype=float) / np.asarray(rate, dtype=float)

    def evaluate(self, data) -> Evaluation:
        verdicts, summary = [], []
        for cfg, df in sorted(data.items(), key=lambda kv: (kv[0].series, kv[0].loss, kv[0].d,
                                                              kv[0].n)):  # fmt: skip
            verdicts.append(self._flip_row(cfg, df))
            summary += self._point_summary(cfg, df)
        groups: dict[tuple, dict] = {}
        for cfg, df in data.items():
            groups.setdefault((cfg.series, cfg.loss), {})[cfg] = df
        for (series, loss), group in sorted(groups.items()):
            v, s = self._implied_rows(series, loss, group)
            verdicts += v
            summary += s
            v, s = self._kkt_rows(series, loss, group)
            verdicts += v
            summary += s
            if series == "over-d" and loss == "exp" and len(group) >= 2:
                v, s = self._robust_rows(group)
                verdicts += v
                summary += s
                verdicts += self._inner_rows(group)
        figures = [
            FigureSpec(
                "perturbation", "Universal perturbation of trained networks ||delta_min|| "
                "(mean, 95% CI) against sqrt(d/(c^2 n)) (the bound at C = 1), and the robust "
                "network's certified radius", "d or n", "l2 norm", logx=True, logy=True,
            ),
            FigureSpec(
                "eta-min", "eta_min: the smallest eta with x_i - y_i eta sum_j y_j x_j "
                "misclassified for every i (mean, 95% CI)", "d or n", "eta_min", logx=True,
                logy=True,
            ),
            FigureSpec(
                "implied-constant", "Implied constant ||delta_min|| / sqrt(d/(c^2 n)) "
                f"(its {1 - GAMMA:g} quantile, bootstrap CI); must stay bounded", "d or n",
                "implied constant", logx=True, logy=True,
            ),
            FigureSpec(
                "kkt-residual", "KKT residual of the max-margin problem along training "
                "(mean over networks, 95% CI): stationarity and complementary slackness",
                "log10(1/loss)", "residual", logx=True, logy=True,
            ),
            FigureSpec(
                "robust", "Robust network of the same data: certified radius / sqrt(d) and the "
                "attack's flip distance / sqrt(d), against the trained networks' "
                "||delta_min|| / sqrt(d)", "dimension d", "norm / sqrt(d)", logx=True, logy=True,
            ),
        ]  # fmt: skip
        frame = pd.DataFrame(summary)
        drawn = set(frame["figure"]) if len(frame) else set()
        return Evaluation(verdicts, frame, [f for f in figures if f.name in drawn])

    @staticmethod
    def _base(cfg) -> dict:
        return {"series": cfg.series, "loss": cfg.loss, "width": cfg.width}

    def _flip_row(self, cfg, df):
        """Every network that reached the target loss has a universal delta = eta_min sum y_i x_i,
        checked by forward passes (a deterministic check of the existence part of the main
        theorem on each trained network); networks that did not (all neurons dead) are counted
        apart."""
        missed = int(np.count_nonzero(~df["reached"].to_numpy(dtype=bool)))
        df = _reached(df)
        ok = df["verified"].to_numpy(dtype=bool)
        params = {**self._base(cfg), "d": cfg.d, "n": cfg.n, "c": float(df["c"].min()),
                  "s": float(df["s"].max())}  # fmt: skip
        bad = int(np.count_nonzero(~ok))
        return statement_verdict(
            "vardi2022.universal_perturbation", self.id, params,
            "delta = eta_min sum_i y_i x_i flips every training point (forward passes)",
            bad == 0, estimate=float(self.implied(df).max()) if len(df) else math.nan,
            n=len(df),
            note=f"{len(df) - bad}/{len(df)} networks verified; {len(df)}/{len(df) + missed} "
            f"reached the target loss; max separation ratio s = {df['s'].max():.3g}",
        )  # fmt: skip

    def _point_summary(self, cfg, df):
        x = cfg.d if cfg.series == "over-d" else cfg.n
        panel = {"over-d": f"n = {cfg.n}, over d", "over-n": f"d = {num(cfg.d)}, over n",
                 "beyond": f"d = {num(cfg.d)}, n beyond the condition"}[cfg.series]  # fmt: skip
        panel += f", {cfg.loss} loss"
        c = float(df["c"].min())
        df = _reached(df)
        if len(df) == 0:
            return []
        rows = [
            law_summary(df["delta_norm"], {"figure": "perturbation", "panel": panel,
                        "series": "||delta_min||, trained", "x": x,
                        "bound": math.sqrt(cfg.d / (c * c * cfg.n))}),
            law_summary(df["robust_certified"], {"figure": "perturbation", "panel": panel,
                        "series": "certified radius, robust network", "x": x}),
            law_summary(df["robust_universal"], {"figure": "perturbation", "panel": panel,
                        "series": "robust network, same universal direction", "x": x}),
            law_summary(df["eta_min"], {"figure": "eta-min", "panel": panel,
                        "series": "eta_min", "x": x}),
        ]  # fmt: skip
        return rows

    def _implied_rows(self, series, loss, group):
        """||delta_min|| / sqrt(d/(c^2 n)) over d (n fixed) or over n (d fixed); only the grid
        points inside the separation condition (every network's data) enter the verdict; the
        points beyond it get a row of their own (outside the conditions)."""
        bound = self.universal_bound
        var = "d" if series == "over-d" else "n"
        cfgs = sorted(group, key=lambda c: getattr(c, var))
        rows, summary = [], []
        inside = [c for c in cfgs if bool(group[c]["s"].max() <= 1.0)]
        outside = [c for c in cfgs if c not in inside]
        for part, name in ((inside, "inside"), (outside, "outside")):
            if len(part) < 2:
                continue
            x = [getattr(c, var) for c in part]
            samples = [self.implied(_reached(group[c])) for c in part]
            fit = implied_constant(x, samples, np.ones(len(part)),
                                   generator(0, "implied", self.id, series, loss, name),
                                   n_boot=N_BOOT, statistic=1 - GAMMA)  # fmt: skip
            first = part[0]
            params = {"series": series, "loss": loss, "width": first.width,
                      "c": float(min(group[c]["c"].min() for c in part)),
                      "s": float(max(group[c]["s"].max() for c in part))}  # fmt: skip
            params["n" if var == "d" else "d"] = first.n if var == "d" else first.d
            row = implied_constant_verdict(
                bound.id, self.id, params,
                f"||delta_min|| / sqrt(d/(c^2 n)) (its {1 - GAMMA:g} quantile) over {var}", fit,
                side="upper", variable=var, evidence=Evidence.EXACT,
                quantifier=Quantifier.RANDOM,
                note="networks trained to loss 1e-30 (approximate KKT points); grid points "
                + ("inside" if name == "inside" else "beyond")
                + " the separation condition",
            )  # fmt: skip
            rows.append(row)
            summary += fit.summary_rows({"figure": "implied-constant",
                                         "panel": f"{series}, {loss} loss",
                                         "series": f"{name} the condition"})  # fmt: skip
        return rows, summary

    def _kkt_rows(self, series, loss, group):
        """The KKT residual against log10(1/L): shown with the convergence machinery, kept
        descriptive (a theorem without a rate, and iterates of a discretised flow: a finite
        range of losses cannot refute it)."""
        rows, summary = [], []
        df = pd.concat(list(group.values()), ignore_index=True)
        for part in ("stationarity", "slackness"):
            est, ses = [], []
            for ell in ELLS:
                v = df[f"kkt_{part}_{ell}"].dropna().to_numpy(dtype=float)
                est.append(float(v.mean()))
                ses.append(float(v.std(ddof=1) / math.sqrt(v.size)) if v.size > 1 else 0.0)
                summary.append(law_summary(v, {"figure": "kkt-residual",
                                               "panel": f"{series}, {loss} loss",
                                               "series": part, "x": ell}))  # fmt: skip
            row = convergence_verdict(
                "vardi2022.kkt_direction", self.id, {"series": series, "loss": loss,
                                                     "residual": part},
                f"KKT {part} residual (mean over {len(df)} networks) against log10(1/L)",
                np.array(ELLS, dtype=float), est, 0.0, ses, variable="ell",
                evidence=Evidence.EXACT,
            )  # fmt: skip
            rows.append(description(row, "Lyu & Li's theorem has no rate and the iterates "
                                    "discretise the flow: shown, not decided"))  # fmt: skip
        return rows, summary

    def _robust_rows(self, group):
        """Certified radius / sqrt(d) of the robust network over d: an Omega(sqrt(d)) claim;
        the certificate is a lower estimate of the true radius, so it can show the claim, never
        refute it."""
        bound = self.robust_bound
        cfgs = sorted(group, key=lambda c: c.d)
        x = [c.d for c in cfgs]
        samples = [group[c]["robust_certified"].to_numpy(dtype=float) for c in cfgs]
        # the rate of the claim at C = 1, rho = 0: the implied constant is radius / rate
        rate = [float(bound(d=c.d, rho=0.0, C=1.0)) for c in cfgs]
        fit = implied_constant(x, samples, rate,
                               generator(0, "implied", self.id, "robust"), n_boot=N_BOOT,
                               statistic=GAMMA)  # fmt: skip
        rho = float(max(group[c]["rho"].max() for c in cfgs))
        row = implied_constant_verdict(
            bound.id, self.id, {"rho": rho, "n": cfgs[0].n},
            f"certified l2 radius / sqrt(d) of the robust network (its {GAMMA:g} quantile)",
            fit, side="lower", variable="d", evidence=Evidence.CERTIFIED,
            quantifier=Quantifier.PARTICULAR, bias="lower",
            note="attack along the segments to the 4 nearest points of the other class: flip "
            "distance / sqrt(d) " + ", ".join(
                f"d={num(c.d)}: {np.mean(group[c]['robust_attack']) / math.sqrt(c.d):.3f}"
                for c in cfgs),
        )  # fmt: skip
        summary = []
        for c in cfgs:
            df = group[c]
            sd = math.sqrt(c.d)
            for col, name in (("robust_certified", "robust network, certified radius"),
                              ("robust_attack", "robust network, attack (upper estimate)"),
                              ("delta_norm", "trained network, ||delta_min||")):  # fmt: skip
                summary.append(law_summary(df[col] / sd, {"figure": "robust",
                                                          "panel": f"n = {c.n}", "series": name,
                                                          "x": c.d}))  # fmt: skip
        return [row], summary

    def _inner_rows(self, group):
        """max_{i != j} |<x_i, x_j>| / (sqrt(d) log d) over d: bounded (the remark after the
        main theorem); exact draws of the data's Gram matrix."""
        bound = self.inner_bound
        cfgs = sorted(group, key=lambda c: c.d)
        x = [c.d for c in cfgs]
        samples = [group[c]["max_inner"].to_numpy(dtype=float) for c in cfgs]
        rate = [float(bound(d=c.d, n=c.n, C=1.0)) for c in cfgs]
        fit = implied_constant(x, samples, rate, generator(0, "implied", self.id, "inner"),
                               n_boot=N_BOOT, statistic=1 - GAMMA)  # fmt: skip
        row = implied_constant_verdict(
            bound.id, self.id, {"n": cfgs[0].n},
            f"max |<x_i, x_j>| / (sqrt(d) log d) (its {1 - GAMMA:g} quantile)", fit,
            side="upper", variable="d", evidence=Evidence.EXACT,
        )  # fmt: skip
        return [row]


def _reached(df) -> pd.DataFrame:
    """The networks that reached the target loss (the others stopped with every neuron off)."""
    return df[df["reached"].to_numpy(dtype=bool)]


SIMULATION = KKTUniversalPerturbation()

if __name__ == "__main__":
    main(SIMULATION)
