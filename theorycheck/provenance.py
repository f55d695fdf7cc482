"""Provenance recorded with every stored result: versions, git revision, threading, machine."""

from __future__ import annotations

import os
import platform
import subprocess
from functools import lru_cache
from importlib import metadata
from pathlib import Path

__all__ = ["package_version", "provenance"]


def package_version() -> str:
    try:
        return metadata.version("theorycheck")
    except metadata.PackageNotFoundError:
        return "0+unknown"


@lru_cache(maxsize=1)
def _git_revision() -> str | None:
    here = Path(__file__).resolve().parent.parent
    try:
        out = subprocess.run(
            ["git", "-C", str(here), "rev-parse", "HEAD"],
            capture_output=True, text=True, timeout=5, check=False,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


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
        "git_revision": _git_revision(),
        "python": platform.python_version(),
        "dependencies": deps,
        "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} cpus",
        **_threading(),
        **extra,
    }
