"""Your own claims, checked against stored observables (docs/design.md "Library and plugins").

A claim is a :class:`theorycheck.bounds.Bound` subclass that also names the observable it speaks
about, ``observable = "<simulation id>:<column>"``: a per-replicate column of that simulation's
stored blocks (see :meth:`theorycheck.results.Results.observables`). Its parameters are read
from the observables' columns (config fields such as ``m`` and ``d``, per-row values such as
``C0``); a parameter the data do not carry (typically ``gamma``) takes each value of the claim's
``grid`` attribute, e.g. ``grid = {"gamma": (0.01, 0.1)}``.

The generic engine decides high-probability bounds (``Kind.HP_UPPER``: with probability at
least 1 - gamma, X <= B; ``Kind.HP_LOWER``: X >= B) at every grid point with the rules of
docs/theory.md Sec. 6 (:func:`theorycheck.verdicts.bound_verdict`: exact binomial test of the
exceedances, power at the family's worst-case level, DESCRIPTIVE when the stored replicates are
fewer than power needs), and Holm-adjusts the user's rows as a family of their own: the papers'
verdicts never change.

Claims come from a Python file (``theorycheck run --claims FILE``: its ``CLAIMS`` list if it has
one, else every Bound subclass it defines) or from installed packages exposing the entry-point
group ``theorycheck.claims`` (an entry point may load a Bound subclass, a Bound instance, a list
of them, or a module). ``docs/examples/my_bounds.py`` is an example.
"""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import itertools
import sys
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from theorycheck.bounds._base import Bound, Kind
from theorycheck.errors import UserInputError
from theorycheck.power import replicates_for_power
from theorycheck.verdicts import (
    apply_holm,
    bound_verdict,
    family_size,
    powered,
    verdict_frame,
    with_conditions,
)

if TYPE_CHECKING:
    from theorycheck.results import Results

__all__ = [
    "ENTRY_POINT_GROUP",
    "check_claims",
    "entry_point_claims",
    "load_claims_file",
    "resolve_claims",
]

ENTRY_POINT_GROUP = "theorycheck.claims"
_KINDS = {Kind.HP_UPPER: "upper", Kind.HP_LOWER: "lower"}
#: Config fields that set how many replicates are drawn, not where: never part of a grid point.
_SAMPLE_SIZES = frozenset({"n_blocks", "networks_per_block", "trained_per_block",
                           "searched_per_block", "mc_samples", "init_samples"})  # fmt: skip


def load_claims_file(path: str | Path) -> list[Bound]:
    """The claims defined in the Python file ``path`` (its ``CLAIMS``, else its Bound classes)."""
    path = Path(path)
    if not path.is_file():
        raise UserInputError(f"claims file {path} does not exist")
    digest = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:12]
    name = f"theorycheck_user_claims_{digest}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise UserInputError(f"claims file {path} is not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[name]
        raise UserInputError(
            f"claims file {path} failed to load: {type(exc).__name__}: {exc}"
        ) from None
    claims = _from_module(module)
    if not claims:
        raise UserInputError(f"claims file {path} defines no Bound subclass with an observable")
    return claims


def entry_point_claims() -> list[Bound]:
    """The claims installed packages expose in the entry-point group ``theorycheck.claims``."""
    claims: list[Bound] = []
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        try:
            obj = ep.load()
        except Exception as exc:
            raise UserInputError(
                f"entry point {ep.name} = {ep.value} ({ENTRY_POINT_GROUP}) failed to load: "
                f"{type(exc).__name__}: {exc}"
            ) from None
        claims.extend(_as_claims(obj, f"entry point {ep.name}"))
    return claims


def resolve_claims(claims) -> list[Bound]:
    """Claims from a file path, a Bound (class or instance), a module, or an iterable of these."""
    if claims is None:
        return []
    if isinstance(claims, str | Path):
        return load_claims_file(claims)
    if isinstance(claims, Bound | ModuleType) or inspect.isclass(claims):
        return _as_claims(claims, "claims")
    out: list[Bound] = []
    for c in claims:
        out.extend(resolve_claims(c))
    return out


def _from_module(module: ModuleType) -> list[Bound]:
    if hasattr(module, "CLAIMS"):
        return _as_claims(list(module.CLAIMS), module.__name__)
    classes = [
        obj
        for obj in vars(module).values()
        if inspect.isclass(obj)
        and issubclass(obj, Bound)
        and obj.__module__ == module.__name__
        and getattr(obj, "observable", "")
    ]
    return _as_claims(classes, module.__name__)


def _as_claims(obj, where: str) -> list[Bound]:
    if isinstance(obj, ModuleType):
        return _from_module(obj)
    if inspect.isclass(obj) and issubclass(obj, Bound):
        obj = obj()
    if isinstance(obj, Bound):
        _check_claim(obj, where)
        return [obj]
    if isinstance(obj, Iterable) and not isinstance(obj, str | bytes):
        return [c for o in obj for c in _as_claims(o, where)]
    raise UserInputError(f"{where}: {obj!r} is not a Bound subclass or instance")


