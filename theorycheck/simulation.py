"""What a simulation is: a parameter grid per profile x a measurement function + its claims.

A simulation subclasses :class:`Simulation` (in ``simulations/``), declares its configs per
profile, and implements two hooks:

* ``measure(config, rng)`` -> one block of replicates as a tidy DataFrame (one row per replicate),
  using only the generator it is given (seeded by :mod:`theorycheck.seeding` from
  ``(seed, simulation id, config id, block)``);
* ``evaluate(data)`` -> an :class:`Evaluation`: verdict rows, a summary table and figure specs,
  computed from stored blocks only.

Configs are frozen dataclasses; :func:`config_id` is their stable hash.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from theorycheck.errors import UserInputError
from theorycheck.verdicts import VerdictRow

__all__ = [
    "OMIT_DEFAULT_FROM_ID",
    "PROFILES",
    "Evaluation",
    "FigureSpec",
    "Simulation",
    "config_dict",
    "config_id",
    "evaluate_in_memory",
    "measure_block",
    "measure_blocks",
]

PROFILES = ("quick", "full")

#: Field metadata: a config field marked so is left out of the config id while it holds its
#: default, so adding such a field (the ``data`` of :func:`theorycheck.data.data_field`) keeps
#: the ids, the seeds and the stored blocks of every config that does not change it.
OMIT_DEFAULT_FROM_ID = "omit_default_from_id"


def config_dict(config) -> dict:
    """A config's fields as a JSON-ready dict."""
    if not dataclasses.is_dataclass(config):
        raise TypeError("a simulation config must be a frozen dataclass")
    return json.loads(json.dumps(dataclasses.asdict(config), sort_keys=True, default=float))


