"""Exact finite-d fits for sigma = t^2: Frobenius projections (QUADRATIC.md "sigma = t^2").

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
"""

from __future__ import annotations

import numpy as np

from theorycheck.errors import check_int
from theorycheck.quadratic.models import Fit, QuadraticForm
from theorycheck.quadratic.targets import QuadraticTarget

__all__ = [
    "nn_eckart_young",
    "nn_sign_constrained",
    "nt_frobenius",
    "quadratic_form_metrics",
    "rf_frobenius",
]


def quadratic_form_metrics(
    target: QuadraticTarget, M: np.ndarray, b: np.ndarray | None = None, c: float = 0.0
) -> tuple[float, float, float]:
    """Exact (eps, S, Var f) of f(x) = c + <b, x> + x^T M x against ``target`` (x ~ N(0, I_d)).

    f - f* = (c + tr M) + <b - beta, x> + [x^T (M - B) x - tr(M - B)], three orthogonal parts:
    eps = (c + tr M)^2 + ||b - beta||^2 + 2 ||M - B||_F^2;  S = ||b||^2 + 4 ||M||_F^2.
    """
    M = 0.5 * (M + M.T)
    b = np.zeros(target.d) if b is None else np.asarray(b, dtype=float)
    D = M - target.B
    eps = (c + np.trace(M)) ** 2 + float((b - target.beta) @ (b - target.beta))
    eps += 2.0 * float(np.sum(D * D))
    energy = float(np.sum(M * M))
    return float(eps), float(b @ b) + 4.0 * energy, float(b @ b) + 2.0 * energy


def _fit(target: QuadraticTarget, M: np.ndarray, **details) -> Fit:
    eps, S, var = quadratic_form_metrics(target, M, None, -float(np.trace(M)))
    model = QuadraticForm(M, np.zeros(target.d), -float(np.trace(M)))
    return Fit(model, eps, S, var, dict(details))


def rf_frobenius(target: QuadraticTarget, W: np.ndarray) -> Fit:
    """RF with sigma = t^2: Frobenius projection of B on span{w_j w_j^T} (module docstring)."""
    K = (W @ W.T) ** 2
    v = np.sum((W @ target.B) * W, axis=1)
    # K is positive definite for m <= d(d+1)/2 generic rows; lstsq also covers the rank-deficient
    # case (the projection is unique even when z is not).
    z = np.linalg.lstsq(K, v, rcond=None)[0]
    M = W.T @ (z[:, None] * W)
    return _fit(target, M, coefficients=z)


def nt_frobenius(target: QuadraticTarget, W: np.ndarray) -> Fit:
    """NT with sigma = t^2: M = B - P_perp B P_perp, eps = F1^2 + 2 ||P_perp B P_perp||_F^2."""
    Q, s, _ = np.linalg.svd(W.T, full_matrices=False)
    Q = Q[:, s > s.max() * W.shape[1] * np.finfo(float).eps]
    P_perp = np.eye(target.d) - Q @ Q.T
    E = P_perp @ target.B @ P_perp
    return _fit(target, target.B - E, rank=Q.shape[1])


def nn_eckart_young(target: QuadraticTarget, m: int) -> Fit:
    """Quadratic-activation network, global optimum: the best rank-m approximation of B.

    eps = F1^2 + 2 sum_{i>m} lambda_(i)^2 and S = 4 sum_{i<=m} lambda_(i)^2, eigenvalues ordered
    by |lambda| (Eckart-Young; the output weights a_j = lambda_j may have either sign).
    """
    m = check_int("m", m)
    lam, V = np.linalg.eigh(target.B)
    order = np.argsort(-np.abs(lam), kind="stable")[:m]
    M = (V[:, order] * lam[order]) @ V[:, order].T
    return _fit(target, M, eigenvalues=lam[np.argsort(-np.abs(lam), kind="stable")])


def nn_sign_constrained(target: QuadraticTarget, n_pos: int, n_neg: int) -> Fit:
    """Best c + x^T M x with at most ``n_pos`` positive and ``n_neg`` negative eigenvalues.

    The optimum of a width n_pos + n_neg quadratic network whose output weights have those signs:
    keep the n_pos largest positive and the n_neg most negative eigenvalues of B (Eckart-Young in
    each sign class, the classes being Frobenius-orthogonal). Gradient flow cannot change the
    sign of a_j without a_j passing through 0 (docs/derivations/quadratic.md Sec. 7), so SGD from
    a given sign split converges to this point; it equals :func:`nn_eckart_young` iff the split
    matches the signs of the top n_pos + n_neg eigenvalues by |lambda|.
    """
    lam, V = np.linalg.eigh(target.B)
    pos = [i for i in np.argsort(-lam, kind="stable") if lam[i] > 0][: max(n_pos, 0)]
    neg = [i for i in np.argsort(lam, kind="stable") if lam[i] < 0][: max(n_neg, 0)]
    keep = np.array(pos + neg, dtype=int)
    M = (V[:, keep] * lam[keep]) @ V[:, keep].T if keep.size else np.zeros_like(target.B)
    return _fit(target, M, n_pos=len(pos), n_neg=len(neg))
