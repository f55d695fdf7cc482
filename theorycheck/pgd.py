"""The multi-step l2 attack: projected gradient descent on the margin (docs/derivations/attacks.md).

Madry, Makelov, Schmidt, Tsipras, Vladu (2018), "Towards deep learning models resistant to
adversarial attacks", Sec. 2 (PGD); Croce and Hein (2020), "Reliable evaluation of adversarial
robustness with an ensemble of diverse parameter-free attacks", Sec. 3 and Algorithm 1 (APGD, the
step-size schedule used here); Moosavi-Dezfooli, Fawzi, Frossard (2016), "DeepFool", Sec. 2
(Algorithm 1, the binary case: the minimal-norm start). Used as the test-time attack and for
adversarial training by Wang, Ullah, Mianjy, Arora (2022), Sec. 5.2 and Algorithm 1.

For each input x with label y (default y = sign f(x)) the attack minimises the margin
y f(x + delta) over the l2 ball ||delta|| <= eps. An input counts as flipped as soon as
y f(x + delta) <= 0 (as for the single step, :mod:`theorycheck.attack`, reaching 0 counts). Every
reported success comes with the perturbation that realises it, so a success is a certificate of
non-robustness and the attack as a whole is a LOWER bound on the robust error (an UPPER estimate
of the minimal adversarial distance).

Candidates, in order (each input stops at its first flip unless ``stop_at_flip=False``):

1. the single step of full length, delta = -y eps u, u = grad f(x) / ||grad f(x)||, and, when the
   single-step flip distance t* (:func:`theorycheck.attack.first_sign_flip`) is <= eps, the points
   x(t*) and x(t* (1 + 1e-9)) of its ray (the ray may cross zero and come back before eps, so
   the full step alone can miss a flip the single step finds);
2. the given start points (projected onto the ball), then a PGD run from delta = 0, one from
   each given start (projected onto the ball; e.g. the
   DeepFool point of :func:`deepfool`, or the best delta found at a smaller radius), and
   ``restarts`` runs from uniform random points of the ball.

Every run takes normalised steps delta <- Proj_eps(delta - eta y grad / ||grad||). With
``step_size`` given, eta is that fixed length (Madry et al.). By default eta follows APGD's
schedule (Croce and Hein 2020, Sec. 3.2, l2 version): eta = 2 eps at the start, momentum 0.75, and
at the checkpoints w_j = ceil(p_j steps), p_0 = 0, p_1 = 0.22, p_{j+1} = p_j + max(p_j - p_{j-1} -
0.03, 0.06), eta is halved and the run restarts from its best point where fewer than 75% of the
steps since the last checkpoint lowered the margin, or where neither eta nor the best margin
changed since the last checkpoint. The travel is therefore not capped at a multiple of eps, and
eta shrinks only where steps stop paying. An input's run also stops (besides flipping) once eta
is below :data:`ETA_FLOOR` eps (further steps move delta by less than that), or once its best
margin stalls (:data:`STALL_FRACTION`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from theorycheck.attack import SMOOTH_T_MAX, first_sign_flip
from theorycheck.errors import UserInputError, check_finite, check_int, check_real
from theorycheck.forward import as_inputs, output_and_gradient
from theorycheck.network import Network
from theorycheck.paths import check_path

__all__ = [
    "ETA_FLOOR",
    "MOMENTUM",
    "RAY_NUDGE",
    "DeepFoolResult",
    "MinFlipRadius",
    "PGDResult",
    "apgd_checkpoints",
    "deepfool",
    "min_flip_radius_pgd",
    "pgd_attack",
]

#: APGD's momentum alpha (Croce and Hein 2020, Sec. 3.2).
MOMENTUM = 0.75
#: APGD's threshold rho: halve eta where fewer than this fraction of the steps since the last
#: checkpoint lowered the margin.
SUCCESS_FRACTION = 0.75
#: A run stops for an input once eta < ETA_FLOOR eps (about 11 halvings of the initial 2 eps).
ETA_FLOOR = 1e-3
#: APGD's stopping rule for an input whose margin stalls: from the second checkpoint on, a run
#: stops for an input whose best margin fell by less than STALL_FRACTION of its current value
#: since the previous checkpoint (at that pace reaching 0 would take over 1 / STALL_FRACTION more
#: checkpoint intervals; the run spends its steps on inputs that are still moving).
STALL_FRACTION = 0.01
#: The single-step ray is also tried at t* (1 + RAY_NUDGE): on a piece crossing zero, the computed
#: f at x(t*) can round to the wrong side of 0.
RAY_NUDGE = 1e-9


@dataclass(frozen=True)
class PGDResult:
    """Per-input results of :func:`pgd_attack`.

    f : f(x) (unperturbed).
    y : the labels attacked (sign f(x) unless given).
    eps : the l2 budget per input.
    success : a delta with ||delta|| <= eps and y f(x + delta) <= 0 was found.
    delta : (n, d) the flipping perturbation where ``success``, else the one with the lowest margin.
    margin : y f(x + delta) at the returned delta.
    steps_taken : forward passes spent on the input until its first flip (0: found among the
        candidates of item 1 of the module docstring), else all it was given.
    zero_output : y == 0 (f(x) == 0 exactly and no label given): no direction to attack; reported
        apart, with success True and delta 0, as :func:`theorycheck.attack.first_sign_flip` does.
    """

    f: np.ndarray
    y: np.ndarray
    eps: np.ndarray
    success: np.ndarray
    delta: np.ndarray
    margin: np.ndarray
    steps_taken: np.ndarray
    zero_output: np.ndarray

    @property
    def delta_norm(self) -> np.ndarray:
        """||delta|| per input."""
        return np.linalg.norm(self.delta, axis=1)

    @property
    def robust_error(self) -> float:
        """Fraction of inputs flipped within eps (a lower bound on the robust error at eps)."""
        return float(np.mean(self.success))


def _unit_rows(G: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(G, axis=1, keepdims=True)
    return np.where(n > 0.0, G / np.where(n > 0.0, n, 1.0), 0.0)


def _project(delta: np.ndarray, eps: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(delta, axis=1)
    scale = np.where(n > eps, eps / np.where(n > 0.0, n, 1.0), 1.0)
    return delta * scale[:, None]


def apgd_checkpoints(steps: int) -> list[int]:
    """APGD's checkpoints w_j = ceil(p_j steps) in (0, steps] (Croce and Hein 2020, Sec. 3.2)."""
    steps = check_int("steps", steps, minimum=0)
    p = [0.0, 0.22]
    while p[-1] < 1.0:
        p.append(p[-1] + max(p[-1] - p[-2] - 0.03, 0.06))
    # round() first: 0.22 + 0.19 is 0.41000000000000003, and ceil(41.000000000000004) = 42.
    return sorted({w for q in p[1:] if 0 < (w := math.ceil(round(q * steps, 9))) <= steps})


