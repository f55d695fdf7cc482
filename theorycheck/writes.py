"""Atomic writes that fail with one line, and the removal of temporary files left by dead runs.

Every file theorycheck stores (blocks, tables, the report, a benchmark CSV) is written to a
temporary file in its final directory and renamed into place (:func:`atomic_write`), so a reader
sees the old file or the new one, never a partial one. An ``OSError`` on the way (disk full,
file-size limit, permissions, a read-only filesystem) becomes a :class:`WriteFailed`: one line
naming the file and the reason, saying that what was stored before is kept.

Temporary files are named ``.tmp-<kind><host>~<pid>~<random><suffix>``: a run removes at start
the ones whose writer is gone (:func:`remove_stale_temp_files`): a process of this host that no
longer exists, or any file older than a day (a writer on another host sharing the directory). A
live concurrent run's temporary files are left alone.

Reference: docs/user-guide.md, "When something goes wrong".
"""

from __future__ import annotations

import os
import re
import socket
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from theorycheck.errors import UserInputError

__all__ = [
    "TEMP_PREFIX",
    "WriteFailed",
    "atomic_write",
    "check_writable_file",
    "make_readable",
    "remove_stale_temp_files",
]

TEMP_PREFIX = ".tmp-"
STALE_AFTER_SECONDS = 24 * 3600
_HOST = socket.gethostname().replace("~", "-") or "localhost"
_TEMP_NAME = re.compile(r"\.tmp-(?:[a-z]+-)?(?P<host>[^~/]+)~(?P<pid>\d+)~")


class WriteFailed(UserInputError):
    """A file could not be written (disk full, permissions, ...): the CLI prints one line."""


def make_readable(path: str | os.PathLike) -> None:
    """Give a temporary file the permissions a plain open() would (mkstemp makes it 0600)."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)


def _reason(exc: OSError) -> str:
    return exc.strerror or " ".join(str(exc).split()) or type(exc).__name__


def _os_error(exc: BaseException | None) -> OSError | None:
    """The OSError behind ``exc``: itself, or one it was raised while handling (a writer that
    fails again while closing, e.g. matplotlib's PDF stream after ENOSPC, raises zlib.error)."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, OSError):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


def atomic_write(
    path: str | os.PathLike, write: Callable[[str], None], *, kept: str, kind: str = ""
) -> Path:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it to ``path``.

    ``kept`` says, in the error message, what stays valid when the write fails (e.g. "blocks
    already finished are kept; a rerun resumes"). ``kind`` tags the temporary file's name
    (``report`` gives ``.tmp-report-...``). Raises :class:`WriteFailed` for any ``OSError``;
    the temporary file is removed whatever goes wrong (also on an interrupt).
    """
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        prefix = f"{TEMP_PREFIX}{kind + '-' if kind else ''}{_HOST}~{os.getpid()}~"
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=prefix, suffix=path.suffix)
        os.close(fd)
        make_readable(tmp)
        write(tmp)
        os.replace(tmp, path)
        tmp = None
    except Exception as exc:
        cause = _os_error(exc)
        if cause is None:
            raise
        raise WriteFailed(f"cannot write {path}: {_reason(cause)}; {kept}") from None
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
    return path


def check_writable_file(path: str | os.PathLike, option: str) -> Path:
    """Raise a one-line error naming ``option`` unless a file can be written at ``path`` (its
    directory exists and takes a new file; ``path`` is not a directory). Call it before a long
    computation whose result goes there."""
    path = Path(path)
    if not str(path).strip():
        raise UserInputError(f"{option} must name a file, got ''")
    if path.is_dir():
        raise UserInputError(f"{option} {path} is a directory; give a file name")
    try:
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=TEMP_PREFIX):
            pass
    except OSError as exc:
        raise UserInputError(f"{option}: cannot write {path}: {_reason(exc)}") from None
    return path


def _writer_gone(name: str, age: float) -> bool:
    if age > STALE_AFTER_SECONDS:
        return True
    match = _TEMP_NAME.match(name)
    if match is None or match["host"] != _HOST:
        return False  # another host's writer, or a name this module did not make: wait a day
    pid = int(match["pid"])
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # alive, another user's
    return False


def remove_stale_temp_files(root: str | os.PathLike, depth: int = 2) -> list[Path]:
    """Remove the temporary files in ``root`` and its subdirectories down to ``depth`` levels
    (a results directory's blocks are two levels down) whose writer is gone; return them."""
    root = Path(root)
    removed: list[Path] = []
    if not root.is_dir():
        return removed
    now = time.time()
    found = (p for level in range(depth + 1) for p in root.glob("*/" * level + TEMP_PREFIX + "*"))
    for tmp in found:
        try:
            if tmp.is_file() and _writer_gone(tmp.name, now - tmp.stat().st_mtime):
                tmp.unlink()
                removed.append(tmp)
        except OSError:
            continue  # gone meanwhile, or not ours to remove: harmless either way
    return removed
