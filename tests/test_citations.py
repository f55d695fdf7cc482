"""The project stands on its own: every reference in what it ships (code, docs, README, tests,
benchmarks) points to a paper or to a file in the repository (docs/design.md "Library and
plugins"); documents that do not ship are never cited.
"""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHIPPED = ("theorycheck", "bounds", "simulations", "reports", "docs", "tests", "benchmarks")
SUFFIXES = {".py", ".md", ".toml", ".txt", ".typ", ".cfg"}

#: Documents that exist only outside the repository (the private specifications, the folder of
#: source texts, the machine's work tree): citing them leaves the reader with nothing to follow.
#: The names are spelled in parts so that a search of the repository for such citations finds
#: real ones only.
_SPECS = "|".join(name.upper() for name in ("theory", "spec", "quadratic", "style"))
_WORK_TREE = "/" + "work" + "/"
OUTSIDE = re.compile(rf"\b(?:{_SPECS})\.md\b|\bpapers/\d|\.\./shared\b|{_WORK_TREE}")
#: A path into the repository's docs, e.g. docs/theory.md or docs/derivations/quadratic.md.
DOCS_PATH = re.compile(r"\bdocs/[\w./-]*\w\.(?:md|py)\b")
#: A relative Markdown link, e.g. [quadratic.md](quadratic.md).
MD_LINK = re.compile(r"\]\((?!https?:|#|mailto:)([^)\s#]+)")


def shipped_files() -> list[Path]:
    files = [REPO / "README.md", REPO / "pyproject.toml"]
    for top in SHIPPED:
        files += [p for p in (REPO / top).rglob("*") if p.is_file() and p.suffix in SUFFIXES
                  and "__pycache__" not in p.parts]  # fmt: skip
    return sorted(files)


def citation_problems(path: Path, text: str) -> list[str]:
    """Every reference in ``text`` (the content of ``path``) that a reader cannot follow."""
    problems = []
    for k, line in enumerate(text.splitlines(), 1):
        for hit in OUTSIDE.finditer(line):
            problems.append(f"{path}:{k}: cites {hit.group(0)!r}, which does not ship")
        for hit in DOCS_PATH.finditer(line):
            if not (REPO / hit.group(0)).is_file():
                problems.append(f"{path}:{k}: {hit.group(0)} does not exist")
        if path.suffix == ".md":
            for hit in MD_LINK.finditer(line):
                if not (path.parent / hit.group(1)).exists():
                    problems.append(f"{path}:{k}: link {hit.group(1)} does not resolve")
    return problems


def test_no_shipped_file_cites_a_document_outside_the_repository():
    files = shipped_files()
    assert len(files) > 100  # the walk found the project, not an empty folder
    problems = [
        p
        for f in files
        if f != Path(__file__)
        for p in citation_problems(f.relative_to(REPO), f.read_text(errors="replace"))
    ]
    assert not problems, "\n".join(problems[:40])


def test_the_check_catches_each_kind_of_bad_reference():
    """Planted references: each is flagged (so the test above could have failed)."""
    bad = {
        f"see {'theory'.upper()}.md Sec. 4": "does not ship",
        f"{'quadratic'.upper()}.md's table": "does not ship",
        f"{_WORK_TREE}notes/x.py": "does not ship",
        "the slides (papers/004)": "does not ship",
        "docs/theory2.md Sec. 1": "does not exist",
    }
    for text, needle in bad.items():
        found = citation_problems(Path("x.py"), text)
        assert len(found) == 1 and needle in found[0], (text, found)
    assert citation_problems(Path("docs/x.md"), "[q](nope.md)") != []
    good = "docs/theory.md Sec. 4; docs/derivations/quadratic.md; Wang et al. (2022), Lemma 4.3"
    assert citation_problems(Path("x.py"), good) == []