def _labels(y, f: np.ndarray, n: int) -> np.ndarray:
    if y is None:
        return np.sign(f)
    y = np.broadcast_to(np.asarray(y, dtype=float), (n,)).copy()
    if not np.all(np.isin(y, (-1.0, 1.0))):
        raise UserInputError("y must contain labels -1 or +1")
    return y


def _per_input(name: str, value, n: int) -> np.ndarray:
    out = np.broadcast_to(np.asarray(value, dtype=float), (n,)).copy()
    if not np.all(np.isfinite(out)) or np.any(out < 0.0):
        raise UserInputError(f"{name} must be finite and >= 0 (one value or one per input)")
    return out


class _Best:
    """The best candidate per input: the first flip, else the lowest margin."""

    def __init__(self, net, X, y, f0, eps, stop_at_flip, path):
        n, d = X.shape
        self.net, self.X, self.y, self.eps, self.path = net, X, y, eps, path
        self.stop_at_flip = stop_at_flip
        self.zero = y == 0.0
        self.delta = np.zeros((n, d))
        self.margin = y * f0
        self.success = self.zero | (self.margin <= 0.0)  # a given label violated at delta = 0
        self.spent = np.zeros(n, dtype=np.int64)
        self.found_at = np.where(self.success, 0, -1)

    def open(self) -> np.ndarray:
        """Inputs still to attack."""
        return np.flatnonzero(~self.success if self.stop_at_flip else ~self.zero)

    def score(self, idx, D, count=True):
        """Evaluate candidates D (projected onto the ball) for inputs idx; keep flips and the lowest
        margins; return (margin, gradient) at D."""
        D = _project(D, self.eps[idx])
        fw = output_and_gradient(self.net, self.X[idx] + D, path=self.path)
        m = self.y[idx] * fw.f
        new = (m <= 0.0) & ~self.success[idx]
        keep = (m < self.margin[idx]) | new
        if count:
            self.spent[idx] += 1
        self.found_at[idx[new]] = self.spent[idx[new]]
        self.delta[idx[keep]] = D[keep]
        self.margin[idx[keep]] = m[keep]
        self.success[idx[m <= 0.0]] = True
        return m, fw.grad


