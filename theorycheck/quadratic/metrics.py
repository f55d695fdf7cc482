"""Test error and robustness by Monte Carlo on fresh inputs (docs/theory.md Sec. 5).

eps(f) = E (f(x) - f*(x))^2 and S(f) = E ||grad_x f(x)||^2 (the Dirichlet energy; its square
root is the Sobolev seminorm). Over Hermite degrees S(f) = sum_k k ||P_k f||^2, so S(f) >= Var f
(Gaussian Poincare inequality). The exact solvers give both without sampling x; this module
estimates them from n fresh inputs, for the comparisons "MC vs solver".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from theorycheck.errors import check_allocation, check_finite, check_int
from theorycheck.quadratic.targets import QuadraticTarget, sample_inputs
from theorycheck.stats import Interval, mean_ci, mean_z_test

__all__ = ["MonteCarloMetrics", "monte_carlo_metrics"]


@dataclass(frozen=True)
class MonteCarloMetrics:
    """Per-input samples of (f - f*)^2, ||grad f||^2 and f on n fresh inputs."""

    errors: np.ndarray
    energies: np.ndarray
    values: np.ndarray

    @property
    def n(self) -> int:
        return self.errors.size

    def eps(self, level: float = 0.95) -> Interval:
        """Mean squared error with its t interval."""
        return mean_ci(self.errors, level)

    def S(self, level: float = 0.95) -> Interval:
        """Mean gradient energy with its t interval."""
        return mean_ci(self.energies, level)

    def z_test(self, quantity: str, reference: float) -> float:
        """Two-sided z-test p-value of the mean of ``quantity`` ('eps' or 'S') vs ``reference``."""
        x = self.errors if quantity == "eps" else self.energies
        return mean_z_test(x, reference)


def monte_carlo_metrics(
    model,
    target: QuadraticTarget,
    n: int,
    rng: np.random.Generator,
    *,
    law: str = "gaussian",
    chunk: int = 8192,
) -> MonteCarloMetrics:
    """Evaluate ``model`` (value and gradient) against ``target`` on n fresh inputs from ``law``."""
    n = check_int("n", n)
    check_allocation(f"n = {n} Monte Carlo samples", 8.0 * 3 * n, hint="lower n")
    errors, energies, values = np.empty(n), np.empty(n), np.empty(n)
    for start in range(0, n, chunk):
        X = sample_inputs(target.d, min(chunk, n - start), rng, law)
        sl = slice(start, start + len(X))
        f, grad = model.value_and_gradient(X)
        values[sl] = f
        errors[sl] = (f - target.value(X)) ** 2
        energies[sl] = np.sum(grad**2, axis=1)
    check_finite("Monte Carlo metrics", errors)
    check_finite("Monte Carlo metrics", energies)
    return MonteCarloMetrics(errors, energies, values)
