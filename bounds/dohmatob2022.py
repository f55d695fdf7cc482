"""Dohmatob & Bietti (2022), quadratic targets: asymptotic reference formulas [derived].

docs/theory.md Sec. 5 (Dohmatob & Bietti paragraph) and docs/derivations/quadratic.md. The paper's
claims are
qualitative (robustness only gets worse when test error improves; improperly scaled lazy
initialisation worsens robustness); the closed forms below were derived for this project in the
limit d, m -> infinity with m/d -> psi, infinite samples, x ~ N(0, I_d), and are *reference curves*
(kind: asymptotic reference). The product's exact finite-d solvers (theorycheck.quadratic) are
the ground truth: simulations/quadratic_*.py report where formula and solver agree and where not.

Target f*(x) = <beta, x> + x^T B x - tr B, B = B0 + (tau/d) I; F1^2 = ||beta||^2,
F2^2 = 2 ||B0||_F^2, Ftr^2 = 2 tau^2 / d. eps = E(f - f*)^2, S = E||grad f||^2.
Derivations: docs/derivations/quadratic.md.
"""

from __future__ import annotations

import math
from functools import cache

import numpy as np
from scipy import optimize

from theorycheck.activations import ACTIVATIONS
from theorycheck.bounds._base import Bound, Kind, Param

__all__ = [
    "BOUNDS",
    "ActivationConstants",
    "marchenko_pastur_nt",
    "nn_tail_fraction",
    "rf_resolvent",
]

_CITE = "docs/derivations/quadratic.md {section} [derived]; docs/derivations/quadratic.md"
_PSI = Param("psi", "width ratio m / d (neurons per input dimension)", low=0.0, low_open=True)
_F1 = Param("F1sq", "energy of the linear part, ||beta||^2", low=0.0)
_F2 = Param("F2sq", "energy of the trace-free quadratic part, 2 ||B0||_F^2", low=0.0)
_FTR = Param("Ftrsq", "energy of the trace part, 2 tau^2 / d", low=0.0)
_ALPHA = Param("alpha", "scale of the initial function f0 (init scale)", low=0.0)


# --- constants of an activation (docs/derivations/quadratic.md "Hermite conventions")
# --------------------------
class ActivationConstants:
    """mu_k, E sigma^2, E sigma'^2, E sigma''^2 and the derived constants of
    docs/derivations/quadratic.md.

    mu*^2 = E sigma^2 - mu0^2 - mu1^2; nu^2 = E sigma'^2 - mu1^2; kappa = mu1^2 / mu*^2;
    nu3^2 = E sigma'^2 - mu1^2 - 2 mu2^2; c = 2 mu2^2 / nu3^2;
    gamma3 = (E sigma''^2 + E sigma'^2 - mu1^2 - 4 mu2^2) / nu3^2.
    relu: E sigma''^2 = infinity (the NT robustness of relu is infinite in the weak sense).
    """

    def __init__(self, activation: str) -> None:
        act = ACTIVATIONS[activation]
        self.name = activation
        self.mu = act.hermite_coefficients(2)
        self.second = act.second_moment
        self.deriv_second = act.derivative_second_moment
        self.curv_second = (
            math.inf if activation == "relu" else act.expect(lambda t: act.d2sigma(t) ** 2)
        )
        mu0, mu1, mu2 = self.mu
        self.mu_star_sq = self.second - mu0**2 - mu1**2
        self.nu_sq = self.deriv_second - mu1**2
        self.kappa = mu1**2 / self.mu_star_sq
        self.nu3_sq = self.deriv_second - mu1**2 - 2 * mu2**2
        self.c = 2 * mu2**2 / self.nu3_sq
        self.gamma3 = (self.curv_second + self.deriv_second - mu1**2 - 4 * mu2**2) / self.nu3_sq


@cache
def constants(activation: str) -> ActivationConstants:
    return ActivationConstants(activation)


# --- the special functions ----------------------------------------------------------------------
def rf_resolvent(t: float, psi):
    """m(t) and m'(t): the root of t m^2 + (1 + t(psi - 1)) m - 1 = 0
    (docs/derivations/quadratic.md RF)."""
    psi = np.asarray(psi, dtype=float)
    b = 1 + t * (psi - 1)
    m = (np.sqrt(b * b + 4 * t) - b) / (2 * t)
    dm = -(m * m + (psi - 1) * m) / (2 * t * m + b)
    return m, dm


