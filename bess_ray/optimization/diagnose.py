"""Explain an infeasible problem in the words of its constraint families, not a solver code.

First a deletion test: drop one family of rows at a time (never the SoC physics) and keep the
families whose removal makes the problem feasible. If no single family explains it, an elastic
filter: every row gets non-negative slack costing 1 per unit and the families whose rows need
slack are reported. Either way the first offending row of a family says where in time.
"""
from __future__ import annotations

import numpy as np

from ..timegrid import iso
from .highs import new_highs, pass_model, run
from .lp import AssembledLP, CscMatrix

FAMILY_TEXT = {
    "soc_dynamics": "state-of-charge dynamics (initial SoC, efficiencies, standby loss)",
    "final_soc": "the final-SoC rule cannot be reached from the initial SoC within the horizon",
    "poi": "the POI import/export limit (below a must-run or locked commitment?)",
    "reserve_power": "a reserve commitment that the battery's power cannot deliver",
    "reserve_energy": "a reserve commitment that the stored energy cannot sustain for its full-activation duration",
    "cycle_limit": "the cycles-per-day limit",
    "locked": "locked commitments (already traded or past intervals)",
    "no_simultaneous": "the no-simultaneous-charge-and-discharge rule",
    "intraday": "the day-ahead position that intraday trades must balance",
    "limits": "the battery's time-varying limits (an outage, a derating or an SoC window of its `limits`)",
    "joint_power": "the joint charge-discharge power limit",
    "user": "the site's own `constraints` (the rows named below, added by its functions)",
}


def _feasible_without(lp: AssembledLP, family: str) -> bool:
    fam = lp.family_of_rows()
    drop = fam == family
    relaxed = AssembledLP(np.zeros_like(lp.cost), lp.col_lo, lp.col_hi, np.where(drop, -np.inf, lp.row_lo),
                          np.where(drop, np.inf, lp.row_hi), lp.a, np.zeros_like(lp.integrality),
                          lp.var_groups, lp.row_groups)
    h = new_highs()
    pass_model(h, relaxed)
    return run(h).status == "optimal"


def diagnose(lp: AssembledLP, timestamps: np.ndarray | None = None, tol: float = 1e-6) -> list[tuple[str, str]]:
    """[(family, 'where and how much')] of the constraint families that make the problem infeasible."""
    families = list(dict.fromkeys(g.family for g in lp.row_groups.values() if g.family != "soc_dynamics"))
    culprits = {f for f in families if _feasible_without(lp, f)}
    found = _elastic(lp, timestamps, tol)
    if culprits:
        named = [(f, w) for f, w in found if f in culprits]
        seen = {f for f, _ in named}
        return named + [(f, "removing these rows alone makes the problem feasible")
                        for f in families if f in culprits and f not in seen]
    return found


def _elastic(lp: AssembledLP, timestamps: np.ndarray | None, tol: float) -> list[tuple[str, str]]:
    n_row, n_col = lp.a.shape
    ramp = np.arange(n_row, dtype=np.int32)
    slack = CscMatrix(np.arange(2 * n_row + 1, dtype=np.int32), np.r_[ramp, ramp],
                      np.r_[np.ones(n_row), -np.ones(n_row)], (n_row, 2 * n_row))
    elastic = AssembledLP(
        cost=np.concatenate([np.zeros(n_col), np.ones(2 * n_row)]),
        col_lo=np.concatenate([lp.col_lo, np.zeros(2 * n_row)]),
        col_hi=np.concatenate([lp.col_hi, np.full(2 * n_row, np.inf)]),
        row_lo=lp.row_lo, row_hi=lp.row_hi,
        a=lp.a.with_columns(slack),
        integrality=np.zeros(n_col + 2 * n_row, dtype=np.uint8),
        var_groups=lp.var_groups, row_groups=lp.row_groups,
    )
    h = new_highs()
    pass_model(h, elastic)
    sol = run(h)
    if sol.x is None:  # bounds themselves conflict
        bad = np.flatnonzero(lp.col_lo > lp.col_hi + tol)
        return [("bounds", f"{bad.size} variable(s) with lower bound above upper bound")]
    slack = sol.x[n_col:n_col + n_row] + sol.x[n_col + n_row:]
    found = []
    for g in sorted(lp.row_groups.values(), key=lambda g: g.offset):
        s = slack[g.offset:g.offset + g.size]
        hit = np.flatnonzero(s > tol)
        if hit.size == 0:
            continue
        where = f"row group {g.name}, {hit.size} row(s), largest violation {s.max():.4g}"
        if timestamps is not None and g.t is not None:
            where += f", first in the interval from {iso(timestamps[g.t[hit[0] % g.t.size]])}"
        elif timestamps is not None and g.size % timestamps.size == 0 and g.size >= timestamps.size:
            where += f", first in the interval from {iso(timestamps[hit[0] % timestamps.size])}"
        found.append((g.family, where))
    return found


def explain(found: list[tuple[str, str]]) -> str:
    families = list(dict.fromkeys(f for f, _ in found))
    lines = ["the problem is infeasible: these constraints cannot all hold:"]
    for fam in families:
        lines.append(f"  - {fam}: {FAMILY_TEXT.get(fam, fam)}")
        lines.extend(f"      {w}" for f, w in found if f == fam)
    return "\n".join(lines)
