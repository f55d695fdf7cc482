"""Quadratic targets in four learning regimes (Dohmatob & Bietti 2022; Ghorbani et al. 2019).

docs/theory.md Sec. 5 and docs/derivations/quadratic.md: targets f*(x) = <beta, x> + x^T B x - tr
B, x ~ N(0, I_d) or
uniform on the sphere of radius sqrt(d) (``law='sphere'``); the infinite-sample fits of random
features (RF), neural tangent (NT), the fully trained quadratic-activation network (NN) and lazy
training around f0; their test error eps = E(f - f*)^2 and robustness S = E||grad f||^2.

Modules: :mod:`~theorycheck.quadratic.targets` (targets, inputs, first layers),
:mod:`~theorycheck.quadratic.hermite` (Gaussian moments), :mod:`~theorycheck.quadratic.models`
(fitted functions), :mod:`~theorycheck.quadratic.frobenius` (exact sigma = t^2 projections),
:mod:`~theorycheck.quadratic.random_features` (RF kernel route),
:mod:`~theorycheck.quadratic.tangent` (NT population Gram, conjugate gradients),
:mod:`~theorycheck.quadratic.lazy` (lazy residual), :mod:`~theorycheck.quadratic.training`
(SGD and least squares on samples), :mod:`~theorycheck.quadratic.metrics` (Monte Carlo),
:mod:`~theorycheck.quadratic.sphere` (what the exact solvers support on the sphere).
"""

from theorycheck.quadratic.frobenius import (
    nn_eckart_young,
    nt_frobenius,
    quadratic_form_metrics,
    rf_frobenius,
)
from theorycheck.quadratic.hermite import GaussianMoments
from theorycheck.quadratic.lazy import LazyFit, lazy_fit
from theorycheck.quadratic.metrics import MonteCarloMetrics, monte_carlo_metrics
from theorycheck.quadratic.models import Fit
from theorycheck.quadratic.random_features import rf_fit
from theorycheck.quadratic.tangent import nt_fit
from theorycheck.quadratic.targets import (
    QuadraticTarget,
    sample_first_layer,
    sample_inputs,
    sample_target,
)
from theorycheck.quadratic.training import (
    least_squares,
    online_sgd_linear,
    train_quadratic_network,
)

__all__ = [
    "Fit",
    "GaussianMoments",
    "LazyFit",
    "MonteCarloMetrics",
    "QuadraticTarget",
    "lazy_fit",
    "least_squares",
    "monte_carlo_metrics",
    "nn_eckart_young",
    "nt_fit",
    "nt_frobenius",
    "online_sgd_linear",
    "quadratic_form_metrics",
    "rf_fit",
    "rf_frobenius",
    "sample_first_layer",
    "sample_inputs",
    "sample_target",
    "train_quadratic_network",
]