def _nn_tail_scalar(psi: float) -> float:
    if psi >= 1.0:
        return 0.0

    def mass(t: float) -> float:  # P(|lambda| < t) for the semicircle on [-2, 2]
        return (t * math.sqrt(max(4 - t * t, 0.0)) / 2 + 2 * math.asin(t / 2)) / math.pi

    t = optimize.brentq(lambda t: mass(t) - (1 - psi), 0.0, 2.0, xtol=1e-15, rtol=1e-15)
    theta = math.asin(t / 2)
    return (2 * theta - math.sin(4 * theta) / 2) / math.pi


def nn_tail_fraction(psi):
    """r(psi): the fraction of ||B0||_F^2 in the d - m smallest |eigenvalues| of a semicircle
    matrix (docs/derivations/quadratic.md NN): r = (2 theta - sin(4 theta)/2)/pi, theta =
    arcsin(t/2), where t
    solves [t sqrt(4 - t^2)/2 + 2 arcsin(t/2)]/pi = 1 - psi; r = 0 for psi >= 1."""
    return np.vectorize(_nn_tail_scalar, otypes=[float])(psi)


@cache
def _mp_rule(psi: float) -> tuple[np.ndarray, np.ndarray]:
    # Nonzero eigenvalues of W W^T (unit rows, m/d = psi): l = 1 + psi + 2 sqrt(psi) cos(theta)
    # turns the Marchenko-Pastur density sqrt((l+ - l)(l - l-)) / (2 pi rho l) into the smooth
    # periodic weight 2 psi sin^2(theta) / (pi rho l) on [0, pi] (docs/derivations Sec. 5), where
    # the midpoint rule converges geometrically once it resolves the peak of 1/l near theta = pi,
    # of width ~ |1 - sqrt(psi)|: hence the node count. Weights are renormalised to sum to one.
    nodes = int(min(2000, max(96, 8 * math.pi / max(abs(1 - math.sqrt(psi)), 1e-9))))
    theta = (np.arange(nodes) + 0.5) * math.pi / nodes
    lam = 1 + psi + 2 * math.sqrt(psi) * np.cos(theta)
    w = np.sin(theta) ** 2 / np.maximum(lam, 1e-300)
    return lam, w / w.sum()


def _mp_scalar(psi: float, c: float) -> tuple[float, float, float]:
    rho = min(psi, 1.0)
    lam, w = _mp_rule(float(psi))
    q = c * lam / (1 + c * lam)
    s = lam[:, None] + lam[None, :]
    qv = c * s / (1 + c * s)
    ww = w[:, None] * w[None, :]
    E_1q, E_qq, E_q1q = w @ (1 - q), w @ (q * q), w @ (q * (1 - q))
    V_1q, V_qq, V_q1q = np.sum(ww * (1 - qv)), np.sum(ww * qv * qv), np.sum(ww * qv * (1 - qv))
    a, b = 2 * rho * (1 - rho), rho * rho
    E2 = (1 - rho) ** 2 + a * E_1q + b * V_1q
    return E2, a * E_qq + b * V_qq, a * E_q1q + b * V_q1q


def marchenko_pastur_nt(psi, c: float):
    """(E2, Q2, N2) of docs/derivations/quadratic.md "NT, general smooth sigma" at width ratio psi,
    constant c.

    rho = min(psi, 1); lambda, lambda' iid from the law of the nonzero eigenvalues of W W^T;
    q_perp = c l / (1 + c l), q_V = c (l + l') / (1 + c (l + l')); E2 + Q2 + N2 = 1.
    """
    out = np.vectorize(lambda p: _mp_scalar(float(p), c), otypes=[float, float, float])(psi)
    return out


# --- sigma = t^2 --------------------------------------------------------------------------------
class _Asymptotic(Bound):
    kind = Kind.ASYMPTOTIC
    derived = True


class QuadRFError(_Asymptotic):
    id = "dohmatob2022.quad_rf_error"
    citation = _CITE.format(section="sigma = t^2, RF")
    statement = (
        "Random features with sigma = t^2, psi = m/d, infinite samples, d -> infinity: "
        "eps_RF = F1^2 + F2^2 + Ftr^2 / (1 + psi) (only the trace part is learned)."
    )
    params = (_PSI, _F1, _F2, _FTR)
    monotone = {"psi": -1, "F1sq": +1, "F2sq": +1, "Ftrsq": +1}  # noqa: RUF012

    def _value(self, psi, F1sq, F2sq, Ftrsq):
        return F1sq + F2sq + Ftrsq / (1 + psi)


