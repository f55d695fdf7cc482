"""The command line as a user runs it: one-line errors with exit code 2, list, bounds, run."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest

from theorycheck.cli import format_verdicts, main


def _run(*args):
    return subprocess.run(
        [sys.executable, "-m", "theorycheck.cli", *args], capture_output=True, text=True,
        timeout=600,
    )  # fmt: skip


def test_list_names_every_simulation_and_its_claims(capsys):
    main(["list"])
    out = capsys.readouterr().out
    assert "lazy-sign-flips" in out and "wang2022.lemma_4_3" in out
    assert "init-gradient" in out and "exact.f2_grad_norm_sq" in out


def test_bounds_prints_the_catalog(capsys):
    main(["bounds"])
    out = " ".join(capsys.readouterr().out.split())
    assert "Wang, Ullah, Mianjy, Arora (2022), Lemma 4.3" in out
    assert "C0 sqrt(m) + sqrt(m log(1/gamma)/2)" in out


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["run", "no-such-simulation"], "unknown simulation 'no-such-simulation'"),
        (["run", "lazy-sign-flip"], "did you mean lazy-sign-flips"),
        (["run", "--seed", "-4", "--no-report"], "seed must be an integer >= 0"),
        (["run", "--out", "/proc/forbidden/results"], "cannot write results"),
        (["report", "--results", "/nonexistent/results"], "does not exist"),
        (["run", "width-window", "--path", "exact"], "width-window offers no path"),
        (["run", "init-single-step", "--path", "streaming"], "init-single-step offers paths"),
    ],
)
def test_user_errors_are_one_line_with_exit_code_2(args, needle):
    proc = _run(*args)
    assert proc.returncode == 2, proc.stderr
    assert needle in proc.stderr
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_verdict_table_format_shows_verdicts_and_tally():
    table = pd.DataFrame({
        "simulation": ["s"], "claim": ["c"], "parameters": ['{"m": 10}'], "estimate": [1.0],
        "bound": [2.0], "slack": [2.0], "p_adjusted": [0.5], "verdict": ["HOLDS"],
        "conditions": ["outside"], "evidence": ["certified"],
    })  # fmt: skip
    text = format_verdicts(table)
    assert "HOLDS" in text and "m: 10" in text and "1 verdicts (HOLDS: 1)" in text
    # The qualifiers a reader needs beside the verdict.
    assert "outside" in text and "certified" in text
