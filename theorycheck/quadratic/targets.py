"""Quadratic targets, input laws and random first layers (docs/theory.md Sec. 5,
docs/derivations/quadratic.md).

The target of Dohmatob & Bietti (2022), after Ghorbani et al. (2019):

    f*(x) = <beta, x> + x^T B x - tr B,   B = B0 + (tau / d) I,   tr B0 = 0,

with F1^2 = ||beta||^2, F2^2 = 2 ||B0||_F^2 and Ftr^2 = 2 tau^2 / d. For x ~ N(0, I_d) the three
parts are orthogonal in L2 and Var(x^T M x) = 2 ||M||_F^2 for symmetric M, so
Var f* = F1^2 + F2^2 + Ftr^2 and S(f*) = E||beta + 2 B x||^2 = F1^2 + 2 (F2^2 + Ftr^2).

``B0`` is GOE-like (default) or low-rank "structured": B0 = sum_{i<=r} lambda_i v_i v_i^T minus its
trace. Both are rescaled so that the realised ||beta||, ||B0||_F and tau match F1, F2, Ftr exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from theorycheck.errors import UserInputError, check_allocation, check_choice, check_int, check_real

__all__ = [
    "INPUT_LAWS",
    "STRUCTURES",
    "QuadraticTarget",
    "sample_first_layer",
    "sample_inputs",
    "sample_target",
]

STRUCTURES = ("goe", "low-rank")
INPUT_LAWS = ("gaussian", "sphere")


@dataclass(frozen=True)
class QuadraticTarget:
    """f*(x) = <beta, x> + x^T B x - tr B with B = B0 + (tau/d) I (docs/derivations/quadratic.md
    notation).

    Attributes
    ----------
    beta : (d,) linear part.
    B0 : (d, d) symmetric, trace-free quadratic part.
    tau : trace part, B = B0 + (tau / d) I.
    """

    beta: np.ndarray
    B0: np.ndarray
    tau: float

    @property
    def d(self) -> int:
        return self.beta.shape[0]

    @property
    def B(self) -> np.ndarray:
        """The full quadratic matrix B0 + (tau / d) I."""
        return self.B0 + (self.tau / self.d) * np.eye(self.d)

    @property
    def F1sq(self) -> float:
        """F1^2 = ||beta||^2, the energy of the linear part."""
        return float(self.beta @ self.beta)

    @property
    def F2sq(self) -> float:
        """F2^2 = 2 ||B0||_F^2, the energy of the trace-free quadratic part."""
        return 2.0 * float(np.sum(self.B0 * self.B0))

    @property
    def Ftrsq(self) -> float:
        """Ftr^2 = 2 tau^2 / d, the energy of the trace part."""
        return 2.0 * self.tau**2 / self.d

    @property
    def variance(self) -> float:
        """Var f*(x) for x ~ N(0, I_d) = F1^2 + 2 ||B||_F^2 (E f* = 0)."""
        B = self.B
        return self.F1sq + 2.0 * float(np.sum(B * B))

    def variance_under(self, law: str = "gaussian") -> float:
        """Var f*(x) for x ~ N(0, I_d) or uniform on the sphere of radius sqrt(d).

        On the sphere x^T x = d, so the trace part is the constant tau and
        Var(x^T B0 x) = (2d / (d + 2)) ||B0||_F^2 (E u_i^4 = 3 E u_i^2 u_j^2 = 3 / (d (d + 2)) for
        u uniform on S^{d-1}): Var f* = F1^2 + d F2^2 / (d + 2) (docs/derivations/quadratic.md
        Sec. 10). E f* = 0 under both laws.
        """
        check_choice("law", law, INPUT_LAWS)
        if law == "gaussian":
            return self.variance
        return self.F1sq + self.d / (self.d + 2.0) * self.F2sq

    @property
    def robustness(self) -> float:
        """S(f*) = E||grad f*||^2 = ||beta||^2 + 4 ||B||_F^2 for x ~ N(0, I_d) and for x uniform on
        the sphere of radius sqrt(d) (both have E x = 0, E x x^T = I; Euclidean gradient)."""
        B = self.B
        return self.F1sq + 4.0 * float(np.sum(B * B))

    def value(self, X: np.ndarray) -> np.ndarray:
        """f*(x) for each row of X, shape (n,)."""
        B = self.B
        return X @ self.beta + np.sum((X @ B) * X, axis=1) - float(np.trace(B))

    def gradient(self, X: np.ndarray) -> np.ndarray:
        """grad f*(x) = beta + 2 B x for each row of X, shape (n, d)."""
        return self.beta[None, :] + 2.0 * X @ self.B


def _unit_rows(G: np.ndarray) -> np.ndarray:
    return G / np.linalg.norm(G, axis=1, keepdims=True)


def sample_target(
    d: int,
    rng: np.random.Generator,
    *,
    F1sq: float = 1.0,
    F2sq: float = 1.0,
    Ftrsq: float = 0.0,
    structure: str = "goe",
    rank: int = 5,
) -> QuadraticTarget:
    """Draw a target with exactly the given energies (docs/theory.md Sec. 5).

    ``goe``: B0 = (G + G^T)/2 minus its trace, G with iid N(0,1) entries, rescaled; its spectrum is
    a semicircle of variance F2^2 / (2 d) per eigenvalue. ``low-rank``: B0 = V V^T minus its trace,
    V a uniformly random d x ``rank`` orthonormal frame (equal spikes), rescaled.
    beta is F1 times a uniform unit vector.
    """
    d = check_int("d", d, minimum=2)
    F1sq = check_real("F1sq", F1sq, low=0.0)
    F2sq = check_real("F2sq", F2sq, low=0.0)
    Ftrsq = check_real("Ftrsq", Ftrsq, low=0.0)
    check_choice("structure", structure, STRUCTURES)
    check_allocation(f"d*d = {d}*{d} (the matrix B0)", 8.0 * 4 * d * d, hint="lower d")
    g = rng.standard_normal(d)
    beta = math.sqrt(F1sq) * g / np.linalg.norm(g)
    if structure == "goe":
        G = rng.standard_normal((d, d))
        B0 = 0.5 * (G + G.T)
    else:
        rank = check_int("rank", rank)
        if rank >= d:
            raise UserInputError(f"rank must be < d for a low-rank target, got rank={rank}, d={d}")
        V, _ = np.linalg.qr(rng.standard_normal((d, rank)))
        B0 = V @ V.T
    B0 = B0 - (np.trace(B0) / d) * np.eye(d)
    B0 *= math.sqrt(F2sq / (2.0 * float(np.sum(B0 * B0))))
    tau = math.sqrt(Ftrsq * d / 2.0)
    return QuadraticTarget(beta, B0, tau)


def sample_first_layer(d: int, m: int, rng: np.random.Generator) -> np.ndarray:
    """(m, d) first layer with rows w_j uniform on the unit sphere S^{d-1} (docs/theory.md Sec. 5).

    Nested designs take the first m rows of one draw, so spans grow with m.
    """
    d = check_int("d", d)
    m = check_int("m", m)
    check_allocation(f"m*d = {m}*{d} (the first layer)", 8.0 * 2 * m * d, hint="lower m or d")
    return _unit_rows(rng.standard_normal((m, d)))


def sample_inputs(d: int, n: int, rng: np.random.Generator, law: str = "gaussian") -> np.ndarray:
    """(n, d) inputs: x ~ N(0, I_d) (``gaussian``) or uniform on the sphere of radius sqrt(d)."""
    check_choice("law", law, INPUT_LAWS)
    n, d = check_int("n", n), check_int("d", d)
    check_allocation(f"n*d = {n}*{d} inputs", 8.0 * n * d, hint="lower n or d")
    X = rng.standard_normal((n, d))
    if law == "sphere":
        X *= math.sqrt(d) / np.linalg.norm(X, axis=1, keepdims=True)
    return X