class QuadRFRobustness(_Asymptotic):
    id = "dohmatob2022.quad_rf_robustness"
    citation = _CITE.format(section="sigma = t^2, RF")
    statement = "Random features with sigma = t^2: S_RF = 2 Ftr^2 psi / (1 + psi)."
    params = (_PSI, _FTR)
    monotone = {"psi": +1, "Ftrsq": +1}  # noqa: RUF012

    def _value(self, psi, Ftrsq):
        return 2 * Ftrsq * psi / (1 + psi)


class QuadNTError(_Asymptotic):
    id = "dohmatob2022.quad_nt_error"
    citation = _CITE.format(section="sigma = t^2, NT")
    statement = (
        "Neural tangent with sigma = t^2: eps_NT = F1^2 + (1 - psi)_+^2 F2^2 + (1 - psi)_+ Ftr^2 "
        "(exact at finite d: F1^2 + 2 ||P_perp B P_perp||_F^2, P_perp the projector on "
        "span(W)^perp)."
    )
    params = (_PSI, _F1, _F2, _FTR)
    monotone = {"psi": -1, "F1sq": +1, "F2sq": +1, "Ftrsq": +1}  # noqa: RUF012

    def _value(self, psi, F1sq, F2sq, Ftrsq):
        gap = np.clip(1 - psi, 0, None)
        return F1sq + gap**2 * F2sq + gap * Ftrsq


class QuadNTRobustness(_Asymptotic):
    id = "dohmatob2022.quad_nt_robustness"
    citation = _CITE.format(section="sigma = t^2, NT")
    statement = (
        "Neural tangent with sigma = t^2: S_NT = 2 [(1 - (1 - psi)_+^2) F2^2 + min(psi, 1) Ftr^2]."
    )
    params = (_PSI, _F2, _FTR)
    monotone = {"psi": +1, "F2sq": +1, "Ftrsq": +1}  # noqa: RUF012

    def _value(self, psi, F2sq, Ftrsq):
        gap = np.clip(1 - psi, 0, None)
        return 2 * ((1 - gap**2) * F2sq + np.minimum(psi, 1) * Ftrsq)


class QuadNNError(_Asymptotic):
    id = "dohmatob2022.quad_nn_error"
    citation = _CITE.format(section="sigma = t^2, NN")
    statement = (
        "Quadratic-activation network at its global optimum (Eckart-Young), GOE-like B0, tau = 0: "
        "eps_NN = F1^2 + F2^2 r(psi), r the semicircle tail fraction (r(0.5) = 0.106, r = 0 for "
        "psi >= 1)."
    )
    params = (_PSI, _F1, _F2)
    monotone = {"psi": -1, "F1sq": +1, "F2sq": +1}  # noqa: RUF012

    def _value(self, psi, F1sq, F2sq):
        return F1sq + F2sq * nn_tail_fraction(psi)


class QuadNNRobustness(_Asymptotic):
    id = "dohmatob2022.quad_nn_robustness"
    citation = _CITE.format(section="sigma = t^2, NN")
    statement = (
        "Quadratic-activation network at its global optimum, GOE-like B0: "
        "S_NN = 2 F2^2 (1 - r(psi))."
    )
    params = (_PSI, _F2)
    monotone = {"psi": +1, "F2sq": +1}  # noqa: RUF012

    def _value(self, psi, F2sq):
        return 2 * F2sq * (1 - nn_tail_fraction(psi))


# --- general sigma --------------------------------------------------------------------------------
class RFError(_Asymptotic):
    """eps_RF = F2^2 + F1^2 m(kappa) (tau = 0)."""

    params = (_PSI, _F1, _F2)
    monotone = {"psi": -1, "F1sq": +1, "F2sq": +1}  # noqa: RUF012

    def __init__(self, activation: str) -> None:
        k = constants(activation)
        self.activation = activation
        self.id = f"dohmatob2022.rf_error_{activation}"
        self.citation = _CITE.format(section="RF, general sigma")
        self.statement = (
            f"Random features ({activation}), tau = 0, infinite samples, d -> infinity: "
            f"eps_RF = F2^2 + F1^2 m(kappa), kappa = mu1^2/mu*^2 = {k.kappa:.6f}, m the root of "
            "t m^2 + (1 + t(psi - 1)) m - 1 = 0 at t = kappa."
        )
        self._kappa = k.kappa

    def _value(self, psi, F1sq, F2sq):
        m, _ = rf_resolvent(self._kappa, psi)
        return F2sq + F1sq * m


