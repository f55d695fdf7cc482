"""lazy-robust-error with both attacks (simulations/lazy_robust_error.py): single step and l2 PGD.

Contract: on every input and at every radius, PGD's robust error contains the single step's (the
union of Wang et al. 2022 Corollary 3.2's one-step lower estimate with PGD's flips); both are
nondecreasing in R; every flip PGD reports is a real sign change within its radius; the rows
``measure`` stores are the per-input outcomes it computed; ``evaluate`` checks Corollary 3.2 with
both attacks (PGD first) and summarises what PGD adds. Everything here is deterministic (fixed
seeds, no statistical threshold): the invariants hold for every draw.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_lazy_simulations import check_evaluation

import theorycheck.simulations.lazy_robust_error as lre
from theorycheck.activations import ACTIVATIONS
from theorycheck.errors import UserInputError
from theorycheck.forward import output_and_gradient
from theorycheck.network import NetworkSpec, sample_inputs, sample_network
from theorycheck.seeding import generator
from theorycheck.simulation import measure_block
from theorycheck.simulations.lazy_robust_error import (
    C_R,
    LazyRobustError,
    RobustErrorConfig,
    attack_outcomes,
)
from theorycheck.verdicts import Verdict


class TinyRobustError(LazyRobustError):
    def _configs(self, profile):
        for d in (9, 36):
            yield RobustErrorConfig(d, 50, 10.0, 20, 4, 1, 2)


def f_at(net, X):
    return output_and_gradient(net, X, path="reference").f


def check_outcome(net, X, y, out):
    """The per-input invariants of :func:`attack_outcomes` (see the module docstring)."""
    k = len(out.radii)
    assert out.single.shape == out.pgd.shape == out.pgd_own.shape == (k, len(X))
    assert out.trivial.shape == out.certified.shape == (k, len(X))
    # Trivial exactly where R >= ||x|| (up to TRIVIAL_TOLERANCE).
    xnorm = np.linalg.norm(X, axis=1)
    np.testing.assert_array_equal(
        out.trivial, out.radii[:, None] >= xnorm[None, :] * (1 - lre.TRIVIAL_TOLERANCE)
    )
    # PGD >= single step on every input, and both contain the clean error.
    assert np.all(out.pgd >= out.single)
    assert np.all(out.single >= out.wrong) and np.all(out.pgd >= out.wrong)
    # Nondecreasing in R, input by input, for each attack.
    assert np.all(np.diff(out.single.astype(int), axis=0) >= 0)
    assert np.all(np.diff(out.pgd.astype(int), axis=0) >= 0)
    # The single step's row is exactly "wrong or t* <= R".
    np.testing.assert_array_equal(
        out.single, out.wrong | (out.t_star[None, :] <= out.radii[:, None])
    )
    # PGD only attacks inputs still standing at R and not certified; its flips are real.
    before = np.vstack([out.wrong, out.pgd[:-1]])
    assert not np.any(out.pgd_own & (out.single | before))
    assert not np.any(out.pgd_own & out.certified)
    assert not np.any(out.certified & (out.single | before))
    if net.spec.activation != "relu":
        assert not out.certified.any()
    np.testing.assert_array_equal(out.pgd, out.single | before | out.pgd_own)
    for j, R in enumerate(out.radii):
        own = out.pgd_own[j]
        norms = np.linalg.norm(out.delta[j], axis=1)
        assert np.all(norms[own] <= R * (1 + 1e-12))
        assert np.all(norms[~own] == 0.0)
        if own.any():
            assert np.all(y[own] * f_at(net, X[own] + out.delta[j][own]) <= 0.0)


# -- the simulation's own measure output, with the per-input outcomes behind each row ---------


@pytest.fixture(scope="module")
def recorded():
    """Run the tiny grid as the runner does, recording every call of ``attack_outcomes``.

    Returns ({config: concatenated blocks}, [(config, block, net, X, y, outcome), ...]) in the
    order ``measure`` appends its rows.
    """
    sim, calls, data = TinyRobustError(), [], {}
    real = lre.attack_outcomes

    def spy(net, X, y, radii, *args, **kwargs):
        out = real(net, X, y, radii, *args, **kwargs)
        calls.append((current[0], current[1], net, X, y, out))
        return out

    current = [None, None]
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(lre, "attack_outcomes", spy)
        for cfg in sim.configs("quick"):
            blocks = []
            for b in range(sim.blocks(cfg)):
                current[:] = [cfg, b]
                blocks.append(measure_block(sim, cfg, 0, b))
            data[cfg] = pd.concat(blocks, ignore_index=True)
    return data, calls


def columns(cfg, prefix):
    return [f"{prefix}_{c:g}" for c in cfg.radius_constants]


def test_rows_are_the_per_input_outcomes(recorded):
    data, calls = recorded
    rows = pd.concat(data.values(), ignore_index=True)
    assert len(rows) == len(calls)
    for (_, row), (cfg, block, *_rest, out) in zip(rows.iterrows(), calls, strict=True):
        assert row["block"] == block
        np.testing.assert_allclose(out.radii, np.array(cfg.radius_constants) / math.sqrt(cfg.d))
        assert row["error"] == pytest.approx(out.wrong.mean())
        np.testing.assert_allclose(
            row[columns(cfg, "robust_error")].to_numpy(float), out.single.mean(axis=1)
        )
        np.testing.assert_allclose(
            row[columns(cfg, "robust_error_pgd")].to_numpy(float), out.pgd.mean(axis=1)
        )
        np.testing.assert_allclose(
            row[columns(cfg, "certified")].to_numpy(float), out.certified.mean(axis=1)
        )


def test_attack_gap_brackets_the_robust_error(recorded):
    """The robust error lies between the attack's count and 1 - the certified fraction (an input
    is never both flipped and certified); the figure draws the gap, the PGD row states both."""
    data, calls = recorded
    for *_, out in calls:
        assert not np.any(out.pgd & out.certified)
    ev = TinyRobustError().evaluate(data)
    gap = ev.summary.query("figure == 'attack-gap'")
    assert len(gap) and (gap["estimate"] >= 0).all() and (gap["estimate"] <= 1).all()
    for cfg, df in data.items():
        for family, sub in df.groupby("family"):
            for c in cfg.radius_constants:
                want = (1 - sub[f"certified_{c:g}"] - sub[f"robust_error_pgd_{c:g}"]).mean()
                got = gap.loc[(gap["panel"] == f"{family}, m = {cfg.m}") & (gap["x"] == c)
                              & (gap["series"] == f"d = {cfg.d}"), "estimate"]  # fmt: skip
                assert got.tolist() == [pytest.approx(want)]
    pgd_rows = [v for v in ev.verdicts if v.params().get("attack") == "PGD"]
    assert pgd_rows and all("(1 - certified)" in v.note for v in pgd_rows)


def test_families_and_evaluation_contract(recorded):
    """Two untrained families per network, the trained one for the first networks of a block;
    the evaluation passes the contract every simulation's does (valid verdicts, summary columns,
    figures drawn from the summary, Holm keeps every row)."""
    data, _ = recorded
    for cfg, df in data.items():
        assert (df["family"] == "trained").sum() == cfg.trained_per_block * cfg.n_blocks
        assert len(df) == (2 * cfg.networks_per_block + cfg.trained_per_block) * cfg.n_blocks
    check_evaluation(TinyRobustError(), data)


def test_pgd_is_at_least_the_single_step_on_every_input(recorded):
    data, calls = recorded
    for _cfg, _block, net, X, y, out in calls:
        check_outcome(net, X, y, out)
    for cfg, df in data.items():
        pgd = df[columns(cfg, "robust_error_pgd")].to_numpy()
        single = df[columns(cfg, "robust_error")].to_numpy()
        assert np.all(pgd >= single)
        assert np.all(single >= df[["error"]].to_numpy())


def test_robust_error_is_monotone_in_R_for_each_attack(recorded):
    data, _ = recorded
    for cfg, df in data.items():
        for prefix in ("robust_error", "robust_error_pgd"):
            values = df[["error", *columns(cfg, prefix)]].to_numpy()
            assert np.all(np.diff(values, axis=1) >= 0)
            assert np.all((values >= 0) & (values <= 1))
            # fractions of n_test inputs
            np.testing.assert_allclose(values * cfg.n_test, np.round(values * cfg.n_test))


def test_pgd_adds_flips_the_single_step_misses(recorded):
    """Not a vacuous union: PGD flips inputs the single step left standing.

    The threshold (one flip) is justified by a tail bound, not by this seed: the tiny grid has
    8 independent untrained networks per dimension (2 blocks x 4), each attacked in its W0 and
    random-sphere weights. On development runs of the same configurations with the present
    attack (100 blocks each, key "pgd-adds-dev-apgd", no trained network) PGD flipped nothing on
    76 of 400 networks at d = 9 and 158 of 400 at d = 36; the one-sided 99.9% Clopper-Pearson
    upper limits of these rates are 0.257 and 0.473. At these rates all 16 networks come out
    without a PGD flip with probability 0.257^8 0.473^8 = 4.8e-8 < 1e-6 (the trained networks can
    only add flips). (With the earlier 20-step attack the counts were 99 and 159 of 400.)
    """
    data, calls = recorded
    assert {cfg.d for cfg in data} == {9, 36}
    for cfg in data:
        assert cfg.networks_per_block * cfg.n_blocks == 8
    assert sum(int(out.pgd_own.sum()) for *_rest, out in calls) >= 1


def test_evaluation_checks_the_corollary_with_both_attacks(recorded):
    data, _ = recorded
    sim = TinyRobustError()
    ev = sim.evaluate(data)
    rows = [v for v in ev.verdicts if v.claim == "wang2022.corollary_3_2"]
    n_radii = sum(c >= C_R for c in lre.RADIUS_CONSTANTS)
    assert len(rows) == 2 * n_radii * 3 * len(data)
    # PGD first, the single step beside it, at the same grid point
    for pgd, single in zip(rows[::2], rows[1::2], strict=True):
        p, s = pgd.params(), single.params()
        assert p.pop("attack") == "PGD" and s.pop("attack") == "single step"
        assert p == s and p["R sqrt(d)"] >= C_R
        assert "PGD" in pgd.statistic and "single step" in single.statistic
        assert "PGD adds" in pgd.note
        assert pgd.bound == single.bound == 0.9
        # PGD's estimate is never below the single step's
        assert pgd.exceedances <= single.exceedances
    assert {"robust-error", "pgd-gain", "attack-gap", "clean-error"} == {f.name for f in ev.figures}
    s = ev.summary
    robust = s[s["figure"] == "robust-error"]
    for cfg in data:
        c = np.array(cfg.radius_constants)
        trivial = c / math.sqrt(cfg.d) >= 1.0  # inputs on the unit sphere (wang scaling)
        assert trivial.any() and not trivial.all()  # the tiny grid has both kinds
        for label in ("PGD", "single step"):
            plain = robust[robust["series"] == f"d = {cfg.d}, {label}"]
            marked = robust[robust["series"] == f"d = {cfg.d}, {label}" + lre.TRIVIAL_SERIES]
            assert sorted(set(plain["x"])) == sorted(c[~trivial])
            assert sorted(set(marked["x"])) == sorted(c[trivial])
            assert len(plain) + len(marked) == 3 * len(c)
    # Verdict rows at trivial radii say so (and, like every row here, are descriptions).
    for row in rows:
        p = row.params()
        is_trivial = p["R sqrt(d)"] / math.sqrt(p["d"]) >= 1.0
        assert (lre.TRIVIAL_NOTE in row.note) == is_trivial
        assert row.verdict == str(Verdict.DESCRIPTIVE) and row.family == "descriptive"
    # The gain summary is the mean of per-network differences, >= 0.
    gain = s[s["figure"] == "pgd-gain"]
    assert len(gain) == 3 * sum(len(c.radius_constants) for c in data)
    assert (gain["estimate"] >= 0).all() and (gain["ci_low"] <= gain["estimate"]).all()
    cfg, df = next(iter(data.items()))
    w0 = df[df["family"] == "W0"]
    c = cfg.radius_constants[2]
    expected = (w0[f"robust_error_pgd_{c:g}"] - w0[f"robust_error_{c:g}"]).mean()
    got = gain[(gain["panel"] == f"W0, m = {cfg.m}") & (gain["series"] == f"d = {cfg.d}")]
    assert got.loc[got["x"] == c, "estimate"].item() == pytest.approx(expected)


# -- attack_outcomes on arbitrary networks ----------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(
    d=st.integers(1, 10),
    m=st.integers(1, 40),
    activation=st.sampled_from(tuple(ACTIVATIONS)),
    n=st.integers(1, 6),
    seed=st.integers(0, 2**32 - 1),
    radius_factors=st.lists(st.floats(0.05, 3.0), min_size=1, max_size=4, unique=True),
    restarts=st.integers(0, 2),
)
def test_attack_outcome_invariants(d, m, activation, n, seed, radius_factors, restarts):
    spec = NetworkSpec(d=d, m=m, activation=activation)
    rng = generator(seed, "test_lazy_robust_error")
    net = sample_network(spec, rng)
    X = sample_inputs(spec, n, rng)
    y = np.where(rng.random(n) < 0.5, -1.0, 1.0)  # some inputs misclassified
    radii = np.sort(radius_factors) / math.sqrt(d)
    out = attack_outcomes(net, X, y, radii, pgd_steps=8, restarts=restarts, rng=rng)
    check_outcome(net, X, y, out)


def test_trivial_radius_from_rows_or_from_the_config(recorded):
    """The stored ``trivial_<c>`` column decides; rows stored without it fall back on R >= ||x||
    with ||x|| = 1 (the inputs' sphere), and both agree on the tiny grid."""
    data, calls = recorded
    for cfg, df in data.items():
        for c in cfg.radius_constants:
            stored = lre.trivial_radius(cfg, df, c)
            legacy = lre.trivial_radius(cfg, df.drop(columns=f"trivial_{c:g}"), c)
            assert stored == legacy == (c / math.sqrt(cfg.d) >= 1.0)
    rows = pd.concat(data.values(), ignore_index=True)
    for (_, row), (cfg, *_rest, out) in zip(rows.iterrows(), calls, strict=True):
        np.testing.assert_allclose(
            row[columns(cfg, "trivial")].to_numpy(float), out.trivial.mean(axis=1)
        )


def test_bad_radii_are_rejected():
    spec = NetworkSpec(d=3, m=4)
    net = sample_network(spec, generator(0, "bad-radii"))
    X, y = sample_inputs(spec, 2, generator(1, "bad-radii")), np.ones(2)
    for radii in ([0.2, 0.1], [0.0, 0.1], [0.1, 0.1]):
        with pytest.raises(UserInputError, match="radii"):
            attack_outcomes(net, X, y, radii)


def test_screen_reproducer_comes_out_flipped():
    """Issue 18: the old screen skipped inputs with t* > 2 R, assuming the minimal flip radius is
    near t*. On robustifying W (built for the input attacked) the flip can be much shorter: here
    (d = 25, m = 1000, test input 12, R = 1 = ||x||, as in the issue's reproducer) t* = 4.24 R and
    PGD flips with ||delta|| = 0.973. Now the only screen is a certificate, so it comes out
    flipped, with a delta that an independent forward pass confirms."""
    from theorycheck.lazy_ball import lazy_radius
    from theorycheck.perturbations import robustifying
    from theorycheck.simulations._common import clusters_task

    spec = NetworkSpec(d=25, m=1000)
    rng = generator(0, "issue18-screen")
    net = sample_network(spec, rng)
    x = clusters_task(spec, rng, 200).X_test[[12]]
    nw = net.with_weights(robustifying(net, x[0], lazy_radius(spec, 10.0), path="reference"))
    y = np.sign(f_at(nw, x))
    out = attack_outcomes(nw, x, y, [1.0], rng=generator(0, "issue18-screen", "attack"))
    assert out.t_star[0] > 2.0  # the old screen (t* <= 2 R or t* = inf) skipped this input
    assert not out.single[0, 0] and not out.certified[0, 0] and out.trivial[0, 0]
    assert out.pgd_own[0, 0]
    delta = out.delta[0, 0]
    assert np.linalg.norm(delta) <= 1.0 and y[0] * f_at(nw, x + delta)[0] <= 0.0
