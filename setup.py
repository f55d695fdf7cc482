"""Build hook: record the checkout's git revision in the installed package.

Everything else about the build is in pyproject.toml. A wheel built from a git checkout carries
``theorycheck/_build_info.json`` with the revision (and whether tracked files had uncommitted
changes), so results and reports made with an installed copy (``pip install .``) still say which
revision computed them (theorycheck.provenance.git_revision).
"""

import json
import subprocess
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent


def _git(*args: str) -> str:
    try:
        out = subprocess.run(["git", "-C", str(HERE), *args], capture_output=True, text=True,
                             timeout=10, check=False)  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.stdout.strip() if out.returncode == 0 else ""


class BuildPyWithRevision(build_py):
    def run(self):
        super().run()
        revision = _git("rev-parse", "HEAD")
        if revision and _git("status", "--porcelain", "--untracked-files=no"):
            revision += " (with uncommitted changes)"
        target = Path(self.build_lib) / "theorycheck" / "_build_info.json"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps({"git_revision": revision or None}) + "\n")


setup(cmdclass={"build_py": BuildPyWithRevision})