class RFRobustness(_Asymptotic):
    """S_RF = F1^2 [(1 - m + kappa m') + (nu^2/mu*^2)(-kappa m')] (tau = 0)."""

    params = (_PSI, _F1)
    monotone = {"F1sq": +1}  # noqa: RUF012

    def __init__(self, activation: str) -> None:
        k = constants(activation)
        self.activation = activation
        self.id = f"dohmatob2022.rf_robustness_{activation}"
        self.citation = _CITE.format(section="RF, general sigma")
        self.statement = (
            f"Random features ({activation}), tau = 0: S_RF = F1^2 [(1 - m + kappa m') + "
            f"(nu^2/mu*^2)(-kappa m')] with kappa = {k.kappa:.6f}, nu^2/mu*^2 = "
            f"{k.nu_sq / k.mu_star_sq:.6f} (not monotone in psi)."
        )
        self._kappa, self._ratio = k.kappa, k.nu_sq / k.mu_star_sq

    def _value(self, psi, F1sq):
        m, dm = rf_resolvent(self._kappa, psi)
        return F1sq * ((1 - m + self._kappa * dm) + self._ratio * (-self._kappa * dm))


class NTError(_Asymptotic):
    """eps_NT = F2^2 E2 (linear part learned)."""

    params = (_PSI, _F2)
    monotone = {"psi": -1, "F2sq": +1}  # noqa: RUF012

    def __init__(self, activation: str) -> None:
        k = constants(activation)
        self.activation = activation
        self.id = f"dohmatob2022.nt_error_{activation}"
        self.citation = _CITE.format(section="NT, general smooth sigma")
        self.statement = (
            f"Neural tangent ({activation}), tau = 0, d -> infinity: eps_NT = F2^2 E2(psi) "
            f"(Marchenko-Pastur, c = 2 mu2^2/nu3^2 = {k.c:.6f}); the linear part is learned up "
            "to a finite-m residual of order F1^2 / m, not included."
        )
        self._c = k.c

    def _value(self, psi, F2sq):
        E2, _, _ = marchenko_pastur_nt(psi, self._c)
        return F2sq * E2


class NTRobustness(_Asymptotic):
    """S_NT = F1^2 + F2^2 (2 Q2 + gamma3 N2) (smooth sigma)."""

    params = (_PSI, _F1, _F2)
    monotone = {"F1sq": +1, "F2sq": +1}  # noqa: RUF012

    def __init__(self, activation: str) -> None:
        k = constants(activation)
        self.activation = activation
        self.id = f"dohmatob2022.nt_robustness_{activation}"
        self.citation = _CITE.format(section="NT, general smooth sigma")
        self.statement = (
            f"Neural tangent ({activation}), tau = 0: S_NT = F1^2 + F2^2 (2 Q2 + gamma3 N2), "
            f"gamma3 = {k.gamma3:.6f}, c = {k.c:.6f} (Marchenko-Pastur)."
        )
        self._c, self._gamma3 = k.c, k.gamma3

    def _value(self, psi, F1sq, F2sq):
        _, Q2, N2 = marchenko_pastur_nt(psi, self._c)
        return F1sq + F2sq * (2 * Q2 + self._gamma3 * N2)


class InitRobustness(Bound):
    """E S(f0) = alpha^2 E sigma'(g)^2, averaged over a0 (exact at every finite d and m)."""

    kind = Kind.EXPECTATION
    derived = True
    params = (_ALPHA,)
    monotone = {"alpha": +1}  # noqa: RUF012

    def __init__(self, activation: str) -> None:
        k = constants(activation)
        self.activation = activation
        self.id = f"dohmatob2022.init_robustness_{activation}"
        self.citation = _CITE.format(section="Initialization and lazy training")
        self.statement = (
            f"At initialisation f0 = (alpha/sqrt m) sum_j a0_j sigma(<w_j, x>) ({activation}, unit "
            f"w_j, a0 = +-1, x ~ N(0, I_d)): E S(f0) = alpha^2 E sigma'(g)^2 = "
            f"{k.deriv_second:.6f} alpha^2."
        )
        self._moment = k.deriv_second

    def _value(self, alpha):
        return alpha**2 * self._moment


# --- the tradeoffs and the paper's two claims ----------------------------------------------------
_PAPER = "Dohmatob & Bietti (2022), abstract and Sec. 1"


