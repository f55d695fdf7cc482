"""Integrity of stored files: a checksum of the content and the identity of what it holds.

Each file the store writes carries, in its Parquet metadata, an ``integrity`` record: the
SHA-256 of its content (every column's name, dtype and values, bit for bit) and its identity
(for a block: simulation, config id, seed and block index; for a table: its name). The Parquet
pages also carry CRC-32 checksums (written with ``write_page_checksum``, verified on read).
A file is used only after :func:`verify` has recomputed both and found them equal to the record:
a flipped bit, a truncated or garbled file, or a block copied under another block's name is
*bad*, never read as data. The runner recomputes a bad block (one line naming the file); a bad
table stops the reader with one line naming the file and the command that rebuilds it.

Reference: docs/user-guide.md, "When something goes wrong".
"""

from __future__ import annotations

import hashlib
import json
import sys

import numpy as np
import pandas as pd
import pyarrow as pa

__all__ = ["INTEGRITY_KEY", "blocks_to_compute", "content_digest", "record", "verify"]

#: The key of the integrity record inside the file's ``theorycheck`` metadata.
INTEGRITY_KEY = "integrity"
NO_RECORD = "no checksum recorded (written by an older theorycheck)"


def content_digest(table: pa.Table) -> str:
    """SHA-256 of a table's content as pandas reads it: column names, dtypes and values.

    Numeric and boolean columns are hashed as their raw bytes (NaN payloads and signed zeros
    included); other columns as the JSON of their values.
    """
    df = table.to_pandas()
    h = hashlib.sha256()
    h.update(json.dumps([str(c) for c in df.columns]).encode())
    for name in df.columns:
        col = df[name]
        h.update(f"\0{name}\0{col.dtype}\0{len(col)}\0".encode())
        values = col.to_numpy()
        if values.dtype.kind in "biufcmM":
            h.update(np.ascontiguousarray(values).tobytes())
        else:
            h.update(json.dumps(values.tolist(), default=repr).encode())
    return h.hexdigest()


def _digest(table: pa.Table, meta: dict, identity: dict) -> str:
    """SHA-256 of the content, the identity and the rest of the stored metadata (provenance,
    block times), so that none of what a reader uses can change unnoticed."""
    rest = {k: v for k, v in meta.items() if k != INTEGRITY_KEY}
    head = json.dumps([identity, rest], sort_keys=True, default=str)
    return hashlib.sha256((head + content_digest(table)).encode()).hexdigest()


def record(table: pa.Table, meta: dict, identity: dict) -> dict:
    """The integrity record to store with ``table`` and its metadata ``meta``."""
    return {"sha256": _digest(table, meta, identity), "identity": identity}


def verify(table: pa.Table, meta: dict, identity: dict) -> str | None:
    """Why ``table`` (read with its metadata ``meta``) is not the file for ``identity``, or None
    when its content, metadata and identity match its integrity record."""
    rec = meta.get(INTEGRITY_KEY)
    if not isinstance(rec, dict) or "sha256" not in rec:
        return NO_RECORD
    if rec.get("identity") != identity:
        return f"it holds {_describe(rec.get('identity'))}, not {_describe(identity)}"
    if _digest(table, meta, identity) != rec["sha256"]:
        return "its content does not match its checksum"
    return None


def _describe(identity) -> str:
    if not isinstance(identity, dict):
        return repr(identity)
    order = ("simulation", "config_id", "seed", "block", "table")
    keys = sorted(identity, key=lambda k: order.index(k) if k in order else len(order))
    return ", ".join(f"{k} {identity[k]}" for k in keys)


def frame(table: pa.Table) -> pd.DataFrame:
    """The verified table as a DataFrame (the same conversion the digest used)."""
    return table.to_pandas()


def blocks_to_compute(store, tasks: list) -> list:
    """The tasks whose block must be computed: not stored, or stored but failing verification
    (:meth:`theorycheck.store.ResultsStore.check_file`). Each bad block is reported on stderr in
    one line naming the file; blocks written before checksums existed are counted in one line.

    ``tasks`` have ``simulation.id``, ``cfg_id``, ``seed`` and ``block``.
    """
    todo, unchecked = [], 0
    for t in tasks:
        path = store.block_path(t.simulation.id, t.cfg_id, t.seed, t.block)
        if not path.exists():
            todo.append(t)
            continue
        identity = store.block_identity(t.simulation.id, t.cfg_id, t.seed, t.block)
        _, reason = store.check_file(path, identity)
        if reason is None:
            continue
        todo.append(t)
        if reason == NO_RECORD:
            unchecked += 1
        else:
            print(f"theorycheck: recomputing {path}: {reason}", file=sys.stderr, flush=True)
    if unchecked:
        print(f"theorycheck: recomputing {unchecked} stored block(s) under {store.root} that "
              f"carry no checksum (written by an older theorycheck)", file=sys.stderr,
              flush=True)  # fmt: skip
    return todo
