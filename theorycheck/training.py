"""The `trained` perturbation family: lazy training of the hidden layer (docs/theory.md Sec. 2,
item 5).

Gradient descent on the mean logistic loss log(1 + exp(-y f(x; W))) over the hidden weights W
only, the top layer a (and the biases) frozen, following Wang, Ullah, Mianjy, Arora (2022), Sec. 5:

* ``stop-at-exit`` (Sec. 5.1): plain (S)GD; training terminates when an iterate leaves the lazy
  ball, max_s ||w_s - w_{s,0}|| > R = C0 / sqrt(m). The last iterate inside the ball is returned,
  so the returned W always satisfies the lazy-regime assumption, as in the paper.
* ``project`` (Sec. 5.2, Algorithm 1): after every step W is projected onto B_{2,inf}(W0, R)
  (:func:`theorycheck.lazy_ball.lazy_ball_project`). With ``adversarial_eps > 0`` every step is
  taken on l2 PGD adversarial examples of the batch (:func:`theorycheck.pgd.pgd_attack` against the
  true labels), which is the paper's adversarial training.

The data is synthetic; the paper used MNIST 0-vs-1. :func:`cluster_task` is the stand-in the
simulations train on: two separated classes on the sphere, which a network in the lazy ball learns
to test error ~0 (so "networks that generalise well" are what gets attacked).
:func:`teacher_task` labels inputs uniform on the sphere by the sign of a random teacher relu
network; in the lazy ball (C0 = 10, m = 1000) it is learnt only at small d: test error 0.28 at
d = 25 and 0.49 at d = 400 with 100 samples, 0.44 at d = 400 with 4000 (the change of f the ball
allows along a direction v is ~ C0 <v, x> / 2 ~ C0 / (2 sqrt d), below the O(1) output at W0).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import special

from theorycheck.errors import (
    UserInputError,
    check_allocation,
    check_choice,
    check_finite,
    check_int,
    check_real,
)
from theorycheck.forward import as_inputs
from theorycheck.lazy_ball import lazy_ball_project, lazy_radius
from theorycheck.network import Network
from theorycheck.pgd import pgd_attack

__all__ = [
    "PROTOCOLS",
    "TeacherTask",
    "TrainResult",
    "cluster_task",
    "logistic_loss",
    "teacher_task",
    "train_lazy",
]

PROTOCOLS = ("stop-at-exit", "project")


@dataclass(frozen=True)
class TeacherTask:
    """A synthetic binary task: inputs on the sphere, labels sign f_teacher(x) in {-1, +1}.

    f_teacher(x) = k^{-1/2} sum_j a_j relu(<v_j, x>), v_j ~ N(0, I_d), a_j = +1, -1, +1, ...
    (balanced signs, so that over teachers the classes are balanced); sign(0) := +1.
    """

    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    teacher_a: np.ndarray
    teacher_V: np.ndarray

    def teacher_output(self, X) -> np.ndarray:
        """f_teacher at the rows of X."""
        X = np.asarray(X, dtype=float)
        k = len(self.teacher_a)
        return np.maximum(X @ self.teacher_V.T, 0.0) @ self.teacher_a / math.sqrt(k)


def teacher_task(
    d: int,
    n_train: int,
    n_test: int,
    rng: np.random.Generator,
    teacher_width: int = 4,
    radius: float = 1.0,
) -> TeacherTask:
    """Draw a teacher and labelled train/test inputs uniform on the sphere of ``radius`` in R^d.

    ``radius`` 1 matches the ``wang`` scaling (Wang et al. 2022 Sec. 5.2 normalise ||x|| = 1);
    sqrt(d) the ``bubeck`` scaling.
    """
    d = check_int("d", d)
    n_train = check_int("n_train", n_train)
    n_test = check_int("n_test", n_test, minimum=0)
    k = check_int("teacher_width", teacher_width)
    radius = check_real("radius", radius, low=0.0, low_open=True)
    check_allocation(f"(n_train + n_test + teacher_width)*d = {n_train + n_test + k}*{d}",
                     8.0 * 3 * (n_train + n_test + k) * d, hint="lower them")  # fmt: skip
    V = rng.standard_normal((k, d))
    a = np.where(np.arange(k) % 2 == 0, 1.0, -1.0)
    X = rng.standard_normal((n_train + n_test, d))
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    X = X / np.where(norms > 0.0, norms, 1.0) * radius
    task = TeacherTask(X[:n_train], np.empty(0), X[n_train:], np.empty(0), a, V)
    y = np.where(task.teacher_output(X) >= 0.0, 1.0, -1.0)
    return TeacherTask(X[:n_train], y[:n_train], X[n_train:], y[n_train:], a, V)


def cluster_task(
    d: int,
    n_train: int,
    n_test: int,
    rng: np.random.Generator,
    separation: float = 1.0,
    radius: float = 1.0,
) -> TeacherTask:
    """Two classes on the sphere: x = radius (y s mu + g / sqrt(d)) / ||y s mu + g / sqrt(d)||.

    y uniform in {-1, +1}, mu uniform on the unit sphere, g ~ N(0, I_d), s = ``separation``: the
    Gaussian model of Schmidt et al. (2018) with ||theta*|| = s, sigma = 1/sqrt(d), projected on
    the sphere (docs/theory.md Sec. 2 item 5, "data on the sphere"). The classes are separated by
    the
    hyperplane <mu, x> = 0 with margin ~ s / sqrt(1 + s^2) (0.71 at s = 1); the labels are y.
    As a :class:`TeacherTask` the teacher is the Bayes classifier f(x) = <mu, x> / sqrt(2) (V =
    [mu, -mu], a = [+1, -1]), whose sign differs from y with probability Phi(-s sqrt(d))
    (3e-7 at s = 1, d = 25).

    References: Schmidt, Santurkar, Tsipras, Talwar, Madry (2018), the (theta*, sigma)-Gaussian
    model; Wang et al. (2022) Sec. 5 (MNIST 0-vs-1, the task this stands in for).
    """
    d = check_int("d", d)
    n_train = check_int("n_train", n_train)
    n_test = check_int("n_test", n_test, minimum=0)
    s = check_real("separation", separation, low=0.0, low_open=True)
    radius = check_real("radius", radius, low=0.0, low_open=True)
    check_allocation(f"(n_train + n_test)*d = {n_train + n_test}*{d} inputs",
                     8.0 * 3 * (n_train + n_test) * d, hint="lower them")  # fmt: skip
    mu = rng.standard_normal(d)
    mu /= np.linalg.norm(mu)
    n = n_train + n_test
    y = np.where(rng.random(n) < 0.5, 1.0, -1.0)
    X = s * y[:, None] * mu + rng.standard_normal((n, d)) / math.sqrt(d)
    X *= radius / np.linalg.norm(X, axis=1, keepdims=True)
    V = np.vstack([mu, -mu])
    return TeacherTask(X[:n_train], y[:n_train], X[n_train:], y[n_train:], np.array([1.0, -1.0]), V)


def _outputs(net: Network, W: np.ndarray, X: np.ndarray):
    """f (n,) and sigma'(Z) (n, m) for hidden weights W (materialised, BLAS)."""
    Z = X @ W.T + net.b
    act = net.spec.act
    f = act.sigma(Z) @ net.a / math.sqrt(net.spec.m) + net.c
    return f, Z


