"""A full disk, a file-size limit or an unwritable folder: one line saying what failed and that
the finished blocks are kept, nothing partial left behind, and a rerun resumes to the same
numbers. Temporary files of dead writers are removed at start; a live writer's are not."""

from __future__ import annotations

import errno
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from _tiny import TinySignFlips

import theorycheck.store
from theorycheck.runner import run
from theorycheck.writes import WriteFailed, remove_stale_temp_files

TESTS = Path(__file__).resolve().parent
ENV = {**os.environ, "PYTHONPATH": f"{TESTS.parent}{os.pathsep}{TESTS}"}
SEED = 6


def _cli(*args: str, fsize: int | None = None) -> subprocess.CompletedProcess:
    cap = ["--fsize", str(fsize)] if fsize is not None else []
    return subprocess.run(
        [sys.executable, str(TESTS / "_cli_tiny.py"), *cap, *args], capture_output=True,
        text=True, env=ENV, timeout=600,
    )  # fmt: skip


def _frames(root: Path) -> dict[str, pd.DataFrame]:
    return {
        str(p.relative_to(root)): pd.read_parquet(p)
        for p in sorted(root.glob("lazy-sign-flips/*/block-*.parquet"))
    }


def _temp_files(root: Path) -> list[Path]:
    return [p for p in root.rglob(".tmp-*")]


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("reference")
    run([TinySignFlips()], seed=SEED, out=root, progress=False)
    return root


def test_disk_full_after_two_blocks_keeps_them_and_a_rerun_resumes(reference, tmp_path,
                                                                    monkeypatch):  # fmt: skip
    real = theorycheck.store.pq.write_table
    calls = []

    def write_table(table, where, **kwargs):
        calls.append(where)
        if len(calls) > 2:
            Path(where).write_bytes(b"PAR1 partial")  # what a full disk leaves in the temp file
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(table, where, **kwargs)

    monkeypatch.setattr(theorycheck.store.pq, "write_table", write_table)
    root = tmp_path / "full"
    with pytest.raises(WriteFailed) as info:
        run([TinySignFlips()], seed=SEED, out=root, progress=False)
    msg = str(info.value)
    assert "\n" not in msg and "No space left on device" in msg and "kept" in msg
    assert "block-00002.parquet" in msg  # names the file it could not write
    assert len(_frames(root)) == 2 and not _temp_files(root)
    monkeypatch.setattr(theorycheck.store.pq, "write_table", real)
    resumed = run([TinySignFlips()], seed=SEED, out=root, progress=False)
    assert resumed.computed_blocks == 4 and resumed.reused_blocks == 2
    a, b = _frames(reference), _frames(root)
    assert a.keys() == b.keys()
    for key in a:
        pd.testing.assert_frame_equal(a[key], b[key], check_exact=True)


def test_a_file_size_limit_during_blocks_is_one_line_and_exit_2(tmp_path):
    root = tmp_path / "capped"
    proc = _cli(
        "run", "lazy-sign-flips", "--out", str(root), "--no-report", "--quiet", fsize=2048
    )  # fmt: skip  (a block is ~7 kB)
    err = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, proc.stderr
    assert len(err) == 1 and "File too large" in err[0] and "kept" in err[0], err
    assert str(root / "lazy-sign-flips") in err[0]
    assert not _temp_files(root)


def test_a_file_size_limit_during_the_report_is_one_line_and_exit_2(reference, tmp_path):
    root = tmp_path / "results"
    shutil.copytree(reference, root)
    from theorycheck.bounds import catalog_frame

    theorycheck.store.ResultsStore(root).write_table("claims", catalog_frame())
    # Left by a killed report: removed by the next one.
    (root / f".tmp-report-{socket.gethostname()}~{_dead_pid()}~x.pdf").write_bytes(b"%PDF")
    proc = _cli("report", "--results", str(root), fsize=20_000)  # the PDF is larger
    err = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, proc.stderr
    assert len(err) == 1 and "report.pdf" in err[0] and "File too large" in err[0], err
    assert "theorycheck report --results" in err[0]
    assert not (root / "report.pdf").exists() and not _temp_files(root)


def test_an_unwritable_simulation_folder_is_one_line_and_exit_2(tmp_path):
    root = tmp_path / "results"
    root.mkdir()
    (root / "lazy-sign-flips").write_text("a file where the simulation's folder goes")
    proc = _cli("run", "lazy-sign-flips", "--out", str(root), "--no-report", "--quiet")
    err = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, proc.stderr
    assert len(err) == 1 and "cannot write" in err[0] and "lazy-sign-flips" in err[0], err


def test_stale_temp_files_are_removed_at_start_and_live_ones_kept(reference, tmp_path):
    root = tmp_path / "results"
    shutil.copytree(reference, root)
    host = socket.gethostname()
    dead = _dead_pid()
    block_dir = next(root.glob("lazy-sign-flips/*-s6"))
    stale = [
        block_dir / f".tmp-{host}~{dead}~abc.parquet",
        root / f".tmp-{host}~{dead}~def.parquet",
        root / f".tmp-report-{host}~{dead}~ghi.pdf",
    ]
    live = [block_dir / f".tmp-{host}~{os.getppid()}~jkl.parquet",  # a live process's file
            root / ".tmp-unknown-writer.parquet"]  # fmt: skip
    for p in stale + live:
        p.write_bytes(b"partial")
    old = root / f".tmp-otherhost~{dead}~mno.parquet"
    old.write_bytes(b"partial")
    os.utime(old, (1e9, 1e9))  # 2001: any writer is long gone
    result = run([TinySignFlips()], seed=SEED, out=root, progress=False)
    assert result.reused_blocks == 6
    assert not any(p.exists() for p in [*stale, old])
    assert all(p.exists() for p in live)
    assert remove_stale_temp_files(root) == []


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid
