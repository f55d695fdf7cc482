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


# -- conventions: --version, help, --format -------------------------------------------------------
def test_version_and_help_with_examples_and_every_option_explained(capsys):
    import theorycheck
    from theorycheck.cli import _parser

    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"theorycheck {theorycheck.__version__}"
    parser = _parser()
    assert "examples:" in parser.format_help()
    sub = next(a for a in parser._actions if a.dest == "command")
    for name, command in sub.choices.items():
        for action in command._actions:
            if action.dest != "help":
                assert action.help, f"theorycheck {name} {action.option_strings} has no help"
    assert "examples:" in sub.choices["run"].format_help()


def test_format_csv_and_json_parse_and_bounds_filters(capsys):
    import io
    import json

    main(["list", "--format", "csv"])
    listed = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert "lazy-sign-flips" in set(listed["id"]) and len(listed) == len(listed["id"].unique())
    main(["bounds", "wang2022", "--format", "json"])
    records = json.loads(capsys.readouterr().out)
    assert records and all(r["id"].startswith("wang2022.") for r in records)
    main(["bounds", "wang2022.lemma_4_3"])
    out = capsys.readouterr().out
    assert out.startswith("wang2022.lemma_4_3") and out.count("citation:") == 1
    with pytest.raises(SystemExit) as info:
        main(["bounds", "wang2022.lemma_4_33"])
    assert info.value.code == 2
    assert "did you mean wang2022.lemma_4_3" in capsys.readouterr().err


def test_an_installed_wheel_reports_the_revision_it_was_built_from(tmp_path, monkeypatch):
    """setup.py writes theorycheck/_build_info.json into the wheel; provenance reads it when the
    code does not run from a git checkout (pip install .)."""
    import json

    from theorycheck import provenance

    (tmp_path / "_build_info.json").write_text(json.dumps({"git_revision": "abc123"}))
    monkeypatch.setattr(provenance, "__file__", str(tmp_path / "provenance.py"))
    provenance.git_revision.cache_clear()
    try:
        assert provenance._checkout_revision() is None  # tmp_path's parent is no checkout
        assert provenance.git_revision() == "abc123"
        (tmp_path / "_build_info.json").write_text("{not json")
        provenance.git_revision.cache_clear()
        assert provenance.git_revision() is None
    finally:
        provenance.git_revision.cache_clear()
