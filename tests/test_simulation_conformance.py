"""check_simulation over the registry (as check_bound over the bounds), and planted breaches of
the contract that it must catch; ``python -m theorycheck.simulations.<module>`` as a user runs it.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import pytest
from _tiny import ExactTinySignFlips

from theorycheck.simulation import Evaluation
from theorycheck.simulations import REGISTRY
from theorycheck.simulations.conformance import check_simulation, tiny_config
from theorycheck.simulations.lazy_sign_flips import SignFlipConfig


@pytest.mark.parametrize("sim_id", sorted(REGISTRY))
def test_every_registered_simulation_conforms(sim_id, warm_numba):
    check_simulation(REGISTRY[sim_id])


def test_tiny_config_only_shrinks_sample_sizes():
    cfg = SignFlipConfig(100, 4, (1.0, 10.0), (0.1,), networks_per_block=1360, n_blocks=4)
    tiny = tiny_config(cfg)
    assert tiny.networks_per_block == 4
    assert dataclasses.replace(tiny, networks_per_block=1360) == cfg  # nothing else moved
    assert tiny_config(tiny) == tiny


class Unregistered(ExactTinySignFlips):
    claims = ("exact.f6_flippable", "mine.not_registered")


class LosesParameters(ExactTinySignFlips):
    """Lemma 4.3 rows without m: its conditions could not be evaluated."""

    def evaluate(self, data):
        ev = super().evaluate(data)
        rows = []
        for r in ev.verdicts:
            params = {k: v for k, v in r.params().items() if k != "m"}
            rows.append(dataclasses.replace(r, parameters=json.dumps(params)))
        return Evaluation(rows, ev.summary, ev.figures)


class WrongClaim(ExactTinySignFlips):
    claims = ("exact.f6_flippable",)  # its evaluation also speaks about Lemma 4.3


@pytest.mark.parametrize(
    ("sim", "needle"),
    [
        (Unregistered(), "mine.not_registered is not in"),
        (WrongClaim(), "speaks about wang2022.lemma_4_3, not a claim of the simulation"),
    ],
)
def test_check_simulation_catches_planted_breaches(sim, needle, warm_numba):
    with pytest.raises(AssertionError, match=needle):
        check_simulation(sim)


def test_rows_without_their_bounds_parameters_are_caught(monkeypatch, warm_numba):
    """Lemma 4.3 has no conditions of its own, so the parameter check is shown on a claim that
    has: the registered Lemma 4.3 given a conditions hook for this test."""
    from theorycheck.bounds import REGISTRY as BOUNDS

    lemma = BOUNDS["wang2022.lemma_4_3"]
    monkeypatch.setattr(type(lemma), "_conditions", lambda self, **p: p["m"] > 0, raising=False)
    with pytest.raises(AssertionError, match=r"lack parameter\(s\) m of the bound"):
        check_simulation(LosesParameters())
    check_simulation(ExactTinySignFlips())  # the same simulation with its parameters passes


def test_python_m_runs_one_simulation_without_warnings_and_refuses_other_ids(tmp_path):
    mod = "theorycheck.simulations.width_window"
    ok = subprocess.run([sys.executable, "-W", "error::RuntimeWarning", "-m", mod, "--out",
                         str(tmp_path), "--no-report", "--quiet"], capture_output=True,
                        text=True, cwd=tmp_path)  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    assert "RuntimeWarning" not in ok.stderr and "width-window" in ok.stdout
    bad = subprocess.run([sys.executable, "-m", mod, "lazy-output", "--out", str(tmp_path)],
                         capture_output=True, text=True, cwd=tmp_path)  # fmt: skip
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1
    assert "runs width-window only; got lazy-output" in bad.stderr


class OverridesAConstant(ExactTinySignFlips):
    """Rows of a claim with conditions that carry a value for one of its free constants."""

    def evaluate(self, data):
        ev = super().evaluate(data)
        rows = [dataclasses.replace(r, parameters=json.dumps({**r.params(), "C3": 7.0}))
                if r.claim == "wang2022.lemma_4_3" else r for r in ev.verdicts]  # fmt: skip
        return Evaluation(rows, ev.summary, ev.figures)


def test_a_row_silently_replacing_a_free_constant_is_caught(monkeypatch, warm_numba):
    from theorycheck.bounds import REGISTRY as BOUNDS
    from theorycheck.bounds._base import Constant

    lemma = BOUNDS["wang2022.lemma_4_3"]
    monkeypatch.setattr(type(lemma), "_conditions", lambda self, **p: p["m"] > 0, raising=False)
    monkeypatch.setattr(type(lemma), "constants", (Constant("C3", 1.0, "a planted constant"),))
    value = type(lemma)._value
    monkeypatch.setattr(type(lemma), "_value", lambda self, C3, **p: value(self, **p))
    with pytest.raises(AssertionError, match=r"set the constant C3 = 7\.0"):
        check_simulation(OverridesAConstant())
    monkeypatch.setattr(OverridesAConstant, "constant_overrides", ("C3",), raising=False)
    check_simulation(OverridesAConstant())
