"""Exact finite-d random-features fit for any sigma: the kernel route
(docs/derivations/quadratic.md "RF, general
sigma"; docs/derivations/quadratic.md Sec. 4).

f(x) = c + sum_j z_j sigma(<w_j, x>) with unit rows w_j. With rho_jk = <w_j, w_k>, Mehler's
formula gives the feature covariance Kc_jk = E sigma(u_j) sigma(u_k) - mu0^2, and Gaussian
conditioning gives the covariance with the target,

    v_j = Cov(f*, sigma(u_j)) = mu1 <w_j, beta> + sqrt(2) mu2 w_j^T B w_j,

so the L2 projection is z = Kc^{-1} v, eps = Var f* - v^T z and S = z^T Kd z with
Kd_jk = rho_jk E sigma'(u_j) sigma'(u_k) (diagonal E sigma'^2). No sampling of x.

``law='sphere'`` (x uniform on the sphere of radius sqrt(d)), for positively homogeneous sigma of
degree a only (relu, t^2): each moment is rescaled by the radial factor c_p of its degree p
(:mod:`theorycheck.quadratic.sphere`): E sigma sigma (p = 2a), E sigma'sigma' (2a - 2), the mean
mu0 (a), the linear covariance (a + 1), the quadratic one (a + 2, and a for the tr B term).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import linalg

from theorycheck.errors import UserInputError
from theorycheck.quadratic.hermite import GaussianMoments, pair_matrix
from theorycheck.quadratic.models import Fit, RandomFeatures
from theorycheck.quadratic.sphere import check_law, sphere_factors
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
    """Population second moments of the features sigma(<w_j, x>), x ~ N(0, I_d) or uniform on
    the sphere of radius sqrt(d) (``law``; module docstring).

    Attributes
    ----------
    Kc : (m, m) feature covariance (centred: the model has an intercept).
    Kd : (m, m) gradient Gram, E <grad sigma(u_j), grad sigma(u_k)> = rho_jk E sigma'sigma'.
    mean : E sigma(u) (Gaussian: mu0; the mean of every feature).
    law : the input law.
    """

    W: np.ndarray
    moments: GaussianMoments
    Kc: np.ndarray
    Kd: np.ndarray
    mean: float
    law: str = "gaussian"

    @classmethod
    def build(
        cls, W: np.ndarray, moments: GaussianMoments, law: str = "gaussian"
    ) -> RandomFeatureGram:
        check_unit_rows(W)
        check_law(law)
        rho = W @ W.T
        K = pair_matrix(moments, "s", "s", rho)
        Kd = rho * pair_matrix(moments, "d", "d", rho)
        mu0 = moments.univariate("s")
        if law == "sphere":
            a, c = sphere_factors(W.shape[1], moments.activation)
            K, Kd, mu0 = c(2 * a) * K, c(2 * a - 2) * Kd, c(a) * mu0
        return cls(W, moments, K - mu0 * mu0, Kd, mu0, law)

    def linear_scale(self) -> float:
        """v_lin = linear_scale mu1 W beta: 1 (Gaussian), c_{a+1} (sphere)."""
        if self.law == "gaussian":
            return 1.0
        a, c = sphere_factors(self.W.shape[1], self.moments.activation)
        return c(a + 1)

    def target_covariance(self, target: QuadraticTarget) -> np.ndarray:
        """v_j = Cov(f*(x), sigma(<w_j, x>)) = mu1 <w_j, beta> + sqrt(2) mu2 w_j^T B w_j.

        Sphere (degree-a sigma): c_{a+1} mu1 <w_j, beta> + c_{a+2} E_gauss[x^T B x sigma(u_j)]
        - c_a tr B mu0, with E_gauss[x^T B x sigma(u)] = sqrt(2) mu2 w^T B w + mu0 tr B.
        """
        mu1 = self.moments.univariate("us")  # E[u sigma(u)] = mu1
        mu2s = self._mu2_sqrt2()
        W = self.W
        lin = mu1 * (W @ target.beta)
        quad = mu2s * np.sum((W @ target.B) * W, axis=1)
        if self.law == "gaussian":
            return lin + quad
        a, c = sphere_factors(W.shape[1], self.moments.activation)
        trB, mu0 = float(np.trace(target.B)), self.moments.univariate("s")
        return c(a + 1) * lin + c(a + 2) * (quad + trB * mu0) - c(a) * trB * mu0

    def _mu2_sqrt2(self) -> float:
        # sqrt(2) mu2 = E[(u^2 - 1) sigma(u)].
        f = self.moments.function("s")
        return self.moments.activation.expect(lambda t: (t * t - 1.0) * f(t))


def rf_fit(
    target: QuadraticTarget, W: np.ndarray, moments: GaussianMoments, law: str = "gaussian"
) -> Fit:
    """The exact infinite-sample RF fit (module docstring); rows of W must be unit vectors.

    ``law='sphere'``: inputs uniform on the sphere of radius sqrt(d), relu and t^2 only.

    ``details['beta_averaged']`` holds (eps, S) averaged over the direction of beta (uniform on
    the sphere, ||beta||^2 = F1^2 fixed; W and B fixed), also exact: with E[beta beta^T] =
    (F1^2/d) I and the odd cross terms cancelling, the linear part contributes
    mu1^2 (F1^2/d) tr(W^T Kc^{-1} W) to the explained variance and mu1^2 (F1^2/d)
    tr(Y^T Kd Y), Y = Kc^{-1} W, to S. This removes the draw-to-draw spread that a single beta
    direction causes when m is small (docs/derivations/quadratic.md Sec. 4).
    """
    gram = RandomFeatureGram.build(W, moments, law)
    v = gram.target_covariance(target)
    z = solve_psd(gram.Kc, v)
    explained = float(v @ z)
    model = RandomFeatures(W, z, moments.activation, -gram.mean * float(z.sum()))
    S = float(z @ gram.Kd @ z)
    # beta-direction average: linear and quadratic parts separately.
    mu1 = moments.univariate("us") * gram.linear_scale()
    v_quad = v - mu1 * (W @ target.beta)
    z_quad = solve_psd(gram.Kc, v_quad)
    Y = solve_psd(gram.Kc, W)
    scale = mu1 * mu1 * target.F1sq / target.d
    avg_explained = scale * float(np.sum(W * Y)) + float(v_quad @ z_quad)
    avg_S = scale * float(np.sum(Y * (gram.Kd @ Y))) + float(z_quad @ gram.Kd @ z_quad)
    var_star = target.variance_under(law)
    details = {"explained": explained, "beta_averaged": (var_star - avg_explained, avg_S)}
    return Fit(model, var_star - explained, S, float(z @ gram.Kc @ z), details)
