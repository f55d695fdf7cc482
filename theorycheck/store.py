"""The results store: one Parquet file per (simulation, config, seed, block), written atomically.

Layout under the results directory::

    <simulation id>/<config id>-s<seed>/block-00000.parquet   raw replicates
    <simulation id>/summary.parquet                             what the report plots
    verdicts.parquet, claims.parquet                            the run's verdicts and claim texts

Every file carries provenance (package version, git revision, seed, config, numba threading
layer) in its Parquet metadata under the key ``theorycheck``, with an integrity record (checksum
of the content and identity of the file, :mod:`theorycheck.integrity`); every read verifies it
and the Parquet page checksums. Writes go to a temporary file in the same directory and are
renamed into place (:func:`theorycheck.writes.atomic_write`), so a killed run never leaves a
partial block and a rerun resumes by skipping the blocks that exist and verify; a failed write
is one line (:class:`theorycheck.writes.WriteFailed`).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from theorycheck import integrity
from theorycheck.errors import UserInputError
from theorycheck.writes import atomic_write, make_readable

__all__ = ["META_KEY", "BadFile", "ResultsStore", "make_readable"]

META_KEY = b"theorycheck"

_BLOCK_HINT = "rerun `theorycheck run` to recompute it"
_KEPT = "the blocks already finished are kept and a rerun resumes from them"


class BadFile(UserInputError):
    """A stored file failed verification (unreadable, truncated, or content or identity not
    matching its checksum). ``path`` names it; ``reason`` says why."""

    def __init__(self, message: str, path: Path, reason: str):
        super().__init__(message)
        self.path, self.reason = path, reason

    def __reduce__(self):  # picklable across worker processes
        return (type(self), (str(self), self.path, self.reason))


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 120 else text[:117] + "..."


class ResultsStore:
    """Parquet results under ``root`` (created on first write)."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)

    # -- paths -------------------------------------------------------------------------------
    def block_path(self, simulation: str, cfg_id: str, seed: int, block: int) -> Path:
        return self.root / simulation / f"{cfg_id}-s{seed}" / f"block-{block:05d}.parquet"

    def table_path(self, name: str) -> Path:
        return self.root / f"{name}.parquet"

    def has_block(self, simulation: str, cfg_id: str, seed: int, block: int) -> bool:
        return self.block_path(simulation, cfg_id, seed, block).exists()

    @staticmethod
    def block_identity(simulation: str, cfg_id: str, seed: int, block: int) -> dict:
        return {"simulation": simulation, "config_id": cfg_id, "seed": int(seed),
                "block": int(block)}  # fmt: skip

    # -- writing -----------------------------------------------------------------------------
    def check_writable(self) -> None:
        """Raise a user error if the results directory cannot be created or written."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=self.root):
                pass
        except OSError as exc:
            raise UserInputError(
                f"cannot write results to {self.root} (--out): {exc.strerror}"
            ) from None

    def _write(self, path: Path, df: pd.DataFrame, meta: dict, identity: dict) -> None:
        table = pa.Table.from_pandas(df, preserve_index=False)
        meta = json.loads(json.dumps(meta, sort_keys=True, default=str))  # as it will be read
        meta[integrity.INTEGRITY_KEY] = integrity.record(table, meta, identity)
        existing = table.schema.metadata or {}
        table = table.replace_schema_metadata(
            {**existing, META_KEY: json.dumps(meta, sort_keys=True, default=str).encode()}
        )
        atomic_write(path, lambda tmp: pq.write_table(table, tmp, write_page_checksum=True),
                     kept=_KEPT)  # fmt: skip

    def write_block(self, simulation, cfg_id, seed, block, df: pd.DataFrame, meta: dict) -> Path:
        path = self.block_path(simulation, cfg_id, seed, block)
        self._write(path, df, meta, self.block_identity(simulation, cfg_id, seed, block))
        return path

    def write_table(self, name: str, df: pd.DataFrame, meta: dict | None = None) -> Path:
        path = self.table_path(name)
        self._write(path, df, meta or {}, {"table": name})
        return path

    # -- reading -----------------------------------------------------------------------------
    def check_file(self, path: Path, identity: dict) -> tuple[pd.DataFrame | None, str | None]:
        """``(frame, None)`` if ``path`` verifies against ``identity``, else ``(None, reason)``
        (:func:`theorycheck.integrity.verify`; the Parquet page checksums are checked too)."""
        try:
            table = pq.read_table(path, page_checksum_verification=True)
            meta = json.loads((table.schema.metadata or {}).get(META_KEY, b"{}"))
            reason = integrity.verify(table, meta, identity)
        except FileNotFoundError:
            return None, "missing"
        except Exception as exc:  # unreadable: truncated, garbled, bad checksum, bad JSON
            return None, f"unreadable ({_short(exc)})"
        return (integrity.frame(table), None) if reason is None else (None, reason)

    def _read_verified(self, path: Path, identity: dict, rebuild: str) -> pd.DataFrame:
        df, reason = self.check_file(path, identity)
        if reason is not None:
            raise BadFile(f"{path} is damaged: {reason}; {rebuild}", path, reason)
        return df

    def read_block(self, simulation: str, cfg_id: str, seed: int, block: int) -> pd.DataFrame:
        """One stored block, verified (:class:`BadFile` naming it otherwise)."""
        return self._read_verified(
            self.block_path(simulation, cfg_id, seed, block),
            self.block_identity(simulation, cfg_id, seed, block),
            _BLOCK_HINT,
        )

    def read_blocks(self, simulation: str, cfg_id: str, seed: int, n_blocks: int) -> pd.DataFrame:
        frames = [self.read_block(simulation, cfg_id, seed, b) for b in range(n_blocks)]
        return pd.concat(frames, ignore_index=True)

    def block_meta(self, simulation: str, cfg_id: str, seed: int, block: int) -> dict:
        """The provenance stored with one block (config, seed, versions, measurement seconds)."""
        return self.read_meta(self.block_path(simulation, cfg_id, seed, block))

    def rebuild_hint(self, name: str) -> str:
        """The command that rebuilds the stored table ``name``."""
        sim, _, rest = name.rpartition("/")
        parts = rest.rsplit("-", 2)  # e.g. summary-quick-s0
        if sim and len(parts) == 3 and parts[2].startswith("s"):
            cmd = (f"theorycheck run {sim} --profile {parts[1]} --seed {parts[2][1:]} "
                   f"--out {self.root}")  # fmt: skip
        else:
            cmd = f"theorycheck run --out {self.root} (with the run's ids, profile and seed)"
        return f"rebuild it with `{cmd}` (verified stored blocks are reused)"

    def read_table(self, name: str) -> pd.DataFrame:
        """A stored table, verified: a bad one raises :class:`BadFile` naming the file and the
        command that rebuilds it."""
        path = self.table_path(name)
        if not path.exists():
            raise UserInputError(f"no stored {name} table under {self.root}; run `theorycheck run`")
        return self._read_verified(path, {"table": name}, self.rebuild_hint(name))

    def read_meta(self, path_or_name: str | Path) -> dict:
        path = Path(path_or_name)
        if not path.suffix:
            path = self.table_path(str(path_or_name))
        try:
            meta = pq.read_schema(path).metadata or {}
            return json.loads(meta.get(META_KEY, b"{}"))
        except FileNotFoundError:
            raise
        except Exception as exc:
            reason = f"unreadable ({_short(exc)})"
            raise BadFile(f"{path} is damaged: {reason}; {self._hint_for(path)}", path,
                          reason) from None  # fmt: skip

    def _hint_for(self, path: Path) -> str:
        if path.name.startswith("block-"):
            return _BLOCK_HINT
        try:
            name = str(path.relative_to(self.root).with_suffix(""))
        except ValueError:
            name = path.stem
        return self.rebuild_hint(name)
