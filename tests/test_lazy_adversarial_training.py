"""lazy-adversarial-training (simulations/lazy_adversarial_training.py): Wang et al. (2022),
Sec. 5.2, Algorithm 1 and Fig. 4.

Contract: the weights every training step starts from, and the weights it returns, lie in the lazy
ball B_{2,inf}(W0, C0/sqrt(m)) (the projection acts after every step, and a training without it
leaves the ball); adversarial training beats standard training at the radius it trained for; a
planted false claim on measured networks comes out VIOLATED while the paper's claim on the same
networks does not; the simulation passes ``check_simulation``.

Statistical tests (two) use fixed seeds; each states its failure probability for a correct
implementation with the arithmetic, from development runs of the same procedure with other seeds
(their rates and sizes are quoted in each test).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

import theorycheck.simulations.lazy_adversarial_training as lat
import theorycheck.training as training
from theorycheck.bounds import get_bound
from theorycheck.bounds._base import Constant
from theorycheck.bounds.conformance import check_bound
from theorycheck.lazy_ball import lazy_radius
from theorycheck.network import NetworkSpec, sample_network
from theorycheck.seeding import generator
from theorycheck.simulation import measure_blocks
from theorycheck.simulations._common import TRAIN, trained_task
from theorycheck.simulations.conformance import check_simulation
from theorycheck.simulations.lazy_adversarial_training import (
    SIMULATION,
    AdvTrainConfig,
    crossing,
    robust_accuracies,
    train,
)
from theorycheck.verdicts import Verdict

CLAIM = "wang2022_training.adversarial_robust_accuracy"


@pytest.fixture(autouse=True, scope="module")
def one_blas_thread():
    """One BLAS thread, as the runner measures blocks: these products are small (a 10 x d batch
    against W), and a second thread on a loaded machine multiplies the CPU time by ~4."""
    with threadpool_limits(limits=1, user_api="blas"):
        yield


def row_deviation(W, W0) -> float:
    """max_s ||w_s - w_{s,0}||, computed here without the package."""
    return float(np.sqrt(((W - W0) ** 2).sum(axis=1)).max())


def project(W, W0, R):
    """Readable projection onto B_{2,inf}(W0, R): each row's deviation clipped radially."""
    D = W - W0
    n = np.sqrt((D**2).sum(axis=1, keepdims=True))
    return W0 + D * np.minimum(1.0, R / np.where(n > 0, n, 1.0))


def spy_training(monkeypatch, project_fn=None):
    """Record the weights every gradient step starts from and each projection's input/output."""
    seen = {"grad": [], "in": [], "out": []}
    real_grad, real_project = training._loss_gradient, training.lazy_ball_project

    def grad(net, W, X, y):
        seen["grad"].append(W.copy())
        return real_grad(net, W, X, y)

    def proj(W, W0, R, path="numba"):
        seen["in"].append(W.copy())
        out = (project_fn or real_project)(W, W0, R, path=path)
        seen["out"].append(out.copy())
        return out

    monkeypatch.setattr(training, "_loss_gradient", grad)
    monkeypatch.setattr(training, "lazy_ball_project", proj)
    return seen


def small_setting(key: str):
    spec = NetworkSpec(d=25, m=50)
    rng = generator(0, key)
    net = sample_network(spec, rng)
    return spec, net, trained_task(spec, rng, 10), rng


def test_projection_after_every_step_keeps_the_weights_in_the_ball(monkeypatch):
    spec, net, task, rng = small_setting("adv-projection")
    C0, R_attack = 0.5, 2.5 / math.sqrt(spec.d)  # a small ball: the raw steps leave it
    seen = spy_training(monkeypatch)
    res = train(net, task, C0, R_attack, rng)
    R = lazy_radius(spec, C0)
    steps = TRAIN["epochs"] * math.ceil(TRAIN["n_train"] / TRAIN["batch"])
    assert res.steps_run == steps == len(seen["grad"]) == len(seen["out"])
    # Every step starts from the previous step's projection (W0 first), the result is the last.
    np.testing.assert_array_equal(seen["grad"][0], net.W)
    for k in range(1, steps):
        np.testing.assert_array_equal(seen["grad"][k], seen["out"][k - 1])
    np.testing.assert_array_equal(res.W, seen["out"][-1])
    # Each projection is the readable one, and every iterate is in the ball.
    for W_in, W_out in zip(seen["in"], seen["out"], strict=True):
        np.testing.assert_allclose(W_out, project(W_in, net.W, R), rtol=0, atol=1e-12)
        assert row_deviation(W_out, net.W) <= R * (1 + 1e-12)
    # Not vacuous: the unprojected steps leave the ball (so the projection is what keeps W in).
    outside = sum(row_deviation(W, net.W) > R * (1 + 1e-9) for W in seen["in"])
    assert outside >= steps // 2
    assert res.max_row_deviation <= R * (1 + 1e-12)


