"""lazy-robust-error: robust error in the lazy ball at radius R ~ 1/sqrt(d) (Wang et al. 2022,
Corollary 3.2; Fig. 4 in spirit), under the single-step attack and under l2 PGD.

For each replicate (one network): draw (a, W0) and a task of two separated classes on the sphere
(:func:`theorycheck.training.cluster_task`, the stand-in for Wang et al.'s MNIST 0-vs-1), and fix
W in the ball B_{2,inf}(W0, C0/sqrt(m)): W0, a ``random-sphere`` point, and (for the first
networks of each block) ``trained`` weights (SGD on the logistic loss, projected onto the ball,
:func:`simulations._common.train_trained`), which generalise (clean test error ~0; W0 and
random-sphere are at chance). On the test inputs, at each radius R = c/sqrt(d):

* single step: the exact single-step attack (:func:`theorycheck.attack.first_sign_flip`) gives
  t*; an input is a robust error if sign f(x) != y or t* <= R (the step flips the sign within R).
* PGD: l2 projected gradient descent on the margin (:func:`theorycheck.pgd.pgd_attack`,
  Madry et al. 2018 Sec. 2), :data:`PGD_STEPS` normalised steps of length 2.5 R / PGD_STEPS from
  delta = 0, so its first step is along the single-step direction -y grad f(x); before stepping
  it also tries the full single step of length R. No random restart (measured below). PGD runs
  on the inputs the single step leaves standing whose t* is at most :data:`PGD_SCREEN` R or
  infinite (the ray never flips); see below. An input is a robust error under PGD if it is one
  under the single step at R, or PGD finds a flipping delta with ||delta|| <= R, or it is one
  under PGD at a smaller radius of the grid (that delta lies in the larger ball too). This union
  makes PGD at least as strong as the single step on every input and the PGD robust error
  nondecreasing in R; every PGD success comes with its delta.

Both fractions over the test inputs are LOWER estimates of the robust error L_R(W; D)
(docs/theory.md
Sec. 3): a stronger attack can only add errors.

Corollary 3.2: for R = O~(1/sqrt(d)) (read as R >= C_R/sqrt(d), C_R = 5), w.p. >= 1 - 10 gamma
over (a, W0), L_R(W; D) >= 0.9 for every W in the ball. Verdict: Clopper-Pearson on the networks
whose estimate falls below 0.9 (HP lower bound, failure probability 10 gamma = 0.1), first with
the PGD estimate (the stronger attack), then with the single-step estimate as a second row.

Choice of PGD_STEPS (development runs, m = 1000, C0 = 10, 100 test inputs per network, the three
families; flips PGD adds over the single step at c = 0.5, 1, 2.5, summed, for 10 / 20 / 50 / 200
steps / 20 steps + one random restart): d = 25 (8 networks) 71 / 72 / 72 / 72 / 72; d = 100
(6 networks) 21 / 22 / 23 / 23 / 22; d = 400 (4 networks) 8 at every setting. 20 steps find all
but ~4% of what 200 find at a tenth of the cost; the random restart found nothing new and doubles
the cost.

Choice of PGD_SCREEN: for relu the minimal adversarial distance is close to t* (docs/theory.md F4:
t*/s_lin ~ 1 + 0.2/sqrt(d); tests/test_pgd.py: PGD's minimal radius / t* in [0.92, 1]), so PGD
cannot flip an input with t* >> R. Development runs (m = 1000, the three families, all six radii,
PGD on every input left standing): d = 25, 10 networks: 104 PGD flips among 3085 attacked
inputs, every one with t*/R <= 1.76 or t* = inf; d = 100, 8 networks: 41 among 2582, every one
with t*/R <= 1.08. The range 2 R < t* < inf held 58% of the attacked inputs and none of the flips.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from theorycheck.bounds import get_bound
from theorycheck.simulations._common import clusters_task, law_summary, main, train_trained

from theorycheck.attack import first_sign_flip
from theorycheck.errors import UserInputError
from theorycheck.lazy_ball import lazy_radius, perturb
from theorycheck.network import Network, NetworkSpec, sample_network
from theorycheck.pgd import pgd_attack
from theorycheck.simulation import Evaluation, FigureSpec, Simulation
from theorycheck.verdicts import Evidence, Quantifier, bound_verdict, description

#: One network at a time: NumPy (BLAS) beats numba's thread start-up at these sizes (measured on
#: 2 loaded cores: first_sign_flip on 100 inputs, d = 400, m = 1000, 0.27 s vs 1.9 s).
PATH = "reference"
#: Attack radii R = c / sqrt(d), increasing (Corollary 3.2's C_R = 5 is one of them; the smaller
#: ones show the transition of the paper's Fig. 4).
RADIUS_CONSTANTS = (0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
#: PGD steps per radius (step length 2.5 R / PGD_STEPS, Madry et al. 2018); see the docstring.
PGD_STEPS = 20
#: PGD attacks an input at radius R only if its single-step flip distance t* <= PGD_SCREEN R or
#: t* = inf (see the docstring: no development flip came from 2 R < t* < inf).
PGD_SCREEN = 2.0
#: The corollary's gamma: it holds w.p. >= 1 - 10 gamma.
GAMMA = 0.01
#: Corollary 3.2's radius constant (bounds/wang2022.py default): R >= C_R / sqrt(d).
C_R = 5.0
FAMILIES = ("W0", "random-sphere", "trained")
#: The two attacks: column prefix and label.
ATTACKS = (("robust_error_pgd", "PGD"), ("robust_error", "single step"))


@dataclass(frozen=True)
class RobustErrorConfig:
    d: int
    m: int
    C0: float
    n_test: int
    networks_per_block: int
    trained_per_block: int
    n_blocks: int
    radius_constants: tuple[float, ...] = RADIUS_CONSTANTS
    pgd_steps: int = PGD_STEPS
    pgd_screen: float = PGD_SCREEN


@dataclass(frozen=True)
class AttackOutcome:
    """Per-input robust errors of one network under both attacks, at each radius of a grid.

    radii : (k,) increasing radii R.
    wrong : (n,) sign f(x) != y (sign(0) := +1).
    single : (k, n) wrong or t* <= R (single-step attack).
    t_star : (n,) the single-step flip distance.
    pgd_own : (k, n) PGD at radius R found a flipping delta (only inputs not already counted
        at R, with t* <= screen R or t* = inf, are attacked; see :func:`attack_outcomes`).
    pgd : (k, n) robust error under PGD: single | pgd_own | pgd at the previous radius.
    delta : (k, n, d) the flipping perturbation where ``pgd_own``, else 0.
    """

    radii: np.ndarray
    wrong: np.ndarray
    t_star: np.ndarray
    single: np.ndarray
    pgd_own: np.ndarray
    pgd: np.ndarray
    delta: np.ndarray


def attack_outcomes(
    net: Network,
    X: np.ndarray,
    y: np.ndarray,
    radii: Sequence[float],
    pgd_steps: int = PGD_STEPS,
    screen: float = PGD_SCREEN,
    path: str = PATH,
) -> AttackOutcome:
    """Robust error of each input under the single step and under PGD at each radius.

    The radii are taken in increasing order. At radius R, PGD (:func:`theorycheck.pgd.pgd_attack`
    with label y, ``pgd_steps`` steps of length 2.5 R / pgd_steps from delta = 0) attacks only the
    inputs that are not yet robust errors (correctly classified, t* > R, not flipped by PGD at a
    smaller radius) and that it can plausibly flip: t* <= screen R or t* = inf (``screen = inf``
    attacks them all). A flip found at a smaller radius counts at every larger one (its delta lies
    in the larger ball), so PGD's robust error is the union over attacks and is nondecreasing in R.

    References: Wang et al. (2022) Corollary 3.2 and Sec. 5.2; Madry et al. (2018) Sec. 2.
    """
    radii = np.asarray(radii, dtype=float)
    if radii.ndim != 1 or np.any(radii <= 0.0) or np.any(np.diff(radii) <= 0.0):
        raise UserInputError("radii must be positive and strictly increasing")
    ss = first_sign_flip(net, X, path=path)
    wrong = np.where(ss.f >= 0.0, 1.0, -1.0) != y
    k, (n, d) = len(radii), X.shape
    single = wrong[None, :] | (ss.t_star[None, :] <= radii[:, None])
    pgd_own = np.zeros((k, n), dtype=bool)
    pgd = np.zeros((k, n), dtype=bool)
    delta = np.zeros((k, n, d))
    before = wrong
    for j, R in enumerate(radii):
        done = before | single[j]
        todo = np.flatnonzero(~done & ((ss.t_star <= screen * R) | np.isinf(ss.t_star)))
        if todo.size:
            # Correctly classified inputs: the label y is sign f(x), the direction attacked.
            res = pgd_attack(net, X[todo], R, steps=pgd_steps, y=y[todo], path=path)
            pgd_own[j, todo] = res.success
            delta[j, todo[res.success]] = res.delta[res.success]
        pgd[j] = done | pgd_own[j]
        before = pgd[j]
    return AttackOutcome(radii, wrong, ss.t_star, single, pgd_own, pgd, delta)


class LazyRobustError(Simulation):
    id = "lazy-robust-error"
    title = "Robust error at radius ~1/sqrt(d) in the lazy ball (Wang et al. 2022, Cor. 3.2)"
    claims = ("wang2022.corollary_3_2",)
    limitations = (
        "Both attacks give LOWER estimates of the robust error: the single step exactly (t* of "
        f"the ray), PGD with a fixed budget ({PGD_STEPS} steps, no random restart, run only on "
        f"inputs with t* <= {PGD_SCREEN:g} R or t* = inf); PGD's estimate is the union with the "
        "single step, so it is never below it. Both are computed on a finite sample of test "
        "inputs per network (binomial noise of about 0.5/sqrt(n_test)): a HOLDS verdict is "
        "evidence for the corollary, a VIOLATED one may reflect a weak attack. W is one of a few "
        "fixed points of the ball (the corollary is for all W). Data are synthetic (two "
        "separated classes on the sphere), not MNIST; all grid points are outside the width "
        "window."
    )

    def _configs(self, profile):
        if profile == "quick":
            dims, widths, n_test, per_block, trained, blocks = (
                (25, 100, 400),
                (1_000,),
                50,
                15,
                2,
                2,
            )
        else:
            dims, widths, n_test, per_block, trained, blocks = (
                (25, 100, 400, 784), (1_000, 10_000), 400, 25, 10, 4)  # fmt: skip
        for m in widths:
            for d in dims:
                yield RobustErrorConfig(d, m, 10.0, n_test, per_block, trained, blocks)

    def measure(self, config: RobustErrorConfig, rng) -> pd.DataFrame:
        spec = NetworkSpec(d=config.d, m=config.m)
        R_ball = lazy_radius(spec, config.C0)
        radii = np.asarray(config.radius_constants) / math.sqrt(config.d)
        rows = []
        for rep in range(config.networks_per_block):
            net = sample_network(spec, rng)
            # One task per network for every family (untrained W are at chance on it).
            task = clusters_task(spec, rng, config.n_test)
            weights = {"W0": net.W, "random-sphere": perturb(net, R_ball, "random-sphere", rng,
                                                            path=PATH)}  # fmt: skip
            if rep < config.trained_per_block:
                weights["trained"] = train_trained(net, task, config.C0, rng, PATH).W
            for family, W in weights.items():
                out = attack_outcomes(net.with_weights(W), task.X_test, task.y_test, radii,
                                      config.pgd_steps, config.pgd_screen)  # fmt: skip
                row = {"replicate": rep, "family": family, "error": float(out.wrong.mean())}
                for j, c in enumerate(config.radius_constants):
                    row[f"robust_error_{c:g}"] = float(out.single[j].mean())
                    row[f"robust_error_pgd_{c:g}"] = float(out.pgd[j].mean())
                rows.append(row)
        return pd.DataFrame(rows)

    def evaluate(self, data) -> Evaluation:
        cor = get_bound("wang2022.corollary_3_2")
        verdicts, summary = [], []
        for cfg, df in data.items():
            for family, sub in df.groupby("family", sort=False):
                panel = f"{family}, m = {cfg.m}"
                for c in cfg.radius_constants:
                    R = c / math.sqrt(cfg.d)
                    kw = {"d": cfg.d, "m": cfg.m, "C0": cfg.C0, "gamma": GAMMA, "R": R}
                    B = float(cor(**kw))
                    gain = (sub[f"robust_error_pgd_{c:g}"] - sub[f"robust_error_{c:g}"]).to_numpy()
                    for prefix, label in ATTACKS:
                        x = sub[f"{prefix}_{c:g}"].to_numpy()
                        # Verdicts only where the corollary speaks (R >= C_R/sqrt(d)); smaller
                        # radii are shown in the figure (the transition of the paper's Fig. 4).
                        if c >= C_R:
                            verdicts.append(self._verdict(cor, kw, c, family, label, x, B, gain))
                        summary.append(law_summary(x, {
                            "figure": "robust-error", "panel": panel,
                            "series": f"d = {cfg.d}, {label}", "x": c, "bound": B,
                        }))  # fmt: skip
                    summary.append(law_summary(gain, {
                        "figure": "pgd-gain", "panel": panel, "series": f"d = {cfg.d}", "x": c,
                    }))  # fmt: skip
                summary.append(law_summary(sub["error"].to_numpy(), {
                    "figure": "clean-error", "panel": "main", "series": f"{family}, m = {cfg.m}",
                    "x": cfg.d,
                }))  # fmt: skip
        figures = [
            FigureSpec("robust-error", "Robust error vs R sqrt(d) under the single step and "
                       f"under l2 PGD ({PGD_STEPS} steps, union with the single step), C0 = 10",
                       "R sqrt(d)", "robust error (lower estimate)", logx=True,
                       caption="Markers: mean over networks with 95% CI; dotted: Corollary "
                       "3.2's 0.9 (claimed for R sqrt(d) >= C_R = 5). Both attacks give lower "
                       "estimates of the robust error."),
            FigureSpec("pgd-gain", "What PGD adds: robust error under PGD minus under the "
                       "single step, per network", "R sqrt(d)", "PGD - single step", logx=True,
                       caption="Markers: mean difference over networks with 95% t interval. "
                       ">= 0 on every input by construction (PGD's count is the union)."),
            FigureSpec("clean-error", "Test error (no attack) of each family vs d",
                       "input dimension d", "error", logx=True,
                       caption="Two separated classes on the sphere (Bayes error "
                       "Phi(-sqrt d)); W0 and random-sphere W are untrained, at chance."),
        ]  # fmt: skip
        return Evaluation(verdicts, pd.DataFrame(summary), figures)

    def _verdict(self, cor, kw, c, family, label, x, B, gain):
        """Corollary 3.2 at one radius with one attack's estimate; the PGD row is the primary
        check, the single-step row the weaker one kept beside it."""
        row = bound_verdict(
            cor.id, self.id, {**kw, "R sqrt(d)": c, "W": family, "attack": label},
            f"robust error at radius R ({label} lower estimate)", x, B,
            float(cor.failure_probability(GAMMA)), side="lower",
            quantifier=Quantifier.PARTICULAR, evidence=Evidence.SEARCH, bias="lower",
        )  # fmt: skip
        # The corollary is over every W of the ball: an attack on particular W gives a lower
        # estimate of their robust error, which can neither refute it (that needs a certified
        # upper estimate) nor confirm it (that needs every W). Kept as a description.
        row = description(row, "an attack on particular W cannot decide a claim over every W")
        notes = [row.note, "outside the width window (C3 = C4 = 1)"]
        if label == "PGD":
            g = law_summary(gain, {})
            notes.append(
                f"PGD adds {g['estimate']:.3g} (95% CI [{g['ci_low']:.3g}, {g['ci_high']:.3g}]) "
                "over the single step"
            )
        else:
            notes.append("weaker attack; the PGD row is the check")
        return replace(row, note="; ".join(filter(None, notes)))


SIMULATION = LazyRobustError()

if __name__ == "__main__":
    main(SIMULATION)