def _run(best: _Best, idx, D, steps, step, g, m):
    """One PGD run for inputs idx from D (margin m and gradient g there).

    ``step``: None for APGD's schedule, else the fixed step length per input of idx."""
    y, eps = best.y[idx], best.eps[idx]
    apgd = step is None
    eta = 2.0 * eps if apgd else step.copy()
    checkpoints = set(apgd_checkpoints(steps)) if apgd else set()
    # Run state per input of idx: the run's own best point (APGD restarts from it), how many
    # steps lowered the margin since the last checkpoint, eta and the best margin there.
    run_best_D, run_best_m = D.copy(), m.copy()
    lowered = np.zeros(len(idx), dtype=np.int64)
    eta_prev, best_prev = eta.copy(), run_best_m.copy()
    D_prev = D.copy()
    since = 0
    live = np.ones(len(idx), dtype=bool)
    for k in range(1, steps + 1):
        live &= ~best.success[idx] if best.stop_at_flip else live
        if apgd:
            live &= eta >= ETA_FLOOR * eps
        a = np.flatnonzero(live)
        if a.size == 0:
            break
        z = _project(D[a] - (y[a] * eta[a])[:, None] * _unit_rows(g[a]), eps[a])
        if apgd and k > 1:
            new = _project(
                D[a] + MOMENTUM * (z - D[a]) + (1.0 - MOMENTUM) * (D[a] - D_prev[a]), eps[a]
            )
        else:
            new = z
        D_prev[a] = D[a]
        D[a] = new
        m_new, g[a] = best.score(idx[a], D[a])
        lowered[a] += m_new < m[a]
        m[a] = m_new
        better = m_new < run_best_m[a]
        run_best_m[a[better]] = m_new[better]
        run_best_D[a[better]] = D[a[better]]
        since += 1
        if k in checkpoints:
            if k > min(checkpoints):
                live &= best_prev - run_best_m >= STALL_FRACTION * run_best_m
            halve = (lowered < SUCCESS_FRACTION * since) | (
                (eta == eta_prev) & (run_best_m == best_prev)
            )
            halve &= live
            eta_prev, best_prev = eta.copy(), run_best_m.copy()
            eta[halve] *= 0.5
            h = np.flatnonzero(halve)
            if h.size:  # restart from the run's best point (its gradient is recomputed)
                D[h] = run_best_D[h]
                D_prev[h] = run_best_D[h]
                m[h], g[h] = best.score(idx[h], D[h])
            lowered[:] = 0
            since = 0


