"""Exact finite-d fits for sigma = t^2: Frobenius projections (docs/derivations/quadratic.md "sigma
= t^2").

For x ~ N(0, I_d) and symmetric M, Var(x^T M x) = 2 ||M||_F^2 and
Cov(x^T M x, x^T B x) = 2 tr(M B): L2 geometry on centred quadratic forms is Frobenius geometry.
With sigma(t) = t^2 every model is c + x^T M x with M in a linear set (RF, NT) or a rank set (NN),
so the infinite-sample fit is a Frobenius projection of B (docs/derivations/quadratic.md Sec. 3):

* RF:  M in span{w_j w_j^T}               (Gram K_jk = <w_j, w_k>^2, right side w_j^T B w_j);
* NT:  M = sym(sum_j a_j w_j^T), i.e. P_perp M P_perp = 0 with P_perp the projector on span(W)^perp,
  so eps = F1^2 + 2 ||P_perp B P_perp||_F^2;
* NN (global optimum, second-layer weights of either sign): rank M <= m, so by Eckart-Young
  M keeps the m eigenvalues of B largest in absolute value.

None of them has a linear part (the models are even), so F1^2 always adds to eps.

Inputs uniform on the sphere of radius sqrt(d) (``law='sphere'``, docs/derivations/quadratic.md
Sec. 10): x^T x = d, so c + x^T M x and c + d t + x^T (M - t I) x are the same function, and
Cov(x^T M x, x^T N x) = (2d / (d + 2)) <M0, N0>_F with M0 = M - (tr M / d) I. Each fit is then the
Frobenius projection of B0 on the trace-free parts of the model's set, i.e. the best
M + t I (t free). Where that leaves M undetermined (NT with m >= d, NN with m >= d - 1) the
solvers return the representative with the smallest S = 4 ||M||_F^2.
"""

from __future__ import annotations

import numpy as np

from theorycheck.errors import check_int
from theorycheck.quadratic.models import Fit, QuadraticForm
from theorycheck.quadratic.sphere import check_law
from theorycheck.quadratic.targets import QuadraticTarget

__all__ = [
    "nn_eckart_young",
    "nn_sign_constrained",
    "nt_frobenius",
    "quadratic_form_metrics",
    "rf_frobenius",
]


def quadratic_form_metrics(
    target: QuadraticTarget,
    M: np.ndarray,
    b: np.ndarray | None = None,
    c: float = 0.0,
    law: str = "gaussian",
) -> tuple[float, float, float]:
    """Exact (eps, S, Var f) of f(x) = c + <b, x> + x^T M x against ``target``.

    f - f* = (c + tr M) + <b - beta, x> + [x^T (M - B) x - tr(M - B)], three orthogonal parts:
    eps = (c + tr M)^2 + ||b - beta||^2 + 2 k ||D||_F^2 with D = M - B and k = 1 for
    x ~ N(0, I_d); on the sphere of radius sqrt(d) (module docstring) k = d / (d + 2) and D is
    replaced by its trace-free part. S = ||b||^2 + 4 ||M||_F^2 under both laws (E x x^T = I).
    """
    check_law(law)
    d = target.d
    M = 0.5 * (M + M.T)
    b = np.zeros(d) if b is None else np.asarray(b, dtype=float)
    D = M - target.B
    var_M = float(np.sum(M * M))
    if law == "sphere":
        kappa = d / (d + 2.0)
        D = D - (np.trace(D) / d) * np.eye(d)
        var_M = kappa * (var_M - np.trace(M) ** 2 / d)
    else:
        kappa = 1.0
    eps = (c + np.trace(M)) ** 2 + float((b - target.beta) @ (b - target.beta))
    eps += 2.0 * kappa * float(np.sum(D * D))
    return float(eps), float(b @ b) + 4.0 * float(np.sum(M * M)), float(b @ b) + 2.0 * var_M


def _fit(target: QuadraticTarget, M: np.ndarray, law: str = "gaussian", **details) -> Fit:
    eps, S, var = quadratic_form_metrics(target, M, None, -float(np.trace(M)), law)
    model = QuadraticForm(M, np.zeros(target.d), -float(np.trace(M)))
    return Fit(model, eps, S, var, dict(details))


