"""The one seeding helper.

Every random draw in theorycheck comes from a :class:`numpy.random.Generator` built here from
``(seed, *keys)`` with :class:`numpy.random.SeedSequence`. Keys are strings or integers that name
*what* is being drawn (simulation id, config id, block index, ...), never *who* draws it (thread,
worker, backend), so results are identical whatever the thread count, worker count or backend.
Kernels never draw random numbers: they receive arrays drawn here.
"""

from __future__ import annotations

import hashlib

import numpy as np

__all__ = ["generator", "key_to_int", "seed_sequence"]


def key_to_int(key: str | int) -> int:
    """A stable non-negative integer for a key (strings hashed with SHA-256, not Python's hash)."""
    if isinstance(key, bool):
        raise TypeError("a seeding key must be a str or an int, not bool")
    if isinstance(key, int):
        if key < 0:
            raise ValueError(f"integer seeding keys must be >= 0, got {key}")
        return key
    if isinstance(key, str):
        return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "little")
    raise TypeError(f"a seeding key must be a str or an int, got {type(key).__name__}")


def seed_sequence(seed: int, *keys: str | int) -> np.random.SeedSequence:
    """The SeedSequence for ``seed`` and the path of ``keys`` (order matters)."""
    return np.random.SeedSequence(entropy=int(seed), spawn_key=tuple(key_to_int(k) for k in keys))


def generator(seed: int, *keys: str | int) -> np.random.Generator:
    """A PCG64 generator for ``seed`` and ``keys``: the only way theorycheck makes one."""
    return np.random.Generator(np.random.PCG64(seed_sequence(seed, *keys)))