def logistic_loss(net: Network, X, y, W: np.ndarray | None = None) -> float:
    """Mean of log(1 + exp(-y f(x; W))) over the rows of X (W defaults to the network's)."""
    X = as_inputs(net, X)
    y = _labels(y, len(X))
    f, _ = _outputs(net, net.W if W is None else W, X)
    return float(np.mean(np.logaddexp(0.0, -y * f)))


def _labels(y, n: int) -> np.ndarray:
    y = np.asarray(y, dtype=float)
    if y.shape != (n,) or not np.all(np.isin(y, (-1.0, 1.0))):
        raise UserInputError(f"y must be {n} labels in {{-1, +1}}")
    return y


def _error(net: Network, W: np.ndarray, X: np.ndarray, y: np.ndarray) -> float:
    """Fraction misclassified; f = 0 counts as an error (no sign)."""
    if len(X) == 0:
        return math.nan
    f, _ = _outputs(net, W, X)
    return float(np.mean(y * f <= 0.0))


def _loss_gradient(net: Network, W: np.ndarray, X: np.ndarray, y: np.ndarray):
    """Mean logistic loss and its gradient in W: m^{-1/2} sum_i l'_i a_s sigma'(z_is) x_i / n."""
    f, Z = _outputs(net, W, X)
    u = y * f
    loss = float(np.mean(np.logaddexp(0.0, -u)))
    coef = -y * special.expit(-u) / len(X)  # d loss / d f_i
    G = ((coef[:, None] * net.spec.act.dsigma(Z)) * net.a).T @ X / math.sqrt(net.spec.m)
    return loss, G