def pgd_attack(
    net: Network,
    X,
    eps,
    steps: int = 50,
    step_size=None,
    rng: np.random.Generator | None = None,
    y=None,
    stop_at_flip: bool = True,
    path: str = "numba",
    restarts: int = 0,
    starts=(),
    t_star=None,
) -> PGDResult:
    """l2 PGD on the margin y f(x + delta) over ||delta|| <= eps (see the module docstring).

    Parameters
    ----------
    net : the network (any activation, scaling, weights).
    X : (n, d) inputs (a single (d,) input is accepted).
    eps : l2 budget, a scalar or one per input (>= 0), in the network's input units.
    steps : steps per run.
    step_size : fixed step length (scalar or per input; Madry et al. 2018); default None: APGD's
        schedule (Croce and Hein 2020).
    rng : random source for the ``restarts``; without it the run from 0 starts at a uniform point
        of the ball instead of 0 when given (kept for adversarial training).
    y : labels in {-1, +1} to attack (adversarial training); default sign f(x).
    stop_at_flip : stop attacking an input once it is flipped (an attack). False keeps stepping
        and returns the lowest-margin delta (adversarial training, where the loss-maximising
        example is wanted, not just a flipping one).
    restarts : extra runs from uniform random points of the ball (needs ``rng``).
    starts : further start points, each (n, d), projected onto the ball (e.g. :func:`deepfool`'s
        delta, or the best delta at a smaller radius).
    t_star : the single-step flip distances if already computed (else computed here).

    References: Madry et al. (2018) Sec. 2; Croce and Hein (2020) Sec. 3; Wang et al. (2022)
    Sec. 5.2.
    """
    check_path(path, what="pgd_attack")
    X = as_inputs(net, X)
    n, d = X.shape
    steps = check_int("steps", steps, minimum=0)
    restarts = check_int("restarts", restarts, minimum=0)
    if restarts and rng is None:
        raise UserInputError("restarts need an rng")
    eps = _per_input("eps", eps, n)
    step = None if step_size is None else _per_input("step_size", step_size, n)
    starts = [np.asarray(s, dtype=float) for s in starts]
    if any(s.shape != (n, d) or not np.all(np.isfinite(s)) for s in starts):
        raise UserInputError(f"each start must be a finite array of shape ({n}, {d})")
    fw = output_and_gradient(net, X, path=path)
    y = _labels(y, fw.f, n)
    best = _Best(net, X, y, fw.f, eps, stop_at_flip, path)
    U = _unit_rows(fw.grad)
    # 1. The single step: full length, and the first flip of its ray when it lies in the ball.
    idx = best.open()
    if idx.size:
        best.score(idx, -(y[idx] * eps[idx])[:, None] * U[idx], count=False)
    ray = np.flatnonzero(np.sign(fw.f) == y)  # the ray of first_sign_flip attacks sign f(x)
    if ray.size and t_star is None:
        t_star = np.full(n, math.inf)
        t_star[ray] = first_sign_flip(net, X[ray], path=path).t_star
    if ray.size:
        t_star = np.broadcast_to(np.asarray(t_star, dtype=float), (n,))
        for nudge in (0.0, RAY_NUDGE):
            idx = np.intersect1d(best.open(), ray)
            idx = idx[t_star[idx] <= eps[idx]]
            if idx.size:
                t = np.minimum(t_star[idx] * (1.0 + nudge), eps[idx])
                best.score(idx, -(y[idx] * t)[:, None] * U[idx], count=False)
    # 2. Runs: from 0 (or a random point when rng is given and nothing else is asked for),
    # from each start, and from random points.
    first = np.zeros((n, d))
    if rng is not None and restarts == 0 and not starts:
        first = (
            _unit_rows(rng.standard_normal((n, d))) * (eps * rng.random(n) ** (1.0 / d))[:, None]
        )
    inits = [first, *starts]
    # The start points themselves first (one pass each): a start that already flips (the DeepFool
    # point inside the ball, delta = -x at a radius >= ||x||) spares the runs before it.
    for S in starts:
        idx = best.open()
        if idx.size:
            best.score(idx, S[idx])
    for r in range(len(inits) + restarts):
        idx = best.open()
        if idx.size == 0:
            break
        if r < len(inits):
            D = _project(inits[r][idx], eps[idx])
        else:
            G = rng.standard_normal((idx.size, d))
            D = _unit_rows(G) * (eps[idx] * rng.random(idx.size) ** (1.0 / d))[:, None]
        if r == 0 and not np.any(D):
            m, g = y[idx] * fw.f[idx], fw.grad[idx].copy()
        else:
            m, g = best.score(idx, D)
        _run(best, idx, D, steps, None if step is None else step[idx], g, m)
    check_finite("PGD delta", best.delta)
    steps_taken = np.where(best.found_at >= 0, best.found_at, best.spent)
    return PGDResult(fw.f, y, eps, best.success, best.delta, best.margin, steps_taken, best.zero)


@dataclass(frozen=True)
class DeepFoolResult:
    """Per-input results of :func:`deepfool`.

    delta : (n, d) the last iterate ((1 + overshoot) times the accumulated linearised steps).
    success : y f(x + delta) <= 0 (then ||delta|| is an upper estimate of the minimal adversarial
        distance).
    iterations : linearisations used per input.
    """

    delta: np.ndarray
    success: np.ndarray
    iterations: np.ndarray

    @property
    def delta_norm(self) -> np.ndarray:
        """||delta|| per input."""
        return np.linalg.norm(self.delta, axis=1)


def deepfool(
    net: Network,
    X,
    y=None,
    iterations: int = 50,
    overshoot: float = 0.02,
    path: str = "numba",
) -> DeepFoolResult:
    """DeepFool for a binary classifier sign f (Moosavi-Dezfooli et al. 2016, Algorithm 1).

    Unconstrained minimal-norm search: r <- r - f(x + r') grad f(x + r') / ||grad f(x + r')||^2
    with r' = (1 + overshoot) r, until y f(x + r') <= 0. For a piecewise-linear f (relu) each
    step lands exactly on the zero set of the current linear piece, so a few steps usually
    suffice; the result is a flipping delta whose norm estimates the minimal flip distance from
    above, used as a start point of :func:`pgd_attack` (projected onto its ball).
    """
    check_path(path, what="deepfool")
    X = as_inputs(net, X)
    n, d = X.shape
    iterations = check_int("iterations", iterations, minimum=0)
    overshoot = check_real("overshoot", overshoot, low=0.0)
    fw = output_and_gradient(net, X, path=path)
    y = _labels(y, fw.f, n)
    r = np.zeros((n, d))
    delta = np.zeros((n, d))
    success = y * fw.f <= 0.0
    used = np.zeros(n, dtype=np.int64)
    f, g = fw.f.copy(), fw.grad.copy()
    for _ in range(iterations):
        a = np.flatnonzero(~success)
        if a.size == 0:
            break
        gn2 = np.einsum("ij,ij->i", g[a], g[a])
        ok = gn2 > 0.0
        a, gn2 = a[ok], gn2[ok]
        if a.size == 0:
            break
        r[a] -= (f[a] / gn2)[:, None] * g[a]
        delta[a] = (1.0 + overshoot) * r[a]
        out = output_and_gradient(net, X[a] + delta[a], path=path)
        used[a] += 1
        f[a], g[a] = out.f, out.grad
        success[a] = y[a] * out.f <= 0.0
    check_finite("DeepFool delta", delta)
    return DeepFoolResult(delta, success, used)


