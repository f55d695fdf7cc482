"""Lazy training around a random initialisation, infinite samples (docs/derivations/quadratic.md
"Initialization
and lazy training"; docs/derivations/quadratic.md Sec. 6).

f0(x) = (alpha / sqrt m) sum_j a0_j sigma(<w_j, x>). The linearised model f0 + <grad_theta f0,
theta - theta0> trained on the population risk is the L2 projection of f* - f0 on the tangent
span T (with an intercept), so

    fhat = f0 + Pi_T (f* - f0) = Pi_T f* + alpha r1,   r1 = (I - Pi_T) f0^(1)  (f0 at alpha = 1).

* ``regime='rf'`` (second layer trained): T = span{sigma(<w_j, x>)} contains f0, r1 = 0.
* ``regime='nt'`` (first layer trained): T = span{x_p sigma'(<w_j, x>)}; f0 lies in T when sigma is
  positively homogeneous (relu: sigma(u) = u sigma'(u); t^2: sigma(u) = u sigma'(u)/2), otherwise
  r1 != 0 (gelu, tanh, softplus).

eps and S are quadratic in alpha: eps(alpha) = eps_T - 2 alpha <e_T, r1> + alpha^2 ||r1||^2 with
e_T = (I - Pi_T) f*, and S(alpha) = S_T + 2 alpha <grad Pi_T f*, grad r1> + alpha^2 S(r1). The cross
terms are odd in a0, so averaging over the two draws a0 and -a0 (equally likely) removes them:
the sign-symmetrised values eps_T + alpha^2 ||r1||^2 and S_T + alpha^2 S(r1) are the a0-averages
given |a0|, nondecreasing in alpha.

``law='sphere'`` (inputs uniform on the sphere of radius sqrt(d)): relu and t^2 only, through the
sphere Grams of :mod:`~theorycheck.quadratic.random_features` and
:mod:`~theorycheck.quadratic.tangent`. sigma(u) = u sigma'(u) / k holds pointwise, so f0 lies in
the NT span under every input law and the residual vanishes on the sphere too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from theorycheck.errors import check_choice
from theorycheck.quadratic.hermite import GaussianMoments
from theorycheck.quadratic.models import NeuralTangent, RandomFeatures, SumModel
from theorycheck.quadratic.random_features import RandomFeatureGram, solve_psd
from theorycheck.quadratic.tangent import TangentGram, solve_tangent
from theorycheck.quadratic.targets import QuadraticTarget

__all__ = ["LAZY_REGIMES", "LazyFit", "lazy_fit"]

LAZY_REGIMES = ("rf", "nt")


@dataclass(frozen=True)
class LazyFit:
    """The lazy fit for every alpha at once (module docstring).

    Attributes
    ----------
    eps_T, S_T : test error and robustness of Pi_T f* (alpha = 0).
    residual_norm_sq, residual_energy : ||r1||^2 and S(r1) (zero when f0 lies in T).
    cross_error, cross_energy : <e_T, r1> and <grad Pi_T f*, grad r1>.
    init_variance, init_energy : Var f0 and S(f0) at alpha = 1 for this a0.
    """

    regime: str
    eps_T: float
    S_T: float
    residual_norm_sq: float
    residual_energy: float
    cross_error: float
    cross_energy: float
    init_variance: float
    init_energy: float
    _parts: tuple = ()

    def eps(self, alpha: float, symmetrised: bool = False) -> float:
        """Test error of the lazy fit at init scale ``alpha`` (a0-sign-averaged if symmetrised)."""
        cross = 0.0 if symmetrised else -2.0 * alpha * self.cross_error
        return self.eps_T + cross + alpha**2 * self.residual_norm_sq

    def S(self, alpha: float, symmetrised: bool = False) -> float:
        """Robustness E||grad fhat||^2 at init scale ``alpha``."""
        cross = 0.0 if symmetrised else 2.0 * alpha * self.cross_energy
        return self.S_T + cross + alpha**2 * self.residual_energy

    def model(self, alpha: float):
        """fhat = alpha f0^(1) + (projection coefficients) as a model for Monte Carlo checks."""
        kind, W, act, c, star, zero, mean_scale, mu0 = self._parts
        f0 = RandomFeatures(W, alpha * c, act, 0.0)
        coef = star - alpha * zero
        if kind == "rf":
            shift = -mu0 * (alpha * float(c.sum()) + float(coef.sum()))
            return SumModel((f0, RandomFeatures(W, coef, act, shift)))
        shift = -(alpha * mu0 * float(c.sum()) + mean_scale * float(np.sum(coef * W)))
        return SumModel((f0, NeuralTangent(W, coef, act, shift)))


def lazy_fit(
    target: QuadraticTarget,
    W: np.ndarray,
    a0: np.ndarray,
    moments: GaussianMoments,
    regime: str = "nt",
    *,
    method: str = "auto",
    tol: float = 1e-11,
    law: str = "gaussian",
) -> LazyFit:
    """Exact lazy fit around f0 = (1/sqrt m) sum_j a0_j sigma(<w_j, x>) (module docstring)."""
    check_choice("regime", regime, LAZY_REGIMES)
    m = W.shape[0]
    c = np.asarray(a0, dtype=float) / math.sqrt(m)
    var_star = target.variance_under(law)
    rf = RandomFeatureGram.build(W, moments, law)
    v = rf.target_covariance(target)
    init_var, init_energy = float(c @ rf.Kc @ c), float(c @ rf.Kd @ c)
    cov_star_f0 = float(c @ v)
    if regime == "rf":
        sol = solve_psd(rf.Kc, np.stack([v, rf.Kc @ c], axis=1))
        star, zero = sol[:, 0], sol[:, 1]
        b_star, b_zero = v, rf.Kc @ c
        res_var = init_var - float(b_zero @ zero)
        r1 = c - zero  # r1 = sum_j (c_j - zero_j) sigma(u_j) + const
        res_energy = float(r1 @ rf.Kd @ r1)
        cross_energy = float(star @ rf.Kd @ r1)
        eps_T = var_star - float(b_star @ star)
        S_T = float(star @ rf.Kd @ star)
        parts = ("rf", W, moments.activation, c, star, zero, 0.0, rf.mean)
    else:
        nt = TangentGram.build(W, moments, law)
        b_star = nt.target_covariance(target)
        b_zero = nt.feature_covariance(c)
        sol, _ = solve_tangent(nt, np.stack([b_star, b_zero]), method=method, tol=tol)
        star, zero = sol[0], sol[1]
        res_var = init_var - float(np.sum(b_zero * zero))
        res_energy = init_energy - 2.0 * nt.energy_with_features(c, zero) + nt.energy(zero)
        cross_energy = nt.energy_with_features(c, star) - nt.energy(star, zero)
        eps_T = var_star - float(np.sum(b_star * star))
        S_T = nt.energy(star)
        parts = ("nt", W, moments.activation, c, star, zero, nt.mean_scale, rf.mean)
    cross_error = cov_star_f0 - float(np.sum(b_star * zero))
    return LazyFit(
        regime,
        eps_T,
        S_T,
        res_var,
        res_energy,
        cross_error,
        cross_energy,
        init_var,
        init_energy,
        parts,
    )
