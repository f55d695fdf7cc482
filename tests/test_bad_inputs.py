"""Every bad input found by trying 161 of them as a user would (the 23 that slipped through):
exit code 2 or a UserInputError, one line, naming the parameter; nothing written, nothing
allocated.

The command-line cases call :func:`theorycheck.cli.main` in process (the same code the console
script runs; tests/test_cli.py covers the subprocess path).
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from _tiny import TinySignFlips

from theorycheck.bounds import get_bound
from theorycheck.bounds.conditions import width_window
from theorycheck.cli import main
from theorycheck.errors import UserInputError, check_numbers
from theorycheck.exact import sample_init_statistics
from theorycheck.network import NetworkSpec, sample_inputs
from theorycheck.runner import run
from theorycheck.seeding import generator


def _names(param: str, msg: str) -> bool:
    return re.search(rf"(?<![\w*]){re.escape(param)}(?![\w*])", msg) is not None


def raises_naming(param: str, fn, *args, **kwargs) -> str:
    with pytest.raises(UserInputError) as info:
        fn(*args, **kwargs)
    msg = str(info.value)
    assert "\n" not in msg and _names(param, msg), msg
    return msg


CLI_CASES = [
    (["run", "init-output", "--seed", str(10**299), "--no-report"], "seed"),
    (["run", "init-output", "--seed", "-1", "--no-report"], "seed"),
    (["run", "init-output", "--workers", str(2**31), "--no-report"], "workers"),
    (["run", "init-output", "--workers", "0", "--no-report"], "workers"),
    (["run", "init-output", "--out", "", "--no-report"], "--out"),
    (["run", "init-output", "--out", "  ", "--no-report"], "--out"),
    (["run", "init-output", "--out", "/dev/null/results", "--no-report"], "--out"),
    (["run", "init-output", "--seed", "x", "--no-report"], "--seed"),  # argparse, in one line
    (["run", "--profile", "huge"], "--profile"),
    (["report", "--results", ""], "--results"),
    (["bench", "--seed", "-1"], "--seed"),
    (["bench", "--seed", str(2**64)], "--seed"),
    (["bench", "--csv", "/nonexistent-dir/bench.csv"], "--csv"),
    (["bench", "--csv", "/"], "--csv"),
    (["conditions", "exact.f1_output", "--d", "10", "--gamma", "nan"], "gamma"),
    (["conditions", "exact.f1_output", "--d", "10", "--gamma", "abc"], "gamma"),
    (["conditions", "wang2022.theorem_3_1", "--d", "784", "--constant", "C4=-1"], "C4"),
    (["conditions", "wang2022.theorem_3_1", "--d", "784", "--constant", "C4=inf"], "C4"),
    (["conditions", "wang2022.theorem_3_1", "--d", "784", "--gamma", "inf"], "gamma"),
]


@pytest.mark.parametrize(("argv", "param"), CLI_CASES)
def test_cli_bad_input_exits_2_with_one_line_naming_it(argv, param, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # an empty --out must not write into the current directory
    with pytest.raises(SystemExit) as info:
        main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert info.value.code == 2
    assert len(err) == 1 and err[0].startswith("theorycheck: error:"), err
    assert _names(param, err[0]), err[0]
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_run_rejects_alpha_path_and_empty_out(tmp_path):
    sim = TinySignFlips()
    for alpha in (2, 0, 1, -0.5, math.nan, math.inf, "abc", None):
        raises_naming("alpha", run, [sim], out=tmp_path, alpha=alpha, progress=False)
    raises_naming("path", run, [sim], out=tmp_path, path="bogus", progress=False)
    raises_naming("out", run, [sim], out="", progress=False)
    raises_naming("seed", run, [sim], out=tmp_path, seed=10**299, progress=False)
    raises_naming("workers", run, [sim], out=tmp_path, workers=2**31, progress=False)
    assert list(tmp_path.iterdir()) == []  # refused before the results directory was touched


@pytest.mark.parametrize("value", [-1.0, 0.0, -math.inf, math.inf, math.nan, "abc", None, True])
def test_every_bound_constant_must_be_positive_and_finite(value):
    """Every constant of every bound, through the bound and through width_window."""
    from theorycheck.bounds import REGISTRY

    checked = 0
    for bound in REGISTRY.values():
        if not bound.constants:
            continue
        args = {p.name: _inside(p) for p in bound.params}
        for c in bound.constants:
            raises_naming(c.name, bound, **args, **{c.name: value})
            checked += 1
    assert checked >= 10
    raises_naming("C2", width_window, "wang2022.theorem_3_1", 784, C2=value)


def _inside(p) -> float:
    """A value inside a parameter's domain."""
    lo = p.low if math.isfinite(p.low) else 0.0
    value = (lo + p.high) / 2 if math.isfinite(p.high) else lo + 10.0
    return float(round(value)) if p.integer else value