def rf_frobenius(target: QuadraticTarget, W: np.ndarray, law: str = "gaussian") -> Fit:
    """RF with sigma = t^2: Frobenius projection of B on span{w_j w_j^T} (module docstring).

    Sphere: projection of B0 on the trace-free parts w_j w_j^T - I/d, Gram <w_j, w_k>^2 - 1/d.
    """
    check_law(law)
    K = (W @ W.T) ** 2
    if law == "sphere":
        K = K - 1.0 / target.d
        v = np.sum((W @ target.B0) * W, axis=1)
    else:
        v = np.sum((W @ target.B) * W, axis=1)
    # K is positive definite for m <= d(d+1)/2 generic rows (sphere: m < d(d+1)/2 - 1); lstsq
    # also covers the rank-deficient case (the projection is unique even when z is not).
    z = np.linalg.lstsq(K, v, rcond=None)[0]
    M = W.T @ (z[:, None] * W)
    return _fit(target, M, law, coefficients=z)


def nt_frobenius(target: QuadraticTarget, W: np.ndarray, law: str = "gaussian") -> Fit:
    """NT with sigma = t^2: M = B - P_perp B P_perp, eps = F1^2 + 2 ||P_perp B P_perp||_F^2.

    Sphere: the best M + t I removes E = P_perp B0 P_perp only up to its mean eigenvalue on
    span(W)^perp, t* = tr E / (d - r): M = B0 - E - t* P_W, residual E - t* P_perp. With r = d
    every B0 + t I fits exactly; the representative t = 0 (smallest S) is returned.
    """
    check_law(law)
    d = target.d
    Q, s, _ = np.linalg.svd(W.T, full_matrices=False)
    Q = Q[:, s > s.max() * W.shape[1] * np.finfo(float).eps]
    r = Q.shape[1]
    if law == "gaussian":
        P_perp = np.eye(d) - Q @ Q.T
        E = P_perp @ target.B @ P_perp
        return _fit(target, target.B - E, rank=r)
    if r == d:
        return _fit(target, target.B0.copy(), law, rank=r, shift=0.0)
    P_W = Q @ Q.T
    P_perp = np.eye(d) - P_W
    E = P_perp @ target.B0 @ P_perp
    shift = float(np.trace(E)) / (d - r)
    return _fit(target, target.B0 - E - shift * P_W, law, rank=r, shift=shift)


def nn_eckart_young(target: QuadraticTarget, m: int, law: str = "gaussian") -> Fit:
    """Quadratic-activation network, global optimum: the best rank-m approximation of B.

    eps = F1^2 + 2 sum_{i>m} lambda_(i)^2 and S = 4 sum_{i<=m} lambda_(i)^2, eigenvalues ordered
    by |lambda| (Eckart-Young; the output weights a_j = lambda_j may have either sign).

    Sphere: the best rank-m M plus t I, i.e. Eckart-Young of B0 - t I minimised over t. For a given
    t the discarded eigenvalues are the d - m closest to t, a run of consecutive sorted
    eigenvalues, so the optimum discards the run with the smallest spread around its own mean t*
    and keeps lambda_i - t* for the others (``details['eigenvalues']``: the shifted eigenvalues,
    kept ones first). Ties (m >= d - 1: several exact fits) go to the smallest S.
    """
    m = check_int("m", m)
    check_law(law)
    if law == "sphere":
        lam, V = np.linalg.eigh(target.B0)
        window = _best_window(lam, target.d - m)
        return _window_fit(target, lam, V, window)
    lam, V = np.linalg.eigh(target.B)
    order = np.argsort(-np.abs(lam), kind="stable")[:m]
    M = (V[:, order] * lam[order]) @ V[:, order].T
    return _fit(target, M, eigenvalues=lam[np.argsort(-np.abs(lam), kind="stable")])


