"""The bottom line: per paper and claim, the one line a theorist reads first (docs/theory.md,
"Verdicts": the bottom line).

Findings first: a claim refuted inside its own conditions (with the points and the evidence),
then convergence failures, conclusions that fail only outside the conditions, claims that hold at
every decided point inside, asymptotic formulas that converge, and what is undecided (with what
would settle it). Rows outside the conditions never count as refutations; descriptive rows never
count at all.
"""

from __future__ import annotations

import json
import re

import pandas as pd

__all__ = ["PAPERS", "STATUSES", "bottom_line", "format_bottom_line"]

#: Claim-id prefix -> the paper (or the project's derivations) it speaks about.
PAPERS = {
    "wang2022": "Wang, Ullah, Mianjy & Arora (2022)",
    "wang2022_training": "Wang, Ullah, Mianjy & Arora (2022)",
    "bubeck2021": "Bubeck, Cherapanamjeri, Gidel & Tachet des Combes (2021)",
    "dohmatob2022": "Dohmatob & Bietti (2022)",
    "vardi2022": "Vardi, Yehudai & Shamir (2022)",
    "schmidt2018": "Schmidt, Santurkar, Tsipras, Talwar & Madry (2018)",
    "exact": "Exact laws derived for this project (docs/derivations)",
}

#: Statuses in the order the bottom line lists them (findings first).
STATUSES = (
    "refuted inside its conditions",
    "does not converge",
    "fails only outside its conditions",
    "holds at every decided point inside its conditions",
    "converges",
    "undecided",
)

_REFUTING = {"VIOLATED", "DISAGREES", "DOES NOT CONVERGE"}
_NUMBER = re.compile(r"\d+(?:\.\d+)?(?:e[+-]?\d+)?")
_SUPPORTING = {"HOLDS", "AGREES", "CONVERGES"}


def _paper(claim: str) -> str:
    return PAPERS.get(claim.split(".", 1)[0], claim.split(".", 1)[0])


def _point(row) -> str:
    params = json.loads(row.parameters)
    keep = {k: v for k, v in params.items() if k not in ("grid", "rate_kind", "rate_tolerance")}
    return ", ".join(f"{k}={_fmt(v)}" for k, v in sorted(keep.items()))


def _fmt(v) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def bottom_line(verdicts: pd.DataFrame) -> pd.DataFrame:
    """One row per (paper, claim): ``status`` (one of :data:`STATUSES`), ``rows`` (decided rows
    behind it), ``detail`` (where and how), ordered findings first.

    A claim is refuted inside its conditions when a refuting row has conditions ``inside`` or
    ``unknown`` (a claim without conditions beyond its domain is inside everywhere).
    """
    decided = verdicts[verdicts["verdict"] != "DESCRIPTIVE"]
    if "family" in decided:  # rows about where a claim's conditions hold test nothing
        decided = decided[decided["family"] != "conditions"]
    out = []
    for claim, sub in decided.groupby("claim", sort=True):
        cond = sub["conditions"].astype(str)
        inside = sub[cond != "outside"]
        outside = sub[cond == "outside"]
        refuted = inside[inside["verdict"].isin(_REFUTING)]
        nonconv = refuted[refuted["verdict"] == "DOES NOT CONVERGE"]
        refuted = refuted[refuted["verdict"] != "DOES NOT CONVERGE"]
        # A deterministic row (an exact computation, e.g. of where a width window opens) can
        # refute a claim; it supports it only when nothing else tests the claim (an identity
        # checked exactly): next to sampled tests, it is a fact about the setting, not a test.
        family = sub["family"] if "family" in sub else pd.Series("confirmatory", sub.index)
        only_exact = bool((family == "deterministic").all())
        fam_in = family.loc[inside.index]
        supporting = inside[
            inside["verdict"].isin(_SUPPORTING) & (only_exact | (fam_in != "deterministic"))
        ]
        undecided = inside[inside["verdict"] == "INCONCLUSIVE"]
        # Exact checks left out of ``supporting`` (beside sampled tests), named so they do not
        # seem to vanish; when only exact checks test the claim, they are the supporting rows.
        exact = (
            0
            if only_exact
            else int((inside["verdict"].isin(_SUPPORTING) & (fam_in == "deterministic")).sum())
        )
        besides = (f" (and {exact} exact check{'s pass' if exact > 1 else ' passes'})"
                   if exact else "")  # fmt: skip
        if len(refuted):
            status = STATUSES[0]
            detail = _where(refuted, sub) + _listing(refuted) + _why(refuted)
        elif len(nonconv):
            status = STATUSES[1]
            detail = _listing(nonconv)
        elif outside["verdict"].isin(_REFUTING).any() and not len(undecided):
            status = STATUSES[2]
            detail = (
                f"{int(outside['verdict'].isin(_REFUTING).sum())} refutations outside, "
                f"{len(supporting)} supporting rows inside"
            )
        elif len(supporting) and not len(undecided):
            conv = (supporting["verdict"] == "CONVERGES").all()
            status = STATUSES[4] if conv else STATUSES[3]
            detail = f"{len(supporting)} rows{besides}"
        elif len(undecided) or len(supporting) == 0:
            status = STATUSES[5]
            if len(undecided):
                detail = (
                    f"{len(undecided)} undecided, {len(supporting)} supporting rows inside"
                    + besides
                )
            else:
                seen = outside["verdict"].value_counts().to_dict()
                detail = (
                    "no decided test inside its conditions"
                    + besides
                    + (
                        "; outside: " + ", ".join(f"{v} {k}" for k, v in sorted(seen.items()))
                        if seen
                        else ""
                    )
                )
            hint = _settle(undecided)
            if hint:
                detail += f"; {hint}"
        else:
            status = STATUSES[5]
            detail = f"{len(sub)} rows"
        out.append(
            {
                "paper": _paper(str(claim)),
                "claim": str(claim),
                "status": status,
                "rows": len(sub),
                "detail": detail,
            }
        )
    # Claims whose every row is a description (figure-level statements, too few replicates for
    # power, estimates that cannot decide) are undecided, and the line says why.
    described = verdicts[verdicts["verdict"] == "DESCRIPTIVE"]
    if "family" in described:
        described = described[described["family"] != "conditions"]
    for claim, sub in described.groupby("claim", sort=True):
        if claim in set(decided["claim"]):
            continue
        # The reason: the note clause most rows share, numbers aside (ties: the first to come).
        first: dict[str, str] = {}
        counts: dict[str, int] = {}
        for note in sub["note"].astype(str):
            keys = {}
            for clause in (c.strip() for c in note.split(";")):
                if clause:
                    keys.setdefault(_NUMBER.sub("#", clause), clause)
            for key, clause in keys.items():
                first.setdefault(key, clause)
                counts[key] = counts.get(key, 0) + 1
        reason = first[max(counts, key=counts.get)] if counts else ""
        out.append(
            {
                "paper": _paper(str(claim)),
                "claim": str(claim),
                "status": STATUSES[5],
                "rows": len(sub),
                "detail": f"{len(sub)} rows, all descriptive" + (f": {reason}" if reason else ""),
            }
        )
    frame = pd.DataFrame(out, columns=["paper", "claim", "status", "rows", "detail"])
    if frame.empty:
        return frame
    frame["_order"] = frame["status"].map(STATUSES.index)
    return (
        frame.sort_values(["_order", "paper", "claim"])
        .drop(columns="_order")
        .reset_index(drop=True)
    )


