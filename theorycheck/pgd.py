"""The multi-step l2 attack: projected gradient descent on the margin (docs/theory.md Sec. 3).

Madry, Makelov, Schmidt, Tsipras, Vladu (2018), "Towards deep learning models resistant to
adversarial attacks", Sec. 2 (PGD); used as the test-time attack and for adversarial training by
Wang, Ullah, Mianjy, Arora (2022), Sec. 5.2 and Algorithm 1.

For each input x with label y (default y = sign f(x)) the attack minimises the margin
y f(x + delta) over the l2 ball ||delta|| <= eps by normalised steps
delta <- Proj_eps(delta - step_size * y grad f(x + delta) / ||grad f(x + delta)||).
An input counts as flipped as soon as y f(x + delta) <= 0 (as for the single step,
:mod:`theorycheck.attack`, reaching 0 counts). Every reported success comes with the perturbation
that realises it, so a success is a certificate of non-robustness and the attack as a whole is a
LOWER bound on the robust error (an UPPER estimate of the minimal adversarial distance).

The multi-step attack is at least as strong as the single step: before stepping, it tries the
single step of full length, delta = -y eps grad f(x) / ||grad f(x)|| (the point x(eps) of the
single-step ray of :func:`theorycheck.attack.first_sign_flip`).
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

__all__ = ["MinFlipRadius", "PGDResult", "min_flip_radius_pgd", "pgd_attack"]


@dataclass(frozen=True)
class PGDResult:
    """Per-input results of :func:`pgd_attack`.

    f : f(x) (unperturbed).
    y : the labels attacked (sign f(x) unless given).
    eps : the l2 budget per input.
    success : a delta with ||delta|| <= eps and y f(x + delta) <= 0 was found.
    delta : (n, d) the flipping perturbation where ``success``, else the one with the lowest margin.
    margin : y f(x + delta) at the returned delta.
    steps_taken : the PGD step at which the first flip was found (0: the single full step or the
        random start), else ``steps``.
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
) -> PGDResult:
    """l2 PGD on the margin y f(x + delta) over ||delta|| <= eps (see the module docstring).

    Parameters
    ----------
    net : the network (any activation, scaling, weights).
    X : (n, d) inputs (a single (d,) input is accepted).
    eps : l2 budget, a scalar or one per input (>= 0), in the network's input units.
    steps : number of PGD steps after the single full step.
    step_size : per-step length (scalar or per input); default 2.5 eps / steps (Madry et al. 2018).
    rng : if given, PGD starts from a uniform point of the eps-ball (random start); else from 0.
    y : labels in {-1, +1} to attack (adversarial training); default sign f(x).
    stop_at_flip : stop stepping an input once it is flipped (an attack). False keeps stepping
        for all ``steps`` and returns the lowest-margin delta (adversarial training, where the
        loss-maximising example is wanted, not just a flipping one).

    References: Madry et al. (2018) Sec. 2; Wang et al. (2022) Sec. 5.2.
    """
    check_path(path, what="pgd_attack")
    X = as_inputs(net, X)
    n, d = X.shape
    steps = check_int("steps", steps, minimum=0)
    eps = np.broadcast_to(np.asarray(eps, dtype=float), (n,)).copy()
    if not np.all(np.isfinite(eps)) or np.any(eps < 0.0):
        raise UserInputError("eps must be finite and >= 0 (one value or one per input)")
    if step_size is None:
        step = 2.5 * eps / max(steps, 1)
    else:
        step = np.broadcast_to(np.asarray(step_size, dtype=float), (n,)).copy()
        if not np.all(np.isfinite(step)) or np.any(step < 0.0):
            raise UserInputError("step_size must be finite and >= 0 (one value or one per input)")
    fw = output_and_gradient(net, X, path=path)
    if y is None:
        y = np.sign(fw.f)
    else:
        y = np.broadcast_to(np.asarray(y, dtype=float), (n,)).copy()
        if not np.all(np.isin(y, (-1.0, 1.0))):
            raise UserInputError("y must contain labels -1 or +1")
    zero = y == 0.0
    delta = np.zeros((n, d))
    margin = y * fw.f
    success = zero | (margin <= 0.0)  # a given label already violated at delta = 0
    steps_taken = np.full(n, steps, dtype=np.int64)
    steps_taken[success] = 0
    current = [0]  # the step being scored (0: the single full step)

    def record(idx, D):
        """Score candidates D for inputs idx; keep flips and the lowest margins."""
        fD = output_and_gradient(net, X[idx] + D, path=path)
        mD = y[idx] * fD.f
        flipped = mD <= 0.0
        keep = (mD < margin[idx]) | (flipped & ~success[idx])
        steps_taken[idx[flipped & ~success[idx]]] = current[0]
        delta[idx[keep]] = D[keep]
        margin[idx[keep]] = mD[keep]
        success[idx[flipped]] = True
        return fD

    # The single step of full length eps along -y grad f(x).
    idx = np.flatnonzero(~zero)
    if idx.size:
        record(idx, -(y[idx] * eps[idx])[:, None] * _unit_rows(fw.grad[idx]))
    # PGD from 0 (or a random point of the ball).
    D = np.zeros((n, d))
    grad = fw.grad.copy()  # grad f at x + D, one forward pass per step
    if rng is not None:
        G = rng.standard_normal((n, d))
        D = _unit_rows(G) * (eps * rng.random(n) ** (1.0 / d))[:, None]
        active = np.flatnonzero(~success if stop_at_flip else ~zero)
        if active.size:
            grad[active] = record(active, D[active]).grad
    for k in range(1, steps + 1):
        active = np.flatnonzero(~success if stop_at_flip else ~zero)
        if active.size == 0:
            break
        current[0] = k
        D[active] = _project(
            D[active] - (y[active] * step[active])[:, None] * _unit_rows(grad[active]),
            eps[active],
        )
        grad[active] = record(active, D[active]).grad
    check_finite("PGD delta", delta)
    return PGDResult(fw.f, y, eps, success, delta, margin, steps_taken, zero)


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
    candidate, the full single step, flips there), or [0, eps_max] when t* = +inf (default
    eps_max = 4 ||x||, as for smooth activations in :mod:`theorycheck.attack`), and is halved
    ``bisections`` times: success moves the upper end down, failure the lower end up. PGD success
    need not be monotone in eps, so the result is an upper estimate of the minimal adversarial
    distance, never a certified minimum; every reported radius has a flipping delta beside it.
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
    if todo.size:
        res = pgd_attack(net, X[todo], hi[todo], steps=steps, rng=rng, path=path)
        ok = todo[res.success]
        radius[ok] = hi[ok]
        best[ok] = res.delta[res.success]
        # t* found but its endpoint did not flip (a rounding tie): fall back to eps_max.
        retry = todo[~res.success & np.isfinite(single.t_star[todo]) & (hi[todo] < cap[todo])]
        if retry.size:
            res = pgd_attack(net, X[retry], cap[retry], steps=steps, rng=rng, path=path)
            ok = retry[res.success]
            radius[ok] = cap[ok]
            best[ok] = res.delta[res.success]
    hi = np.where(np.isfinite(radius), radius, hi)
    found = np.flatnonzero(np.isfinite(radius) & ~zero)
    for _ in range(bisections):
        if found.size == 0:
            break
        mid = 0.5 * (lo[found] + hi[found])
        res = pgd_attack(net, X[found], mid, steps=steps, rng=rng, path=path)
        win = found[res.success]
        hi[win] = mid[res.success]
        radius[win] = mid[res.success]
        best[win] = res.delta[res.success]
        lose = found[~res.success]
        lo[lose] = mid[~res.success]
    return MinFlipRadius(radius, best, single.t_star, zero)