def test_without_the_projection_the_check_catches_weights_outside_the_ball(monkeypatch):
    """The same check, with the projection planted out (identity): it must fail."""
    spec, net, task, rng = small_setting("adv-projection")
    seen = spy_training(monkeypatch, project_fn=lambda W, W0, R, path="numba": W)
    train(net, task, 0.5, 2.5 / math.sqrt(spec.d), rng)
    R = lazy_radius(spec, 0.5)
    assert max(row_deviation(W, net.W) for W in seen["out"]) > 2 * R


def test_adversarial_training_beats_standard_at_the_radius_it_trained_for():
    """d = 100, m = 100, V = 30/sqrt(m) (outside the lazy ball of Fig. 4 left), R = 0.5 = 5/sqrt(d):
    gain = robust accuracy (attack) of the adversarially trained W minus that of the standard W
    of the same network and task, on its 40 test inputs, at R.

    Failure probability: development runs of exactly this procedure with other seeds (key
    "adv-beats-std-dev", networks 100..386) had a gain below 0.5 on 0 of 287 networks (smallest
    gain 0.525, mean 0.86: standard 0.13, adversarial 0.99); the one-sided 99.9% Clopper-Pearson
    upper limit of that rate is 0.0238. The test fails only if all 4 independent networks have a
    gain below 0.5: probability <= 0.0238^4 = 3.2e-7 < 1e-6.
    """
    spec, R, C0 = NetworkSpec(d=100, m=100), 0.5, 30.0
    gains = []
    for k in range(4):
        rng = generator(0, "adv-beats-std", k)
        net = sample_network(spec, rng)
        task = trained_task(spec, rng, 40)
        acc = {}
        for eps in (0.0, R):
            W = train(net, task, C0, eps, rng).network(net)
            (acc[eps],) = robust_accuracies(W, task, [R], rng)
        gains.append(acc[R]["robust_accuracy"] - acc[0.0]["robust_accuracy"])
    assert max(gains) >= 0.5, gains


#: The planted-claim test's networks: Fig. 4 left at d = 100, m = 100, inside the ball (C0 = 10),
#: trained and attacked at R sqrt(d) = 1 and 10; every test input may be certified by the
#: quadratic route. R sqrt(d) = 10 is R = ||x|| = 1: the ball around x contains 0, where f = 0, so
#: no input can be certified there, whatever the network (a sound certificate's deterministic 0).
PLANTED = AdvTrainConfig("radius", 100, 100, (10.0,), (1.0, 10.0), 40, 1, 8, 40)


@pytest.fixture(scope="module")
def planted_data():
    return {PLANTED: measure_blocks(SIMULATION, PLANTED, seed=0)}


def claim_rows(ev, estimator):
    return {
        r.params()["R sqrt(d)"]: r
        for r in ev.verdicts
        if r.claim == CLAIM and r.params()["estimator"] == estimator
    }