@dataclass(frozen=True)
class TrainResult:
    """Result of :func:`train_lazy`.

    W : the trained hidden weights (inside B_{2,inf}(W0, R) under both protocols).
    history : mean training loss at W0 and after every epoch (the last entry is at the returned W,
        also when training stopped mid-epoch).
    train_error, test_error : misclassification rates of sign f at W (test_error is NaN without a
        test set).
    max_row_deviation : max_s ||w_s - w_{s,0}|| at W, and ``radius`` R = C0 / sqrt(m).
    stopped_at_exit : the ``stop-at-exit`` protocol terminated because a step left the ball.
    epochs_run, steps_run : epochs started and gradient steps taken (a discarded exiting step is
        not counted).
    """

    W: np.ndarray
    history: np.ndarray
    train_error: float
    test_error: float
    max_row_deviation: float
    radius: float
    stopped_at_exit: bool
    epochs_run: int
    steps_run: int
    protocol: str

    def network(self, net: Network) -> Network:
        """``net`` with the trained hidden weights."""
        return net.with_weights(self.W)


def train_lazy(
    net: Network,
    X,
    y,
    C0: float,
    protocol: str = "stop-at-exit",
    lr: float = 0.1,
    epochs: int = 100,
    rng: np.random.Generator | None = None,
    batch: int | None = None,
    X_test=None,
    y_test=None,
    adversarial_eps: float = 0.0,
    adversarial_steps: int = 10,
    path: str = "numba",
) -> TrainResult:
    """Train the hidden layer of ``net`` on (X, y) in the lazy regime (see the module docstring).

    Parameters
    ----------
    net : the network at initialisation; its W is W0 and the centre of the ball.
    X, y : training inputs (n, d) and labels in {-1, +1}.
    C0 : the lazy radius constant, R = C0 / sqrt(m) (:func:`theorycheck.lazy_ball.lazy_radius`).
    protocol : ``stop-at-exit`` (Wang et al. Sec. 5.1) or ``project`` (Sec. 5.2).
    lr : learning rate (the paper: 0.1 with SGD).
    epochs : passes over the training set.
    rng : generator shuffling the minibatches (required when ``batch`` is given).
    batch : minibatch size; None is full-batch gradient descent.
    X_test, y_test : optional test set for ``test_error``.
    adversarial_eps : l2 budget of PGD adversarial training (0: standard training).
    adversarial_steps : PGD steps per adversarial example.
    path : computation path for the projection and the PGD attack.

    References: Wang, Ullah, Mianjy, Arora (2022), Sec. 5.1-5.2 and Algorithm 1.
    """
    X = as_inputs(net, X)
    n = len(X)
    y = _labels(y, n)
    check_choice("protocol", protocol, PROTOCOLS)
    lr = check_real("lr", lr, low=0.0, low_open=True)
    epochs = check_int("epochs", epochs, minimum=0)
    R = lazy_radius(net.spec, C0)
    adversarial_eps = check_real("adversarial_eps", adversarial_eps, low=0.0)
    adversarial_steps = check_int("adversarial_steps", adversarial_steps)
    if batch is None:
        batch = n
    else:
        batch = min(check_int("batch", batch), n)
        if batch < n and rng is None:
            raise UserInputError("rng is required to shuffle minibatches (batch < n)")
    if X_test is None:
        X_test, y_test = np.empty((0, net.spec.d)), np.empty(0)
    else:
        X_test = as_inputs(net, X_test)
        y_test = _labels(y_test, len(X_test))
    W0 = net.W
    W = W0.copy()
    history = [logistic_loss(net, X, y, W)]
    stopped = False
    steps_run = 0
    epochs_run = 0
    for _ in range(epochs):
        epochs_run += 1
        order = rng.permutation(n) if batch < n else np.arange(n)
        for start in range(0, n, batch):
            idx = order[start : start + batch]
            Xb, yb = X[idx], y[idx]
            if adversarial_eps > 0.0:
                adv = pgd_attack(
                    net.with_weights(W), Xb, adversarial_eps, steps=adversarial_steps, y=yb,
                    stop_at_flip=False, path=path,
                )  # fmt: skip
                Xb = Xb + adv.delta
            _, G = _loss_gradient(net, W, Xb, yb)
            W_new = W - lr * G
            if protocol == "project":
                W_new = lazy_ball_project(W_new, W0, R, path=path)
            elif float(np.max(np.linalg.norm(W_new - W0, axis=1))) > R:
                stopped = True  # Sec. 5.1: the iterate left the ball; keep the last one inside
                break
            W = W_new
            steps_run += 1
        history.append(logistic_loss(net, X, y, W))
        if stopped:
            break
    check_finite("trained W", W)
    return TrainResult(
        W=W,
        history=np.asarray(history),
        train_error=_error(net, W, X, y),
        test_error=_error(net, W, X_test, y_test),
        max_row_deviation=float(np.max(np.linalg.norm(W - W0, axis=1))),
        radius=R,
        stopped_at_exit=stopped,
        epochs_run=epochs_run,
        steps_run=steps_run,
        protocol=protocol,
    )
