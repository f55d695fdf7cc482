"""The results store: one Parquet file per (simulation, config, seed, block), written atomically.

Layout under the results directory::

    <simulation id>/<config id>-s<seed>/block-00000.parquet   raw replicates
    <simulation id>/summary.parquet                             what the report plots
    verdicts.parquet, claims.parquet                            the run's verdicts and claim texts

Every file carries provenance (package version, git revision, seed, config, numba threading
layer) in its Parquet metadata under the key ``theorycheck``. Writes go to a temporary file in
the same directory and are renamed into place, so a killed run never leaves a partial block and a
rerun resumes by skipping the blocks that exist.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from theorycheck.errors import UserInputError

__all__ = ["META_KEY", "ResultsStore", "make_readable"]

META_KEY = b"theorycheck"


def make_readable(path: str | os.PathLike) -> None:
    """Give a temporary file the permissions a plain open() would (mkstemp makes it 0600)."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)


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

    # -- writing -----------------------------------------------------------------------------
    def check_writable(self) -> None:
        """Raise a user error if the results directory cannot be created or written."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=self.root):
                pass
        except OSError as exc:
            raise UserInputError(f"cannot write results to {self.root}: {exc.strerror}") from None

    def _write(self, path: Path, df: pd.DataFrame, meta: dict) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        table = pa.Table.from_pandas(df, preserve_index=False)
        existing = table.schema.metadata or {}
        table = table.replace_schema_metadata(
            {**existing, META_KEY: json.dumps(meta, sort_keys=True, default=str).encode()}
        )
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".parquet")
        os.close(fd)
        make_readable(tmp)
        try:
            pq.write_table(table, tmp)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def write_block(self, simulation, cfg_id, seed, block, df: pd.DataFrame, meta: dict) -> Path:
        path = self.block_path(simulation, cfg_id, seed, block)
        self._write(path, df, meta)
        return path

    def write_table(self, name: str, df: pd.DataFrame, meta: dict | None = None) -> Path:
        path = self.table_path(name)
        self._write(path, df, meta or {})
        return path

    # -- reading -----------------------------------------------------------------------------
    def read_blocks(self, simulation: str, cfg_id: str, seed: int, n_blocks: int) -> pd.DataFrame:
        frames = [
            pd.read_parquet(self.block_path(simulation, cfg_id, seed, b)) for b in range(n_blocks)
        ]
        return pd.concat(frames, ignore_index=True)

    def block_meta(self, simulation: str, cfg_id: str, seed: int, block: int) -> dict:
        """The provenance stored with one block (config, seed, versions, measurement seconds)."""
        return self.read_meta(self.block_path(simulation, cfg_id, seed, block))

    def read_table(self, name: str) -> pd.DataFrame:
        path = self.table_path(name)
        if not path.exists():
            raise UserInputError(f"no stored {name} table under {self.root}; run `theorycheck run`")
        return pd.read_parquet(path)

    def read_meta(self, path_or_name: str | Path) -> dict:
        path = Path(path_or_name)
        if not path.suffix:
            path = self.table_path(str(path_or_name))
        meta = pq.read_schema(path).metadata or {}
        return json.loads(meta.get(META_KEY, b"{}"))