def config_id(config) -> str:
    """Stable 12-hex-digit id of a config: SHA-256 of its class name and fields (canonical JSON),
    less the fields marked :data:`OMIT_DEFAULT_FROM_ID` that hold their default."""
    fields = config_dict(config)
    for f in dataclasses.fields(config):
        if f.metadata.get(OMIT_DEFAULT_FROM_ID) and getattr(config, f.name) == f.default:
            del fields[f.name]
    payload = json.dumps([type(config).__name__, fields], sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class FigureSpec:
    """A figure the report draws from a simulation's summary table.

    The summary rows for this figure have ``figure == name``; columns ``x``, ``estimate``,
    ``ci_low``, ``ci_high``, optional ``reference`` (exact law) and ``bound`` (paper's bound), and
    ``series`` (one line per series) and ``panel`` (one subplot per panel).
    """

    name: str
    title: str
    xlabel: str
    ylabel: str
    logx: bool = False
    logy: bool = False
    caption: str = ""
    #: Legend labels of the ``reference`` and ``bound`` columns' lines, where the generic ones
    #: are not true (a large-d limit is no exact value; a bound at a chosen free constant is not
    #: the paper's bound).
    reference_label: str = "exact value"
    bound_label: str = "paper's bound"


@dataclass(frozen=True)
class Evaluation:
    """What a simulation concludes from its stored data."""

    verdicts: list[VerdictRow]
    summary: pd.DataFrame
    figures: list[FigureSpec] = field(default_factory=list)


class Simulation:
    """Base class of every simulation in ``simulations/`` (see the module docstring).

    Attributes
    ----------
    id : stable simulation id (docs/design.md), e.g. ``lazy-sign-flips``.
    title : one line for the report.
    claims : ids of the bounds/laws in ``bounds.REGISTRY`` this simulation checks.
    limitations : what the simulation can and cannot show (printed in the report).
    max_block_factor : a power of 2; > 1 makes the simulation sequential
        (:mod:`theorycheck.sequential`): the configs of undecided rows get up to this many times
        their ``n_blocks``, in looks that double the blocks.
    paths : the computation paths (docs/user-guide.md) a user may choose with ``path=`` /
        ``--path``; empty when the simulation computes one way only. Configs then carry the path
        they use in a ``path`` field, so the results of different paths are stored apart.
    takes_data : whether the simulation trains networks on data a user may choose with
        ``data=`` / ``--data`` (:mod:`theorycheck.data`); its configs then carry a ``data``
        field, so the results of different data are stored apart.
    """

    id: str = ""
    title: str = ""
    claims: tuple[str, ...] = ()
    limitations: str = ""
    paths: tuple[str, ...] = ()
    max_block_factor: int = 1
    takes_data: bool = False

    def configs(self, profile: str, path: str | None = None, data: str | None = None) -> list:
        """The grid of configs for ``profile`` (quick or full), computed with ``path`` where the
        config supports it (see :meth:`supports_path`), else with the config's default path, and
        trained on ``data`` (a value of :func:`theorycheck.data.resolve_data`) where the config
        uses data (see :meth:`uses_data`)."""
        if profile not in PROFILES:
            raise UserInputError(f"profile must be one of {', '.join(PROFILES)}; got {profile!r}")
        configs = list(self._configs(profile))
        if path is not None:
            if path not in self.paths:
                offered = (
                    f"offers paths {', '.join(self.paths)}" if self.paths else "offers no path"
                )
                raise UserInputError(f"simulation {self.id} {offered}; got path {path!r}")
            configs = [
                dataclasses.replace(c, path=path) if self.supports_path(c, path) else c
                for c in configs
            ]
        if data is not None:
            if not self.takes_data:
                raise UserInputError(f"simulation {self.id} trains no network on a task, so "
                                     f"--data {data!r} does not apply to it")  # fmt: skip
            from theorycheck.data import resolve_data

            # A file's value carries its content hash, so the config id changes with the file.
            data = resolve_data(data)
            configs = [self._with_data(c, data) if self.uses_data(c) else c for c in configs]
        return configs

    def _with_data(self, config, data: str):
        config = dataclasses.replace(config, data=data)
        self.check_data(config)
        return config

    def uses_data(self, config) -> bool:
        """Whether ``config`` trains on (or tests with) the ``data`` a user chooses. Default:
        configs with a ``data`` field of a simulation that :attr:`takes_data`."""
        return self.takes_data and any(f.name == "data" for f in dataclasses.fields(config))

    def check_data(self, config) -> None:
        """Raise a :class:`UserInputError` (one line) if ``config.data`` cannot serve
        ``config`` (e.g. too few examples, or features of another dimension)."""
        from theorycheck.data import check_data

        check_data(config.data, config.d)

    def supports_path(self, config, path: str) -> bool:
        """Whether ``config`` can be computed with ``path`` (e.g. the exact laws are for relu
        without biases only). Default: every path of :attr:`paths`, for configs with a ``path``
        field."""
        return path in self.paths and any(f.name == "path" for f in dataclasses.fields(config))

    def blocks(self, config) -> int:
        """How many replicate blocks to run for ``config`` (each is one task): the config's
        ``n_blocks`` field, 1 if it has none."""
        return int(getattr(config, "n_blocks", 1))

    # -- hooks -------------------------------------------------------------------------------
    def _configs(self, profile: str):
        raise NotImplementedError

    def measure(self, config, rng: np.random.Generator) -> pd.DataFrame:
        raise NotImplementedError

    def evaluate(self, data: dict) -> Evaluation:
        """``data`` maps each config of the profile to the concatenation of its blocks."""
        raise NotImplementedError


def measure_block(sim: Simulation, config, seed: int, block: int) -> pd.DataFrame:
    """One block of ``config`` exactly as the runner stores it: measured with the block's own
    generator (:func:`theorycheck.seeding.generator`), with a leading ``block`` column."""
    from theorycheck.seeding import generator

    df = sim.measure(config, generator(seed, sim.id, config_id(config), block))
    df.insert(0, "block", block)
    return df


def measure_blocks(sim: Simulation, config, seed: int = 0, blocks: int | None = None):
    """The first ``blocks`` blocks of ``config`` (default :meth:`Simulation.blocks`),
    concatenated as the runner reads them back."""
    n = sim.blocks(config) if blocks is None else blocks
    return pd.concat([measure_block(sim, config, seed, b) for b in range(n)], ignore_index=True)


def evaluate_in_memory(
    sim: Simulation, configs, seed: int = 0, blocks: int | None = None
) -> tuple[dict, Evaluation]:
    """Measure every block of ``configs`` in memory and evaluate: the runner without a store.

    For tests and notebooks; returns ``({config: blocks}, evaluation)``.
    """
    data = {cfg: measure_blocks(sim, cfg, seed, blocks) for cfg in configs}
    return data, sim.evaluate(data)