class TradeoffPoincare(Bound):
    id = "dohmatob2022.tradeoff_poincare"
    citation = (
        "docs/theory.md Sec. 5; docs/derivations/quadratic.md Tradeoff inequalities [derived]; "
        "docs/derivations/quadratic.md"
    )
    statement = (
        "Any infinite-sample fit (the L2 projection of f* on a span containing the constants), at "
        "every finite d: S(fhat) >= Var fhat = Var f* - eps(fhat) (Gaussian Poincaré inequality). "
        "The lower bound on the robustness rises as the test error falls."
    )
    kind = Kind.EXPECTATION
    derived = True
    params = (
        Param("variance", "Var f*(x)", low=0.0),
        Param("eps", "test error of the fit", low=0.0),
    )
    monotone = {"variance": +1, "eps": -1}  # noqa: RUF012

    def _value(self, variance, eps):
        return variance - eps


class TradeoffIdentity(Bound):
    id = "dohmatob2022.tradeoff_identity_t2"
    citation = _CITE.format(section="sigma = t^2")
    statement = (
        "sigma = t^2 (RF, NT and the NN at its global optimum), every finite d: "
        "S(fhat) + 2 eps(fhat) = S(f*) + F1^2 exactly (the models are even, so the linear part is "
        "never fitted; F1 = 0 gives docs/derivations/quadratic.md's S(fhat) + 2 eps(fhat) = S(f*))."
    )
    kind = Kind.EXPECTATION
    derived = True
    params = (
        Param("S_star", "robustness of the target S(f*)", low=0.0),
        _F1,
        Param("eps", "test error of the fit", low=0.0),
    )
    monotone = {"S_star": +1, "F1sq": +1, "eps": -1}  # noqa: RUF012

    def _value(self, S_star, F1sq, eps):
        return S_star + F1sq - 2 * eps


class ClaimTradeoff(Bound):
    id = "dohmatob2022.claim_tradeoff"
    citation = f"{_PAPER}; checked along psi per regime (simulations/quadratic_tradeoff.py)"
    statement = (
        "'Robustness can only get worse when test error improves, and vice versa.' Checked form: "
        "along the width ratio psi = m/d (nested widths, one regime), wherever eps decreases S "
        "does not decrease, i.e. S(psi') >= S_before = S(psi) when eps(psi') < eps(psi)."
    )
    kind = Kind.EXPECTATION
    params = (Param("S_before", "robustness before the test error improved", low=0.0),)
    monotone = {"S_before": +1}  # noqa: RUF012

    def _value(self, S_before):
        return S_before


class ClaimLazyInit(Bound):
    id = "dohmatob2022.claim_lazy_init"
    citation = (
        f"{_PAPER}; mechanism [derived]: docs/derivations/quadratic.md, "
        '"Initialization and lazy training"'
    )
    statement = (
        "'Linearized lazy training regimes can worsen robustness, due to improperly scaled random "
        "initialization.' Mechanism [derived]: averaged over the sign of a0, "
        "S_lazy(alpha) = S(Pi_T f*) + alpha^2 S((I - Pi_T) f0^(1)), increasing in alpha unless f0 "
        "lies in the tangent span T (second layer trained; relu or t^2 with the first layer "
        "trained), where it is flat."
    )
    kind = Kind.EXPECTATION
    params = (
        _ALPHA,
        Param("S_T", "robustness of Pi_T f*", low=0.0),
        Param("S_residual", "robustness of the init residual at alpha = 1", low=0.0),
    )
    monotone = {"alpha": +1, "S_T": +1, "S_residual": +1}  # noqa: RUF012

    def _value(self, alpha, S_T, S_residual):
        return S_T + alpha**2 * S_residual


BOUNDS: tuple[Bound, ...] = (
    QuadRFError(),
    QuadRFRobustness(),
    QuadNTError(),
    QuadNTRobustness(),
    QuadNNError(),
    QuadNNRobustness(),
    *(RFError(a) for a in ("relu", "gelu", "tanh")),
    *(RFRobustness(a) for a in ("relu", "gelu", "tanh")),
    *(NTError(a) for a in ("relu", "gelu", "tanh")),
    *(NTRobustness(a) for a in ("gelu", "tanh")),
    *(InitRobustness(a) for a in ("relu", "gelu", "tanh", "quadratic")),
    TradeoffPoincare(),
    TradeoffIdentity(),
    ClaimTradeoff(),
    ClaimLazyInit(),
)