def test_a_planted_radius_is_violated_and_the_papers_is_not(planted_data, monkeypatch):
    """The claim "robust accuracy <= 0.1 at R >= C_R/sqrt(d)" on 8 measured networks, decided as if
    8 networks had the power (gamma' = 10 gamma = 0.1, one-sided binomial test at alpha = 0.05:
    VIOLATED needs >= 3 of 8 networks above 0.1, P(Bin(8, 0.1) >= 3) = 0.038).

    * The paper's C_R = 5: only R sqrt(d) = 10 is checked; its certified row (the only estimate
      that can refute) is not VIOLATED: every certified accuracy is 0 there (see PLANTED).
    * Planted C_R = 0.5: R sqrt(d) = 1 is checked too, where the certificates prove the networks
      robust; its certified row is VIOLATED.

    Failure probability (correct implementation): development runs of the same procedure (the
    config with R sqrt(d) in {1, 7}, seed 1, blocks 100..359) had a certified accuracy <= 0.1 at
    R sqrt(d) = 1 on 0 of 260 networks (smallest 0.975); the one-sided 99.9% Clopper-Pearson
    upper limit of that rate is 0.0262. The planted row misses VIOLATED only if >= 6 of the 8
    independent networks fail: probability <= C(8, 6) 0.0262^6 = 9.1e-9 < 1e-6.
    """
    monkeypatch.setattr(lat, "replicates_for_power", lambda gamma: PLANTED.n_blocks)
    truth = claim_rows(SIMULATION.evaluate(planted_data), "certificate")
    assert set(truth) == {10.0}
    assert truth[10.0].n == 8 and truth[10.0].verdict != Verdict.VIOLATED
    assert truth[10.0].estimate == 0.0
    claim = type(get_bound(CLAIM))
    planted = tuple(
        Constant("C_R", 0.5, "planted") if c.name == "C_R" else c for c in claim.constants
    )
    monkeypatch.setattr(claim, "constants", planted)
    rows = claim_rows(SIMULATION.evaluate(planted_data), "certificate")
    assert set(rows) == {1.0, 10.0}
    assert rows[1.0].verdict == Verdict.VIOLATED, rows[1.0]
    assert rows[10.0].verdict != Verdict.VIOLATED
    # The attack's estimate is an upper one: it can never refute (so it is no evidence here).
    attack = claim_rows(SIMULATION.evaluate(planted_data), "attack")
    assert set(attack) == {1.0, 10.0}
    assert all(r.verdict != Verdict.VIOLATED for r in attack.values())


def test_underpowered_rows_are_descriptions(planted_data):
    ev = SIMULATION.evaluate(planted_data)
    rows = [r for r in ev.verdicts if r.claim == CLAIM]
    assert rows and all(r.verdict == Verdict.DESCRIPTIVE for r in rows)
    assert all("472 replicates power needs" in r.note for r in rows)


def test_a_curve_that_never_crosses_is_said_not_dropped(planted_data):
    """The radius-drop claim keeps a row when no network's robust accuracy crosses 1/2 inside
    the grid (on digits it is below 1/2 already at the smallest radius): a description with no
    estimate and the censoring in its note, so the claim stays on the bottom line."""
    ((cfg, df),) = planted_data.items()
    below = df.assign(robust_accuracy=np.where(df["training"] == "adversarial", 0.0,
                                               df["robust_accuracy"]))  # fmt: skip
    rows = [r for r in SIMULATION.evaluate({cfg: below}).verdicts
            if r.claim == "wang2022_training.radius_drop"]  # fmt: skip
    assert len(rows) == 1 and rows[0].verdict == Verdict.DESCRIPTIVE
    assert np.isnan(rows[0].estimate) and f"0 of {cfg.n_blocks} networks cross" in rows[0].note
    assert "already past it at the smallest grid value" in rows[0].note


def test_reference_accuracy_is_the_bayes_rule_and_nan_without_one():
    """The reference: test inputs the cluster task's rule sign <mu, x> classifies correctly at
    distance > R (mu = teacher_V[0], a unit vector); NaN for data without a rule (real digits,
    a user's file: empty teacher), the attack's numbers unchanged."""
    spec, net, task, _ = small_setting("adv-reference")
    radii = [0.2, 0.6]
    rows = robust_accuracies(net, task, radii, generator(1, "attack"))
    z = task.X_test @ task.teacher_V[0]
    for row, R in zip(rows, radii, strict=True):
        assert row["reference_accuracy"] == np.mean((np.sign(z) == task.y_test) & (np.abs(z) > R))
    bare = dataclasses.replace(task, teacher_a=np.empty(0), teacher_V=np.empty((0, spec.d)))
    bare_rows = robust_accuracies(net, bare, radii, generator(1, "attack"))
    for row, bare_row in zip(rows, bare_rows, strict=True):
        assert math.isnan(bare_row.pop("reference_accuracy"))
        row.pop("reference_accuracy")
        assert row == bare_row


def test_crossing_interpolates_in_log_x_and_reports_censoring():
    assert crossing([1, 2, 4], [1.0, 1.0, 0.0]) == (pytest.approx(math.sqrt(8)), "")
    assert crossing([5, 20, 80], [0.0, 0.5, 1.0]) == (pytest.approx(20.0), "")
    value, why = crossing([1, 2], [0.2, 0.0])
    assert math.isnan(value) and "smallest" in why
    value, why = crossing([1, 2], [1.0, 0.9])
    assert math.isnan(value) and "largest" in why


def test_bounds_conform():
    for claim in SIMULATION.claims:
        check_bound(get_bound(claim))


def test_check_simulation():
    check_simulation(SIMULATION)
