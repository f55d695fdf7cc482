"""lazy-adversarial-training: l2 PGD adversarial training inside the lazy ball (Wang et al. 2022,
Sec. 5.2, Algorithm 1, Fig. 4).

For each replicate (one network): draw (a, W0) and a task
(:func:`theorycheck.simulations._common.trained_task`: by default two separated classes on the
sphere, the stand-in for Wang et al.'s MNIST 0-vs-1, else ``--data``) and, for each ball radius
V = C0/sqrt(m) of the config,

* standard training: SGD on the logistic loss, projected onto B_{2,inf}(W0, V) after every step;
* adversarial training at each attack radius R = c/sqrt(d) of the config: the same, every step
  taken on l2 PGD adversarial examples of the batch at radius R (Madry et al. 2018), i.e. the
  paper's Algorithm 1 (:func:`theorycheck.training.train_lazy`, protocol ``project`` with
  ``adversarial_eps = R``; :data:`TRAIN_PGD_STEPS` APGD steps per example, from delta = 0).

Every trained W is attacked on the task's test inputs (it was not trained on them) at the radii
of the config with the attack of ``lazy-robust-error``
(:func:`theorycheck.simulations.lazy_robust_error.attack_outcomes`: the exact single step, then
APGD runs of ``pgd_steps`` steps from 0, from the DeepFool point, from the previous radius' best
point and from ``pgd_restarts`` random points; union with the single step). Its robust accuracy
(1 - robust error) is an UPPER estimate of the true robust accuracy on those inputs. A certified
LOWER estimate comes from :mod:`theorycheck.certify`: an input counts as certified when it is
classified correctly and no ||delta|| <= R changes sign f there, proven by the CROWN route (every
input) or the quadratic route (those of the first ``certify_inputs`` test inputs that the attack
left standing; d x d eigendecompositions, so few inputs or none at large d: the full profile's
d = 784 has CROWN only, which certifies nothing there).

Two panels, as in the paper's Fig. 4:

* ``radius`` (Fig. 4 left): m = 1000 (the quick profile at smaller d), V = 10/sqrt(m), robust
  accuracy against R sqrt(d) and d; the paper reports a sharp drop near R = 5/sqrt(d).
* ``width`` (Fig. 4 right): fixed d and R (the full profile: d = 784, R = 0.2), robust accuracy
  against m and V sqrt(m); the paper reports a transition near V = 25/sqrt(m): robust outside,
  ~0 inside.

Claims (bounds/wang2022_training.py): the high-probability bound "robust accuracy <= 0.1 at
R >= 5/sqrt(d)" (Corollary 3.2 for adversarially trained W; DESCRIPTIVE where the networks are
fewer than power needs) and the two figure-level thresholds (descriptions of where the measured
transition lies, with the fitted rate over d or m).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats
from threadpoolctl import threadpool_limits

from theorycheck.bounds import get_bound
from theorycheck.certify import certified_at
from theorycheck.data import data_field
from theorycheck.network import Network, NetworkSpec, sample_network
from theorycheck.power import replicates_for_power
from theorycheck.rates import fit_rate
from theorycheck.seeding import generator
from theorycheck.simulation import Evaluation, FigureSpec, Simulation
from theorycheck.simulations._common import (
    TRAIN,
    TrainedDataMixin,
    law_summary,
    main,
    run_data,
    trained_task,
    with_data,
)
from theorycheck.simulations.lazy_robust_error import attack_outcomes
from theorycheck.training import TeacherTask, TrainResult, train_lazy
from theorycheck.verdicts import (
    Evidence,
    Quantifier,
    bound_verdict,
    description,
    law_verdict,
    powered,
    rate_verdict,
)

#: One network at a time: NumPy (BLAS) is the fast path at these sizes (as in lazy-robust-error).
PATH = "reference"
#: APGD steps per adversarial example during training (Madry et al. use a fixed-step PGD of a
#: few steps; the schedule here is :func:`theorycheck.pgd.pgd_attack`'s, from delta = 0).
TRAIN_PGD_STEPS = 10
#: Test-time attack strength per profile (APGD steps per run, random restarts per radius).
PGD_STEPS, PGD_RESTARTS = 50, 1
FULL_PGD_STEPS, FULL_PGD_RESTARTS = 100, 2
#: The statement's gamma: it holds w.p. >= 1 - 10 gamma.
GAMMA = 0.01
#: Robust accuracy level whose crossing locates a transition ("drops to 0" / "completely robust").
CROSSING = 0.5
#: The paper's Fig. 4 settings: left m = 1000, C0 = 10; right d = 784, ||delta|| = 0.2 (c = 5.6).
LEFT_C0 = 10.0
RIGHT_RADIUS_CONSTANT = 5.6
TRAININGS = ("standard", "adversarial")
N_BOOT = 1000
FIGURE_LEVEL = (
    "figure-level statement: the paper reads the threshold off its Fig. 4 without a tolerance, so "
    "the measured crossing is described, not tested"
)


@dataclass(frozen=True)
class AdvTrainConfig:
    """One panel's grid point: (d, m) with the ball constants C0 (V = C0/sqrt(m)) and the attack
    radius constants c (R = c/sqrt(d)) it trains and attacks at."""

    panel: str  # "radius" (Fig. 4 left) or "width" (Fig. 4 right)
    d: int
    m: int
    ball_constants: tuple[float, ...]
    radius_constants: tuple[float, ...]
    n_test: int
    networks_per_block: int
    n_blocks: int
    certify_inputs: int
    pgd_steps: int = PGD_STEPS
    pgd_restarts: int = PGD_RESTARTS
    train_pgd_steps: int = TRAIN_PGD_STEPS
    data: str = data_field()  # the task every network is trained and attacked on (--data)


def train(
    net: Network, task: TeacherTask, C0: float, R: float, rng, steps: int = TRAIN_PGD_STEPS
) -> TrainResult:
    """Wang et al. (2022) Sec. 5.2, Algorithm 1: SGD on the logistic loss (``TRAIN``: minibatch
    10, 3 epochs, lr 10), the top layer frozen, W projected onto B_{2,inf}(W0, C0/sqrt(m)) after
    every step; with R > 0 every step is taken on l2 PGD adversarial examples of radius R
    against the true labels (Madry et al. 2018), R = 0 is standard training."""
    return train_lazy(
        net, task.X_train, task.y_train, C0, protocol="project", lr=TRAIN["lr"],
        epochs=TRAIN["epochs"], rng=rng, batch=TRAIN["batch"], X_test=task.X_test,
        y_test=task.y_test, adversarial_eps=R, adversarial_steps=steps, path=PATH,
    )  # fmt: skip


def robust_accuracies(
    net: Network,
    task: TeacherTask,
    radii,
    rng,
    pgd_steps: int = PGD_STEPS,
    restarts: int = PGD_RESTARTS,
    certify_inputs: int = 0,
) -> list[dict]:
    """Per radius: robust accuracy under PGD (upper estimate), under the single step, and the
    certified robust accuracy (lower estimate) of ``net`` on the task's test inputs.

    The attack is :func:`theorycheck.simulations.lazy_robust_error.attack_outcomes` (every
    success comes with its delta). Certified: correctly classified and proven robust at R by
    CROWN (the attack's screen) or, among the first ``certify_inputs`` test inputs, those the
    attack left standing by the quadratic route (:func:`theorycheck.certify.certified_at`).
    Reference: the fraction of test inputs the cluster task's Bayes rule sign <mu, x> classifies
    correctly at distance > R from its hyperplane (a robust classifier of the data exists there).
    """
    X, y = task.X_test, task.y_test
    out = attack_outcomes(net, X, y, radii, pgd_steps, restarts, rng, path=PATH)
    # The cluster task's Bayes rule sign <mu, x> (teacher_V[0] = mu): its distance to the inputs;
    # data without a teacher (real digits, a user's file) have no reference (NaN).
    has_rule = len(task.teacher_V) > 0
    bayes = X @ task.teacher_V[0] if has_rule else np.full(len(X), np.nan)
    rows = []
    for j, R in enumerate(out.radii):
        certified = out.certified[j] & ~out.wrong
        standing = np.flatnonzero(~out.pgd[j] & ~certified)
        standing = standing[standing < certify_inputs]
        if standing.size:
            certified[standing] = certified_at(net, X[standing], R, "quadratic")
        rows.append({
            "radius": float(R),
            "robust_accuracy": float(1.0 - out.pgd[j].mean()),
            "robust_accuracy_single": float(1.0 - out.single[j].mean()),
            "certified_accuracy": float(certified.mean()),
            "clean_accuracy": float(1.0 - out.wrong.mean()),
            "trivial": float(out.trivial[j].mean()),
            "reference_accuracy": float(np.mean((np.sign(bayes) == y) & (np.abs(bayes) > R)))
            if has_rule else math.nan,
        })  # fmt: skip
    return rows


class LazyAdversarialTraining(TrainedDataMixin, Simulation):
    id = "lazy-adversarial-training"
    title = "Adversarial training inside the lazy ball (Wang et al. 2022, Sec. 5.2, Fig. 4)"
    claims = (
        "wang2022_training.adversarial_robust_accuracy",
        "wang2022_training.radius_drop",
        "wang2022_training.width_transition",
    )
    limitations = (
        "Robust accuracy under attack is an UPPER estimate (a stronger attack can only lower it): "
        "it can show that the robust accuracy is small, never that it is large; the certified "
        "robust accuracy (CROWN on every input, the quadratic route on a few) is a LOWER "
        "estimate that can show robustness, never its absence. Both are computed on a finite "
        "sample of test inputs per network (binomial noise of about 0.5/sqrt(n_test)). The "
        "networks per grid point are far fewer than the 472 the power rule asks for, so the "
        "high-probability rows are descriptions; the Fig. 4 thresholds are figure-level and "
        "described (where the measured robust accuracy crosses 1/2), not tested. Data are "
        "synthetic by default (two separated classes on the sphere; a linear rule is robust up "
        "to each input's distance to the Bayes hyperplane, ~0.7, shown as the reference "
        "accuracy), not MNIST; --data digits or a file replaces them. All grid points are "
        "outside the width window of Theorem 3.1. Training follows "
        "Algorithm 1 with a short schedule (3 epochs of 10 minibatches), so a large ball is not "
        "always used to its edge."
    )

    def _configs(self, profile):
        # (d, quadratic certificates per network, blocks) on the left; (m, blocks) on the right.
        if profile == "quick":
            steps, restarts, n_test = PGD_STEPS, PGD_RESTARTS, 40
            left, left_m, left_c = ((100, 10, 2), (400, 0, 1)), 250, (2.5, 4.0, 5.0, 7.0)
            right_d, right_m, right_c0 = 100, ((250, 2), (1000, 1)), (10.0, 20.0, 40.0)
            right_cert = 10
        else:
            steps, restarts, n_test = FULL_PGD_STEPS, FULL_PGD_RESTARTS, 100
            left = ((49, 20, 5), (100, 20, 5), (196, 10, 5), (400, 5, 3), (784, 0, 3))
            left_m, left_c = 1000, (1.0, 2.5, 4.0, 5.0, 6.0, 8.0)
            right_d, right_m = 784, ((250, 5), (1000, 3), (4000, 1))
            right_c0, right_cert = (5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 80.0), 0
        for d, cert, blocks in left:
            yield AdvTrainConfig("radius", d, left_m, (LEFT_C0,), left_c, n_test, 1, blocks,
                                 cert, steps, restarts)  # fmt: skip
        for m, blocks in right_m:
            yield AdvTrainConfig("width", right_d, m, right_c0, (RIGHT_RADIUS_CONSTANT,), n_test,
                                 1, blocks, right_cert, steps, restarts)  # fmt: skip

    def uses_data(self, config: AdvTrainConfig) -> bool:
        return True  # every network is trained

    def measure(self, config: AdvTrainConfig, rng) -> pd.DataFrame:
        # 10 x d batches against W: one BLAS thread is fastest (a second one only contends; the
        # runner measures with one thread too, so direct calls give the same numbers).
        with threadpool_limits(limits=1, user_api="blas"):
            return self._measure(config, rng)

    def _measure(self, config: AdvTrainConfig, rng) -> pd.DataFrame:
        spec = NetworkSpec(d=config.d, m=config.m)
        radii = np.asarray(config.radius_constants) / math.sqrt(config.d)
        attack = (config.pgd_steps, config.pgd_restarts, config.certify_inputs)
        rows = []
        for rep in range(config.networks_per_block):
            net = sample_network(spec, rng)
            task = trained_task(spec, rng, config.n_test, config.data)
            for C0 in config.ball_constants:
                base = {"replicate": rep, "C0": float(C0), "V": C0 / math.sqrt(config.m)}
                res = train(net, task, C0, 0.0, rng, config.train_pgd_steps)
                for c, acc in zip(config.radius_constants, robust_accuracies(
                        res.network(net), task, radii, rng, *attack), strict=True):  # fmt: skip
                    rows.append({**base, "training": "standard", "radius_constant": c,
                                 **acc, **_train_columns(res)})  # fmt: skip
                for c, R in zip(config.radius_constants, radii, strict=True):
                    res = train(net, task, C0, float(R), rng, config.train_pgd_steps)
                    (acc,) = robust_accuracies(res.network(net), task, [R], rng, *attack)
                    rows.append({**base, "training": "adversarial", "radius_constant": c,
                                 **acc, **_train_columns(res)})  # fmt: skip
        return pd.DataFrame(rows)

    # -- evaluation ----------------------------------------------------------------------------
    def evaluate(self, data) -> Evaluation:
        verdicts, summary = [], []
        for cfg, df in data.items():
            verdicts += self._bound_rows(cfg, df)
            summary += _summaries(cfg, df)
        verdicts += self._threshold_rows(data)
        verdicts = with_data(verdicts, run_data(self, data))  # every network is trained on it
        return Evaluation(verdicts, pd.DataFrame(summary), _figures())

    def _bound_rows(self, cfg: AdvTrainConfig, df: pd.DataFrame) -> list:
        """The high-probability bound on the adversarially trained networks' robust accuracy at
        each (C0, R) of the config where R >= C_R/sqrt(d): the attack's upper estimate (can show
        that it holds) and the certified lower estimate (can show that it fails)."""
        claim = get_bound("wang2022_training.adversarial_robust_accuracy")
        C_R = next(c.default for c in claim.constants if c.name == "C_R")
        needed = replicates_for_power(float(claim.failure_probability(GAMMA)))
        rows = []
        adv = df[df["training"] == "adversarial"]
        for (C0, c), sub in adv.groupby(["C0", "radius_constant"], sort=True):
            if c < C_R:
                continue  # below the statement's radius: shown in the figures only
            R = c / math.sqrt(cfg.d)
            kw = {"d": cfg.d, "m": cfg.m, "C0": float(C0), "gamma": GAMMA, "R": R}
            B = float(claim(**kw))
            std = df[(df["training"] == "standard") & (df["C0"] == C0)
                     & (df["radius_constant"] == c)]  # fmt: skip
            note = (
                f"panel {cfg.panel}; attack: single step + APGD {cfg.pgd_steps} steps, "
                f"{cfg.pgd_restarts} restart(s), DeepFool start; training PGD "
                f"{cfg.train_pgd_steps} steps; standard training at the same (C0, R): robust "
                f"accuracy {std['robust_accuracy'].mean():.3g}; clean accuracy "
                f"{sub['clean_accuracy'].mean():.3g}; reference (Bayes linear rule) "
                f"{sub['reference_accuracy'].mean():.3g}"
            )
            if sub["trivial"].max() > 0:
                note += "; trivial radius: R >= ||x||, delta = -x flips every input"
            for column, estimate, bias, evidence in (
                ("robust_accuracy", "attack", "upper", Evidence.SEARCH),
                ("certified_accuracy", "certificate", "lower", Evidence.CERTIFIED),
            ):
                row = bound_verdict(
                    claim.id, self.id, {**kw, "R sqrt(d)": float(c), "panel": cfg.panel,
                                        "estimator": estimate},
                    f"robust test accuracy at R of adversarially trained W ({estimate})",
                    sub[column].to_numpy(), B, float(claim.failure_probability(GAMMA)),
                    side="upper", quantifier=Quantifier.PARTICULAR, evidence=evidence, bias=bias,
                    note=note,
                )  # fmt: skip
                rows.append(powered(row, len(sub), needed))
        return rows

    def _threshold_rows(self, data) -> list:
        """Where the adversarially trained networks' robust accuracy crosses 1/2: per d at m = 1000
        (Fig. 4 left, against C_drop) and per m at fixed d, R (Fig. 4 right, against C_V), each a
        description, and the fitted rate over d or m where there are >= 2 values."""
        rows = []
        for panel, claim_id, var in (
            ("radius", "wang2022_training.radius_drop", "d"),
            ("width", "wang2022_training.width_transition", "m"),
        ):
            claim = get_bound(claim_id)
            const = claim.constants[0]
            samples, fixed = {}, {}
            for cfg, df in data.items():
                if cfg.panel != panel:
                    continue
                crossings, censored = _crossings(cfg, df)
                key = cfg.d if var == "d" else cfg.m
                R = RIGHT_RADIUS_CONSTANT / math.sqrt(cfg.d)
                kw = ({"d": cfg.d, "m": cfg.m, "C0": LEFT_C0} if var == "d" else
                      {"d": cfg.d, "m": cfg.m, "R": R})  # fmt: skip
                what = "R sqrt(d)" if var == "d" else "V sqrt(m)"
                note = (
                    f"{len(crossings)} of {len(crossings) + len(censored)} networks cross "
                    f"{CROSSING:g} inside the grid {_grid(cfg)}" + "".join(
                        f"; {n} {side}" for side, n in pd.Series(censored).value_counts().items())
                )  # fmt: skip
                if len(crossings) == 0:
                    # No network crosses inside the grid: said, with which side it stays on
                    # (the claim would otherwise vanish from the bottom line).
                    row = law_verdict(
                        claim.id, self.id, kw,
                        f"{what} where the adversarially trained networks' robust accuracy "
                        f"crosses {CROSSING:g}", "t (one sample)", 1.0, [math.nan],
                        const.default, quantifier=Quantifier.PARTICULAR,
                        evidence=Evidence.SEARCH, note=note,
                    )  # fmt: skip
                    rows.append(description(row, FIGURE_LEVEL))
                    continue
                x = np.asarray(crossings)
                p = float(stats.ttest_1samp(x, const.default).pvalue) if x.size > 1 else 1.0
                row = law_verdict(
                    claim.id, self.id, kw,
                    f"{what} where the adversarially trained networks' robust accuracy crosses "
                    f"{CROSSING:g}", "t (one sample)", p, x, const.default,
                    quantifier=Quantifier.PARTICULAR, evidence=Evidence.SEARCH, note=note,
                )  # fmt: skip
                rows.append(description(row, FIGURE_LEVEL))
                samples[key] = x / math.sqrt(key)  # the crossing radius itself, R or V
                fixed = {"m": cfg.m, "C0": LEFT_C0} if var == "d" else {"d": cfg.d, "R": kw["R"]}
            if len(samples) >= 2:
                grid = sorted(samples)
                rng = generator(0, "bootstrap", self.id, panel)
                fit = fit_rate(grid, [samples[k] for k in grid], rng, n_boot=N_BOOT)
                rows.append(rate_verdict(
                    claim.id, self.id, fixed,
                    f"crossing {'radius R' if var == 'd' else 'ball radius V'} over {var}", fit,
                    claim.exponents[var], claim.order, variable=var,
                    evidence=Evidence.SEARCH, quantifier=Quantifier.PARTICULAR,
                ))  # fmt: skip
        return rows


def _train_columns(res: TrainResult) -> dict:
    return {
        "ball_use": res.max_row_deviation / res.radius if res.radius > 0 else math.nan,
        "train_loss": float(res.history[-1]),
        "test_error": res.test_error,
    }


def _grid(cfg: AdvTrainConfig) -> str:
    values = cfg.radius_constants if cfg.panel == "radius" else cfg.ball_constants
    name = "R sqrt(d)" if cfg.panel == "radius" else "V sqrt(m)"
    return f"{name} in [{min(values):g}, {max(values):g}]"


def crossing(x, accuracy, level: float = CROSSING) -> tuple[float, str]:
    """Where a robust-accuracy curve first crosses ``level`` along increasing x, interpolated
    linearly in log x: (value, "") or (nan, reason) when it does not cross inside the grid.

    A decreasing curve (against the attack radius) crosses downwards, an increasing one (against
    the ball radius) upwards; the direction is the sign of last - first."""
    x = np.asarray(x, dtype=float)
    a = np.asarray(accuracy, dtype=float)
    up = a[-1] > a[0]
    above = a >= level if up else a <= level
    if above[0]:
        return math.nan, "already past it at the smallest grid value"
    if not above.any():
        return math.nan, "not past it at the largest grid value"
    j = int(np.argmax(above))
    lx = np.log(x[j - 1 : j + 1])
    t = (level - a[j - 1]) / (a[j] - a[j - 1])
    return float(np.exp(lx[0] + t * (lx[1] - lx[0]))), ""


def _crossings(cfg: AdvTrainConfig, df: pd.DataFrame) -> tuple[list[float], list[str]]:
    """Per network (block, replicate), the crossing of its adversarially trained curve."""
    adv = df[df["training"] == "adversarial"]
    var = "radius_constant" if cfg.panel == "radius" else "C0"
    found, censored = [], []
    for _, sub in adv.groupby(["block", "replicate"], sort=True):
        curve = sub.groupby(var)["robust_accuracy"].mean().sort_index()
        if len(curve) < 2:
            continue
        value, why = crossing(curve.index.to_numpy(), curve.to_numpy())
        (found if why == "" else censored).append(value if why == "" else why)
    return found, censored


def _summaries(cfg: AdvTrainConfig, df: pd.DataFrame) -> list[dict]:
    out = []
    if cfg.panel == "radius":
        figure, xcol, series = "radius", "radius_constant", f"d = {cfg.d}, m = {cfg.m}"
    else:
        figure, xcol, series = "width", "C0", f"m = {cfg.m}"
    for training, sub in df.groupby("training", sort=False):
        for x, g in sub.groupby(xcol, sort=True):
            for column, label in (("robust_accuracy", "attack"),
                                  ("certified_accuracy", "certified")):  # fmt: skip
                out.append(law_summary(g[column].to_numpy(), {
                    "figure": figure, "panel": f"{training} training ({label})",
                    "series": series, "x": float(x),
                }, within=(0.0, 1.0)))  # fmt: skip
    # Adversarial minus standard training at the radius the adversarial networks trained for,
    # paired by network.
    key = ["block", "replicate", "C0", "radius_constant"]
    adv = df[df["training"] == "adversarial"].set_index(key)["robust_accuracy"]
    std = df[df["training"] == "standard"].set_index(key)["robust_accuracy"]
    gain = (adv - std).dropna().reset_index()
    for x, g in gain.groupby(xcol, sort=True):
        out.append(law_summary(g["robust_accuracy"].to_numpy(), {
            "figure": f"{figure}-gain", "panel": "main", "series": series, "x": float(x),
        }, within=(-1.0, 1.0)))  # fmt: skip
    return out


def _figures() -> list[FigureSpec]:
    cut = "Markers: mean over networks with 95% CI (cut to the range of the values). "
    return [
        FigureSpec("radius", "Fig. 4 left: robust test accuracy vs R sqrt(d) at "
                   "V = 10/sqrt(m) (the paper: m = 1000)", "R sqrt(d)", "robust accuracy",
                   logx=True, caption=cut + "'attack': single step + APGD with restarts (an "
                   "upper estimate); 'certified': CROWN / quadratic certificates (a lower "
                   "estimate). The paper reports a sharp drop near R sqrt(d) = 5."),
        FigureSpec("width", "Fig. 4 right: robust test accuracy vs V sqrt(m) at fixed d and R",
                   "V sqrt(m)", "robust accuracy", logx=True,
                   caption=cut + "The paper reports a transition near V sqrt(m) = 25: robust "
                   "outside, ~0 inside."),
        FigureSpec("radius-gain", "Adversarial minus standard training, robust accuracy at the "
                   "radius trained for (Fig. 4 left grid)", "R sqrt(d)", "difference",
                   logx=True, caption="Paired by network; " + cut[9:].rstrip()),
        FigureSpec("width-gain", "Adversarial minus standard training, robust accuracy at the "
                   "radius trained for (Fig. 4 right grid)", "V sqrt(m)", "difference",
                   logx=True, caption="Paired by network; " + cut[9:].rstrip()),
    ]  # fmt: skip


SIMULATION = LazyAdversarialTraining()

if __name__ == "__main__":
    main(SIMULATION)