def nn_sign_constrained(
    target: QuadraticTarget, n_pos: int, n_neg: int, law: str = "gaussian"
) -> Fit:
    """Best c + x^T M x with at most ``n_pos`` positive and ``n_neg`` negative eigenvalues.

    The optimum of a width n_pos + n_neg quadratic network whose output weights have those signs:
    keep the n_pos largest positive and the n_neg most negative eigenvalues of B (Eckart-Young in
    each sign class, the classes being Frobenius-orthogonal). Gradient flow cannot change the
    sign of a_j without a_j passing through 0 (docs/derivations/quadratic.md Sec. 7), so SGD from
    a given sign split converges to this point; it equals :func:`nn_eckart_young` iff the split
    matches the signs of the top n_pos + n_neg eigenvalues by |lambda|.

    Sphere: M + t I with t free. For every t the kept positives lie among the n_pos largest and
    the kept negatives among the n_neg smallest eigenvalues of B0, so the middle run of the
    other d - n_pos - n_neg is always discarded; t* = its mean attains that floor.
    """
    check_law(law)
    n_pos, n_neg = max(n_pos, 0), max(n_neg, 0)
    if law == "sphere":
        lam, V = np.linalg.eigh(target.B0)
        d = target.d
        if n_pos + n_neg < d:
            return _window_fit(target, lam, V, (n_neg, d - n_pos), n_pos=n_pos, n_neg=n_neg)
        # Exact fit: B0 - t I with at most n_pos positive and n_neg negative eigenvalues,
        # t in [lam[d - n_pos - 1], lam[n_neg]]; the t closest to 0 has the smallest S.
        lo = lam[d - n_pos - 1] if n_pos < d else -np.inf
        hi = lam[n_neg] if n_neg < d else np.inf
        t = float(np.clip(0.0, lo, hi))
        return _fit(target, target.B0 - t * np.eye(d), law, n_pos=n_pos, n_neg=n_neg, shift=t)
    lam, V = np.linalg.eigh(target.B)
    pos = [i for i in np.argsort(-lam, kind="stable") if lam[i] > 0][:n_pos]
    neg = [i for i in np.argsort(lam, kind="stable") if lam[i] < 0][:n_neg]
    keep = np.array(pos + neg, dtype=int)
    M = (V[:, keep] * lam[keep]) @ V[:, keep].T if keep.size else np.zeros_like(target.B)
    return _fit(target, M, n_pos=len(pos), n_neg=len(neg))


def _best_window(lam: np.ndarray, k: int) -> tuple[int, int]:
    """The run lam[i:i+k] of k consecutive (ascending) eigenvalues with the smallest sum of
    squared deviations from its mean; ties (within round-off) go to the smallest S of the fit."""
    d = lam.size
    if k <= 0:
        return (0, 0)
    s1 = np.concatenate(([0.0], np.cumsum(lam)))
    s2 = np.concatenate(([0.0], np.cumsum(lam * lam)))
    i = np.arange(d - k + 1)
    w1, w2 = s1[i + k] - s1[i], s2[i + k] - s2[i]
    spread = w2 - w1 * w1 / k
    t = w1 / k
    # S / 4 of the kept part: sum over the complement of (lam - t)^2.
    kept = (s2[d] - w2) - 2.0 * t * (s1[d] - w1) + (d - k) * t * t
    tol = 1e-12 * max(float(s2[d]), 1e-300)
    candidates = np.flatnonzero(spread <= spread.min() + tol)
    best = int(candidates[np.argmin(kept[candidates])])
    return (best, best + k)


def _window_fit(target: QuadraticTarget, lam, V, window: tuple[int, int], **details) -> Fit:
    """Sphere fit that discards the eigenvalues lam[window] and shifts by their mean."""
    lo, hi = window
    t = float(lam[lo:hi].mean()) if hi > lo else 0.0
    keep = np.r_[0:lo, hi : lam.size].astype(int)
    shifted = lam - t
    M = (V[:, keep] * shifted[keep]) @ V[:, keep].T if keep.size else np.zeros_like(target.B0)
    order = np.argsort(-np.abs(shifted), kind="stable")
    return _fit(target, M, "sphere", eigenvalues=shifted[order], shift=t, **details)