@dataclass(frozen=True)
class MinFlipRadius:
    """Per-input results of :func:`min_flip_radius_pgd`.

    radius : the smallest budget eps at which PGD found a flip (+inf if none up to eps_max): an
        UPPER estimate of the minimal adversarial distance.
    delta : (n, d) the flipping perturbation found at ``radius`` (zeros if none).
    t_star : the single-step flip distance t* (:func:`theorycheck.attack.first_sign_flip`).
    zero_output : f(x) == 0 (radius 0).
    """

    radius: np.ndarray
    delta: np.ndarray
    t_star: np.ndarray
    zero_output: np.ndarray

    @property
    def delta_norm(self) -> np.ndarray:
        """||delta|| of the flipping perturbation (<= radius): also an upper estimate."""
        return np.linalg.norm(self.delta, axis=1)


def min_flip_radius_pgd(
    net: Network,
    X,
    steps: int = 50,
    bisections: int = 20,
    eps_max: float | None = None,
    rng: np.random.Generator | None = None,
    path: str = "numba",
) -> MinFlipRadius:
    """Smallest l2 budget at which :func:`pgd_attack` flips sign f(x), by bisection on eps.

    The bracket starts at [0, t*(1 + 1e-9)] with t* the single-step flip distance (PGD's first
    candidates include the ray's first flip, so it flips there), or [0, eps_max] when t* = +inf
    (default eps_max = 4 ||x||, as for smooth activations in :mod:`theorycheck.attack`), and is
    halved ``bisections`` times: success moves the upper end down, failure the lower end up. PGD
    success need not be monotone in eps, so the result is an upper estimate of the minimal
    adversarial distance, never a certified minimum; every reported radius has a flipping delta
    beside it.
    """
    check_path(path, what="min_flip_radius_pgd")
    X = as_inputs(net, X)
    n, d = X.shape
    bisections = check_int("bisections", bisections, minimum=0)
    xnorm = np.linalg.norm(X, axis=1)
    if eps_max is None:
        cap = SMOOTH_T_MAX * xnorm
    else:
        cap = np.full(n, check_real("eps_max", eps_max, low=0.0, low_open=True))
    single = first_sign_flip(net, X, path=path)
    zero = single.zero_output.copy()
    hi = np.where(np.isfinite(single.t_star), single.t_star * (1.0 + 1e-9), cap)
    hi = np.where(zero, 0.0, hi)
    lo = np.zeros(n)
    radius = np.full(n, math.inf)
    radius[zero] = 0.0
    best = np.zeros((n, d))
    todo = np.flatnonzero(~zero)

    def attack(idx, eps):
        return pgd_attack(
            net, X[idx], eps, steps=steps, rng=rng, path=path, t_star=single.t_star[idx]
        )

    if todo.size:
        res = attack(todo, hi[todo])
        ok = todo[res.success]
        radius[ok] = hi[ok]
        best[ok] = res.delta[res.success]
        # t* found but its endpoint did not flip (a rounding tie): fall back to eps_max.
        retry = todo[~res.success & np.isfinite(single.t_star[todo]) & (hi[todo] < cap[todo])]
        if retry.size:
            res = attack(retry, cap[retry])
            ok = retry[res.success]
            radius[ok] = cap[ok]
            best[ok] = res.delta[res.success]
    hi = np.where(np.isfinite(radius), radius, hi)
    found = np.flatnonzero(np.isfinite(radius) & ~zero)
    for _ in range(bisections):
        if found.size == 0:
            break
        mid = 0.5 * (lo[found] + hi[found])
        res = attack(found, mid)
        win = found[res.success]
        hi[win] = mid[res.success]
        radius[win] = mid[res.success]
        best[win] = res.delta[res.success]
        lose = found[~res.success]
        lo[lose] = mid[~res.success]
    return MinFlipRadius(radius, best, single.t_star, zero)
