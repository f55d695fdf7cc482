"""Provenance recorded with every stored result: versions, git revision, threading, machine."""

from __future__ import annotations

import os
import platform
import subprocess
from functools import lru_cache
from importlib import metadata
from pathlib import Path

__all__ = ["git_revision", "package_version", "provenance"]


def package_version() -> str:
    try:
        return metadata.version("theorycheck")
    except metadata.PackageNotFoundError:
        return "0+unknown"


@lru_cache(maxsize=1)
def git_revision() -> str | None:
    """The git revision of the code that runs: the checkout's (a source tree or an editable
    install), else the one recorded when the installed wheel was built (setup.py), else None."""
    return _checkout_revision() or _built_revision()


def _built_revision() -> str | None:
    import json

    try:
        info = json.loads((Path(__file__).parent / "_build_info.json").read_text())
    except (OSError, ValueError):
        return None
    return info.get("git_revision") or None


def _checkout_revision() -> str | None:
    here = Path(__file__).resolve().parent.parent
    if not (here / ".git").exists():
        return None
    try:
        out = subprocess.run(
            ["git", "-C", str(here), "rev-parse", "HEAD"],
            capture_output=True, text=True, timeout=5, check=False,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    revision = out.stdout.strip() if out.returncode == 0 else ""
    if not revision:
        return None
    # A revision says what ran only if the tracked files match it.
    status = subprocess.run(
        ["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no"],
        capture_output=True, text=True, timeout=5, check=False,
    )  # fmt: skip
    if status.returncode == 0 and status.stdout.strip():
        revision += " (with uncommitted changes)"
    return revision


@lru_cache(maxsize=1)
def _machine() -> str:
    """OS, architecture, CPU model, logical CPUs and memory (Linux: /proc; elsewhere less)."""
    parts = [f"{platform.system()} {platform.machine()}"]
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            model = next((ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")),
                         None)  # fmt: skip
    except OSError:
        model = platform.processor() or None
    if model:
        parts.append(model)
    parts.append(f"{os.cpu_count()} cpus")
    try:
        parts.append(f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB")
    except (ValueError, OSError, AttributeError):
        pass
    return ", ".join(parts)


def _threading() -> dict:
    import numba

    try:
        layer = numba.threading_layer()
    except ValueError:  # no parallel kernel has run yet in this process
        layer = f"not yet chosen (config: {numba.config.THREADING_LAYER})"
    return {"numba_threading_layer": layer, "numba_threads": numba.get_num_threads()}


def provenance(**extra) -> dict:
    """Versions of the package and its dependencies, git revision, threading and machine."""
    deps = {}
    for name in ("numpy", "scipy", "numba", "pandas", "pyarrow", "matplotlib", "seaborn"):
        try:
            deps[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            deps[name] = "absent"
    return {
        "theorycheck": package_version(),
        "git_revision": git_revision(),
        "python": platform.python_version(),
        "dependencies": deps,
        "machine": _machine(),
        **_threading(),
        **extra,
    }
