"""What the papers claim: closed-form bounds and exact laws, one module per paper, and a registry.

``REGISTRY`` maps a stable id (``<paper>.<statement>``) to a :class:`bounds._base.Bound`.
Add a bound by writing its class in the paper's module and listing it in that module's tuple.
"""

from __future__ import annotations

import pandas as pd

from theorycheck.bounds import (
    bubeck2021,
    dohmatob2022,
    exact_laws,
    schmidt2018,
    vardi2022,
    wang2022,
    wang2022_training,
)
from theorycheck.bounds._base import Bound, Constant, ExactLaw, Kind, Param
from theorycheck.errors import UserInputError

__all__ = [
    "REGISTRY",
    "Bound",
    "Constant",
    "ExactLaw",
    "Kind",
    "Param",
    "catalog_frame",
    "get_bound",
]

REGISTRY: dict[str, Bound] = {
    b.id: b
    for b in (
        *wang2022.BOUNDS,
        *bubeck2021.BOUNDS,
        *exact_laws.LAWS,
        *dohmatob2022.BOUNDS,
        *schmidt2018.BOUNDS,
        *vardi2022.BOUNDS,
        *wang2022_training.BOUNDS,
    )
}


def get_bound(bound_id: str) -> Bound:
    """The registered bound ``bound_id``; raises a one-line error listing close ids."""
    try:
        return REGISTRY[bound_id]
    except KeyError:
        import difflib

        close = difflib.get_close_matches(bound_id, REGISTRY, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else "; see `theorycheck bounds`"
        raise UserInputError(f"unknown bound {bound_id!r}{hint}") from None


def catalog_frame(ids: list[str] | None = None) -> pd.DataFrame:
    """The catalog (id, citation, statement, kind, parameters, constants, conditions, derived)
    of the bounds ``ids`` (all when None), as printed by ``theorycheck bounds`` and stored with
    every run for the report."""
    chosen = [get_bound(i) for i in ids] if ids is not None else list(REGISTRY.values())
    return pd.DataFrame([b.describe() for b in chosen])