def _check_claim(bound: Bound, where: str) -> None:
    """A claim must pass the bounds' conformance check and name an observable it can be
    decided on."""
    from theorycheck.bounds.conformance import check_bound

    ident = bound.id or type(bound).__name__
    obs = getattr(bound, "observable", "")
    if not isinstance(obs, str) or obs.count(":") != 1:
        raise UserInputError(
            f"{where}: claim {ident} must name its observable as "
            f"observable = '<simulation id>:<column>', got {obs!r}"
        )
    if bound.kind not in _KINDS:
        raise UserInputError(
            f"{where}: claim {ident} is a {bound.kind}; the generic engine decides "
            f"high-probability bounds ({Kind.HP_UPPER}, {Kind.HP_LOWER})"
        )
    try:
        check_bound(bound)
    except AssertionError as exc:
        lines = str(exc).strip().splitlines()
        raise UserInputError(
            f"{where}: claim {ident} fails the bound contract: {lines[-1]}"
        ) from None


def claim_simulations(claims: list[Bound]) -> list[str]:
    """The simulations the claims' observables come from, in order of first use."""
    return list(dict.fromkeys(c.observable.split(":")[0] for c in claims))


def check_claims(claims: list[Bound], results: Results, alpha: float) -> pd.DataFrame:
    """Decide every claim at every grid point of its observable; Holm over these rows only.

    Stores the verdicts as the ``user-verdicts`` table and the claims' catalogue as
    ``user-claims`` beside the papers' tables, and returns the verdict frame.
    """
    from theorycheck.results import USER_CLAIMS, USER_VERDICTS

    rows = []
    for bound in claims:
        rows.extend(_claim_rows(bound, results, alpha))
    rows = apply_holm(with_conditions(rows, _conditions_of(claims)), alpha)
    table = verdict_frame(rows)
    store = results.store
    meta = {"profile": results.profile, "seed": results.seed, "alpha": alpha,
            "family_size": family_size(rows), "claims": [c.id for c in claims]}  # fmt: skip
    store.write_table(USER_VERDICTS, table, meta)
    catalog = pd.DataFrame([{**c.describe(), "observable": c.observable} for c in claims])
    store.write_table(USER_CLAIMS, catalog.astype(str), meta)
    return table


def _claim_rows(bound: Bound, results: Results, alpha: float) -> list:
    sim, column = bound.observable.split(":")
    obs = results.observables(sim)
    if column not in obs.columns:
        raise UserInputError(
            f"claim {bound.id}: {sim} has no observable {column!r}; it has "
            f"{', '.join(c for c in obs.columns if c not in ('config_id', 'block'))}"
        )
    names = [p.name for p in bound.params]
    grid = dict(getattr(bound, "grid", {}) or {})
    from_data = [n for n in names if n in obs.columns]
    missing = [n for n in names if n not in obs.columns and n not in grid]
    if missing:
        raise UserInputError(
            f"claim {bound.id}: parameter(s) {', '.join(missing)} are not columns of {sim}'s "
            f"observables; give their values in the claim's grid, e.g. grid = "
            f"{{{missing[0]!r}: (...)}}"
        )
    side = _KINDS[bound.kind]
    # The grid point: the config fields that vary across the simulation's configs (sample
    # sizes aside), and the claim's own parameters.
    configs = [r["config"] for r in results.configs(sim)]
    varying = [k for k in configs[0] if k not in _SAMPLE_SIZES and k in obs.columns
               and len({repr(c.get(k)) for c in configs}) > 1]  # fmt: skip
    rows = []
    for _, group in obs.groupby(["config_id", *from_data], sort=True, dropna=False):
        point = {c: _plain(group[c].iloc[0]) for c in [*varying, *from_data]}
        x = group[column].to_numpy(dtype=float)
        x = x[~np.isnan(x)]  # a column only some configs measure
        if x.size == 0:
            continue
        for values in itertools.product(*(grid[n] for n in names if n not in from_data)):
            params = {**point, **dict(zip([n for n in names if n not in from_data], values,
                                          strict=True))}  # fmt: skip
            gamma = float(params.get("gamma", getattr(bound, "gamma", np.nan)))
            if not 0 < gamma < 1:
                raise UserInputError(
                    f"claim {bound.id}: a high-probability bound needs its failure probability "
                    "gamma as a parameter (or in its grid)"
                )
            B = float(bound(**{n: params[n] for n in names}))
            row = bound_verdict(bound.id, sim, params, f"{column} ({bound.observable})", x, B,
                                gamma, side, alpha)  # fmt: skip
            needed = replicates_for_power(gamma)
            rows.append(powered(row, x.size, needed))
    return rows


def _plain(v):
    return v.item() if isinstance(v, np.generic) else v


def _conditions_of(claims: list[Bound]):
    by_id = {c.id: c for c in claims}

    def conditions(claim: str, parameters: dict) -> bool | None:
        bound = by_id[claim]
        if type(bound)._conditions is Bound._conditions:
            return None
        names = [p.name for p in bound.params] + [c.name for c in bound.constants]
        try:
            return bool(bound.conditions(**{k: parameters[k] for k in names if k in parameters}))
        except (UserInputError, TypeError, ValueError, KeyError):
            return None

    return conditions
