"""Two-layer networks f(x; a, W) = m^{-1/2} sum_s a_s sigma(<w_s, x> + b_s) + c, and their sampling.

Scalings (docs/theory.md Sec. 1):

* ``wang`` (Wang et al. 2022, Def. 2.1): w_s ~ N(0, I_d), x on the unit sphere S^{d-1}.
* ``bubeck`` (Bubeck et al. 2021): w_s ~ N(0, I_d / d), x on the sphere of radius sqrt(d).

Both are one model at two input scales: f_wang(x) = f_bubeck(sqrt(d) x). One core computes f for
whatever W and x it is given; the scaling only decides how W and x are drawn. W is stored as an
(m, d) array, one row per neuron, so that a neuron's weights are contiguous.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from theorycheck.activations import Activation, get_activation
from theorycheck.errors import (
    MEMORY_BUDGET_BYTES,
    UserInputError,
    check_allocation,
    check_choice,
    check_int,
)

__all__ = [
    "MEMORY_BUDGET_BYTES",
    "SCALINGS",
    "Network",
    "NetworkSpec",
    "input_radius",
    "sample_inputs",
    "sample_network",
]

SCALINGS = ("wang", "bubeck")
OUTPUT_WEIGHTS = ("sign", "gaussian")
#: Largest materialised W (bytes) theorycheck builds; beyond it the user must pick another path.


@dataclass(frozen=True)
class NetworkSpec:
    """What network to draw. Validates on construction and names the bad parameter.

    Parameters
    ----------
    d : input dimension (>= 1).
    m : width, the number of hidden neurons (>= 1).
    activation : relu, softplus, tanh, gelu or quadratic.
    scaling : ``wang`` or ``bubeck`` (see the module docstring).
    output_weights : ``sign`` (a_s uniform on {-1, +1}, the papers' choice) or ``gaussian``.
    biases : if True, hidden biases b_s ~ N(0, 1) and an output bias c ~ N(0, 1), as in the
        official code of Wang et al.; otherwise b = 0, c = 0.
    """

    d: int
    m: int
    activation: str = "relu"
    scaling: str = "wang"
    output_weights: str = "sign"
    biases: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "d", check_int("d", self.d))
        object.__setattr__(self, "m", check_int("m", self.m))
        get_activation(self.activation)
        check_choice("scaling", self.scaling, SCALINGS)
        check_choice("output_weights", self.output_weights, OUTPUT_WEIGHTS)
        if not isinstance(self.biases, bool):
            raise UserInputError(f"biases must be True or False, got {self.biases!r}")

    @property
    def act(self) -> Activation:
        return get_activation(self.activation)

    @property
    def weight_std(self) -> float:
        """Standard deviation of each entry of W at initialisation."""
        return 1.0 if self.scaling == "wang" else 1.0 / math.sqrt(self.d)

    def check_materializable(self, budget_bytes: int = MEMORY_BUDGET_BYTES) -> None:
        """Raise if W (m x d float64) would exceed the memory budget."""
        check_allocation(
            f"m*d = {self.m}*{self.d}: a materialised W", 8.0 * self.m * self.d,
            budget=budget_bytes, hint="lower m or d (or use a streaming path)",
        )  # fmt: skip


@dataclass(frozen=True)
class Network:
    """A drawn network: output weights a (m,), hidden weights W (m, d), biases b (m,), c."""

    spec: NetworkSpec
    a: np.ndarray = field(repr=False)
    W: np.ndarray = field(repr=False)
    b: np.ndarray = field(repr=False)
    c: float = 0.0

    def with_weights(self, W: np.ndarray) -> Network:
        """The same network (a, b, c) with hidden weights ``W`` (e.g. a point of the lazy ball)."""
        W = np.ascontiguousarray(W, dtype=np.float64)
        if W.shape != self.W.shape:
            raise UserInputError(f"W must have shape {self.W.shape}, got {W.shape}")
        return Network(self.spec, self.a, W, self.b, self.c)


def sample_network(spec: NetworkSpec, rng: np.random.Generator) -> Network:
    """Draw (a, W0[, b, c]) at initialisation for ``spec`` (Wang et al. 2022, Def. 2.1)."""
    spec.check_materializable()
    if spec.output_weights == "sign":
        a = rng.integers(0, 2, size=spec.m).astype(np.float64) * 2.0 - 1.0
    else:
        a = rng.standard_normal(spec.m)
    W = rng.standard_normal((spec.m, spec.d))
    if spec.scaling == "bubeck":
        W *= spec.weight_std
    if spec.biases:
        b = rng.standard_normal(spec.m)
        c = float(rng.standard_normal())
    else:
        b, c = np.zeros(spec.m), 0.0
    return Network(spec, a, W, b, c)


def input_radius(spec: NetworkSpec) -> float:
    """||x|| of inputs in the spec's scaling: 1 (wang) or sqrt(d) (bubeck)."""
    return 1.0 if spec.scaling == "wang" else math.sqrt(spec.d)


def sample_inputs(spec: NetworkSpec, n: int, rng: np.random.Generator) -> np.ndarray:
    """n inputs uniform on the sphere of radius :func:`input_radius` in R^d, shape (n, d)."""
    n = check_int("n", n)
    check_allocation(f"n*d = {n}*{spec.d} inputs", 8.0 * n * spec.d, hint="lower n or d")
    X = rng.standard_normal((n, spec.d))
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    # A zero row has probability 0 but would make the direction undefined: redraw it.
    while np.any(norms == 0.0):
        bad = norms[:, 0] == 0.0
        X[bad] = rng.standard_normal((int(bad.sum()), spec.d))
        norms = np.linalg.norm(X, axis=1, keepdims=True)
    return X / norms * input_radius(spec)