def test_the_examples_of_the_report():
    thm = get_bound("wang2022.theorem_3_1")
    ok = {"d": 100, "m": 1000, "C0": 1.0, "gamma": 0.05}
    assert thm(**ok) > 0
    raises_naming("C2", thm, **ok, C2=-1)
    raises_naming("C0", thm, **{**ok, "C0": math.inf})
    raises_naming("m", thm, **{**ok, "m": math.inf})
    raises_naming("gamma", thm, **{**ok, "gamma": "abc"})
    raises_naming("gamma", get_bound("wang2022.lemma_4_3"), m=10, C0=1, gamma=[0.1, math.nan])


def test_memory_guards_refuse_before_allocating():
    """931 GiB requests: one line naming the sizes, no MemoryError."""
    spec = NetworkSpec(d=10, m=10**11)
    msg = raises_naming("m", sample_init_statistics, spec, 1, generator(0), radii=(0.1,))
    assert "GiB" in msg
    raises_naming("n", sample_init_statistics, NetworkSpec(d=10, m=10), 10**12, generator(0))
    msg = raises_naming("n*d", sample_inputs, NetworkSpec(d=10**6, m=3), 10**6, generator(0))
    assert "GiB" in msg
    from theorycheck.exact_span import sample_perturbed_statistics
    from theorycheck.quadratic.targets import sample_first_layer, sample_target
    from theorycheck.quadratic.targets import sample_inputs as quadratic_inputs
    from theorycheck.training import cluster_task, teacher_task

    raises_naming("m", sample_perturbed_statistics, spec, 1, generator(0), family="worst-output",
                  C0=1.0)  # fmt: skip
    raises_naming("d", sample_target, 10**6, generator(0))
    raises_naming("m*d", sample_first_layer, 10**6, 10**6, generator(0))
    raises_naming("n*d", quadratic_inputs, 10**6, 10**6, generator(0))
    raises_naming("n_train", teacher_task, 10**6, 10**6, 0, generator(0))
    raises_naming("n_train", cluster_task, 10**6, 10**6, 0, generator(0))
    # Sizes within the budget still run.
    out = sample_init_statistics(NetworkSpec(d=10, m=100), 3, generator(0), radii=(0.1,))
    assert out.f.shape == (3,)
    assert sample_inputs(NetworkSpec(d=10, m=3), 4, generator(0)).shape == (4, 10)


def test_one_helper_checks_finite_in_range_and_named():
    assert check_numbers("x", [1, 2.5], low=1).tolist() == [1.0, 2.5]
    raises_naming("x", check_numbers, "x", [1, np.inf])
    raises_naming("x", check_numbers, "x", 0.0, low=0.0, low_open=True)
    raises_naming("x", check_numbers, "x", 2.5, integer=True)
    raises_naming("x", check_numbers, "x", "2")
    raises_naming("x", check_numbers, "x", [])
    raises_naming("x", check_numbers, "x", 1 + 0j)