def _listing(rows: pd.DataFrame, limit: int = 3) -> str:
    parts = []
    for r in rows.head(limit).itertuples():
        ev = f"{r.evidence}" + (", vacuous" if bool(getattr(r, "vacuous", False)) else "")
        parts.append(f"{r.verdict} at {_point(r)} [{r.simulation}; {ev}]")
    more = f" (+{len(rows) - limit} more)" if len(rows) > limit else ""
    return "; ".join(parts) + more


def _where(refuted: pd.DataFrame, rows: pd.DataFrame) -> str:
    """ "all N at d=1: " when every refuting row shares a parameter value that the claim's other
    decided rows do not all have (where the refutation lives, e.g. Lemma 4.2 only at d = 1)."""
    params = [json.loads(p) for p in refuted["parameters"]]
    others = [json.loads(p) for p in rows.drop(index=refuted.index)["parameters"]]
    shared = []
    for key in sorted(set.intersection(*(set(p) for p in params))):
        values = {json.dumps(p[key], sort_keys=True) for p in params}
        if len(values) != 1 or key in ("grid", "rate_kind", "rate_tolerance"):
            continue
        if others and all(json.dumps(o.get(key), sort_keys=True) in values for o in others):
            continue  # every row of the claim has it: it does not say where
        shared.append(f"{key}={_fmt(params[0][key])}")
    return f"all {len(refuted)} at {', '.join(shared)}: " if shared and len(refuted) > 1 else ""


def _why(refuted: pd.DataFrame) -> str:
    """The first refuting row's evidence in its own words (its note's first clauses, at least
    60 characters of them)."""
    note = str(refuted["note"].iloc[0])
    if note in ("", "nan", "None"):
        return ""
    clauses = [c.strip() for c in note.split(";") if c.strip()]
    why = clauses[0]
    for c in clauses[1:]:
        if len(why) >= 60:
            break
        why += f"; {c}"
    return f". Why: {why}"


def _settle(undecided: pd.DataFrame) -> str:
    notes = undecided["note"].astype(str)
    settle = notes[notes.str.contains("would settle it|no counterexample|not certified")]
    if settle.empty:
        return ""
    return settle.iloc[0].split(";")[0]


def format_bottom_line(table: pd.DataFrame, family_size: int | None = None) -> str:
    """The bottom line as plain text (the console's last block)."""
    lines = ["Bottom line (findings first):"]
    for paper, sub in table.groupby("paper", sort=False):
        lines.append(f"  {paper}")
        for r in sub.itertuples():
            lines.append(f"    {r.claim}: {r.status} -- {r.detail}")
    if family_size is not None:
        lines.append(
            f"Refutations control the family-wise error at 0.05 over a Holm family of "
            f"{family_size} confirmatory rows; each HOLDS/AGREES is a per-row 95% statement "
            "with its power in the table."
        )
    return "\n".join(lines)
