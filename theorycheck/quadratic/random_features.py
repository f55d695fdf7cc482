"""Exact finite-d random-features fit for any sigma: the kernel route (QUADRATIC.md "RF, general
sigma"; docs/derivations/quadratic.md Sec. 4).

f(x) = c + sum_j z_j sigma(<w_j, x>) with unit rows w_j. With rho_jk = <w_j, w_k>, Mehler's
formula gives the feature covariance Kc_jk = E sigma(u_j) sigma(u_k) - mu0^2, and Gaussian
conditioning gives the covariance with the target,

    v_j = Cov(f*, sigma(u_j)) = mu1 <w_j, beta> + sqrt(2) mu2 w_j^T B w_j,

so the L2 projection is z = Kc^{-1} v, eps = Var f* - v^T z and S = z^T Kd z with
Kd_jk = rho_jk E sigma'(u_j) sigma'(u_k) (diagonal E sigma'^2). No sampling of x.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import linalg

from theorycheck.errors import UserInputError
from theorycheck.quadratic.hermite import GaussianMoments, pair_matrix
from theorycheck.quadratic.models import Fit, RandomFeatures
from theorycheck.quadratic.targets import QuadraticTarget

__all__ = ["RandomFeatureGram", "check_unit_rows", "rf_fit", "solve_psd"]


def check_unit_rows(W: np.ndarray) -> None:
    """The Gaussian-moment formulas assume ||w_j|| = 1 (u_j ~ N(0, 1)): refuse anything else."""
    norms = np.linalg.norm(np.atleast_2d(W), axis=1)
    if not np.allclose(norms, 1.0, rtol=0.0, atol=1e-9):
        raise UserInputError(
            "W: the exact solvers need unit rows (use theorycheck.quadratic.sample_first_layer); "
            f"row norms range over [{norms.min():.6g}, {norms.max():.6g}]"
        )


def solve_psd(K: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Solve K z = b for a symmetric positive semi-definite K.

    Cholesky when K is numerically positive definite; otherwise the minimum-norm solution by a
    spectral pseudo-inverse (the projection K z is unique even when z is not).
    """
    try:
        return linalg.cho_solve(linalg.cho_factor(K), b)
    except linalg.LinAlgError:
        lam, V = np.linalg.eigh(K)
        keep = lam > lam.max() * K.shape[0] * np.finfo(float).eps * 10
        coef = (V[:, keep].T @ b) / (lam[keep][:, None] if b.ndim == 2 else lam[keep])
        return V[:, keep] @ coef


@dataclass(frozen=True)
class RandomFeatureGram:
    """Population second moments of the features sigma(<w_j, x>), x ~ N(0, I_d).

    Attributes
    ----------
    Kc : (m, m) feature covariance (centred: the model has an intercept).
    Kd : (m, m) gradient Gram, E <grad sigma(u_j), grad sigma(u_k)> = rho_jk E sigma'sigma'.
    mean : E sigma(g) = mu0 (the mean of every feature).
    """

    W: np.ndarray
    moments: GaussianMoments
    Kc: np.ndarray
    Kd: np.ndarray
    mean: float

    @classmethod
    def build(cls, W: np.ndarray, moments: GaussianMoments) -> RandomFeatureGram:
        check_unit_rows(W)
        rho = W @ W.T
        K = pair_matrix(moments, "s", "s", rho)
        Kd = rho * pair_matrix(moments, "d", "d", rho)
        mu0 = moments.univariate("s")
        return cls(W, moments, K - mu0 * mu0, Kd, mu0)

    def target_covariance(self, target: QuadraticTarget) -> np.ndarray:
        """v_j = Cov(f*(x), sigma(<w_j, x>)) = mu1 <w_j, beta> + sqrt(2) mu2 w_j^T B w_j."""
        mu1 = self.moments.univariate("us")  # E[u sigma(u)] = mu1
        mu2s = self._mu2_sqrt2()
        W = self.W
        return mu1 * (W @ target.beta) + mu2s * np.sum((W @ target.B) * W, axis=1)

    def _mu2_sqrt2(self) -> float:
        # sqrt(2) mu2 = E[(u^2 - 1) sigma(u)].
        f = self.moments.function("s")
        return self.moments.activation.expect(lambda t: (t * t - 1.0) * f(t))


def rf_fit(target: QuadraticTarget, W: np.ndarray, moments: GaussianMoments) -> Fit:
    """The exact infinite-sample RF fit (module docstring); rows of W must be unit vectors.

    ``details['beta_averaged']`` holds (eps, S) averaged over the direction of beta (uniform on
    the sphere, ||beta||^2 = F1^2 fixed; W and B fixed), also exact: with E[beta beta^T] =
    (F1^2/d) I and the odd cross terms cancelling, the linear part contributes
    mu1^2 (F1^2/d) tr(W^T Kc^{-1} W) to the explained variance and mu1^2 (F1^2/d)
    tr(Y^T Kd Y), Y = Kc^{-1} W, to S. This removes the draw-to-draw spread that a single beta
    direction causes when m is small (docs/derivations/quadratic.md Sec. 4).
    """
    gram = RandomFeatureGram.build(W, moments)
    v = gram.target_covariance(target)
    z = solve_psd(gram.Kc, v)
    explained = float(v @ z)
    model = RandomFeatures(W, z, moments.activation, -gram.mean * float(z.sum()))
    S = float(z @ gram.Kd @ z)
    # beta-direction average: linear and quadratic parts separately.
    mu1 = moments.univariate("us")
    v_quad = v - mu1 * (W @ target.beta)
    z_quad = solve_psd(gram.Kc, v_quad)
    Y = solve_psd(gram.Kc, W)
    scale = mu1 * mu1 * target.F1sq / target.d
    avg_explained = scale * float(np.sum(W * Y)) + float(v_quad @ z_quad)
    avg_S = scale * float(np.sum(Y * (gram.Kd @ Y))) + float(z_quad @ gram.Kd @ z_quad)
    details = {"explained": explained, "beta_averaged": (target.variance - avg_explained, avg_S)}
    return Fit(model, target.variance - explained, S, float(z @ gram.Kc @ z), details)
