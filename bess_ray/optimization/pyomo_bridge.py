"""The Pyomo bridge: the same assembled LP as a Pyomo model with named, indexed components.

Variables keep their group names and axes (`m.charge[asset, t]`, `m.soc[asset, t]`,
`m.reserve_fcr[asset, block]`), row groups become constraints of the same names and axes
(`m.soc_balance[asset, t]`, `m.poi_export[t]`, `m.final_soc[asset]`; a per-battery group such as
`joint_power[b1]` becomes `m.joint_power_b1[t]`, rows over some intervals are indexed by them). A user hook
`hook(m)` may add constraints or variables before the solve; the model is then solved by HiGHS
through Pyomo (or any Pyomo solver). This is the extension path, not the hot path: building a year
through Pyomo costs seconds where the direct path costs milliseconds.
"""
from __future__ import annotations

import time
from typing import Callable

import numpy as np

from .highs import Solution
from .lp import AssembledLP


def _index(group, asset_ids: list[str]):
    """The keys of a variable or row group, in its C order: asset ids on the asset axis."""
    axes = [asset_ids if ax == "asset" else range(n) for ax, n in zip(group.axes, group.shape)]
    if len(axes) == 1:
        return list(axes[0])
    import itertools

    return list(itertools.product(*axes))


def to_pyomo(lp: AssembledLP, asset_ids: list[str]):
    """Render the LP into a `pyomo.environ.ConcreteModel`."""
    import pyomo.environ as pyo
    from pyomo.core.expr.numeric_expr import LinearExpression

    m = pyo.ConcreteModel(name="bess_ray")
    flat = []  # column -> pyomo variable
    for g in sorted(lp.var_groups.values(), key=lambda g: g.offset):
        idx = _index(g, asset_ids)
        lo = lp.col_lo[g.offset:g.offset + g.size]
        hi = lp.col_hi[g.offset:g.offset + g.size]
        bounds = {k: (None if not np.isfinite(a) else float(a), None if not np.isfinite(b) else float(b))
                  for k, a, b in zip(idx, lo, hi)}
        var = pyo.Var(idx, domain=pyo.Integers if g.integer else pyo.Reals, bounds=lambda m, *k, b=bounds: b[k if len(k) > 1 else k[0]])
        setattr(m, g.name, var)
        flat.extend(var[k] for k in idx)

    nz = np.flatnonzero(lp.cost)
    m.objective = pyo.Objective(
        expr=LinearExpression(constant=lp.objective_offset, linear_coefs=lp.cost[nz].tolist(),
                              linear_vars=[flat[j] for j in nz]), sense=pyo.minimize)

    indptr, indices, data = lp.a.row_lists()
    for g in sorted(lp.row_groups.values(), key=lambda g: g.offset):
        keys = _row_keys(g, asset_ids)
        row_of = {k: g.offset + i for i, k in enumerate(keys)}

        def rule(m, *key, row_of=row_of):
            r = row_of[key if len(key) > 1 else key[0]]
            s, e = indptr[r], indptr[r + 1]
            expr = LinearExpression(constant=0.0, linear_coefs=data[s:e].tolist(),
                                    linear_vars=[flat[j] for j in indices[s:e]])
            lo, hi = lp.row_lo[r], lp.row_hi[r]
            if not (np.isfinite(lo) or np.isfinite(hi)):
                return pyo.Constraint.Skip  # a free row (e.g. final_soc: free)
            if lo == hi:
                return expr == float(lo)
            return (float(lo) if np.isfinite(lo) else None, expr, float(hi) if np.isfinite(hi) else None)

        setattr(m, _component_name(g.name), pyo.Constraint(keys, rule=rule))
    m._bess_flat_vars = flat
    return m


def _row_keys(group, asset_ids: list[str]) -> list:
    if group.axes:
        return _index(group, asset_ids)
    if group.t is not None and np.unique(group.t).size == group.size:
        return [int(t) for t in group.t]  # rows over some intervals: keyed by the interval
    return list(range(group.size))


def _component_name(name: str) -> str:
    return name.replace("[", "_").replace("]", "").replace("-", "_").replace(".", "_")


def solve_pyomo(lp: AssembledLP, asset_ids: list[str], hook: Callable | None = None,
                solver: str = "appsi_highs", threads: int = 1) -> tuple[Solution, object]:
    """Build, apply the user hook, solve; returns the solution in the direct path's column order."""
    import pyomo.environ as pyo

    m = to_pyomo(lp, asset_ids)
    m._bess_hook_rows = []
    if hook is not None:
        before = {c.name for c in m.component_objects(pyo.Constraint)}
        hook(m)
        # what the hook added, to name it when the problem turns infeasible
        m._bess_hook_rows = sorted({c.name for c in m.component_objects(pyo.Constraint)} - before)
    opt = pyo.SolverFactory(solver)
    if solver == "appsi_highs":
        opt.highs_options = {"threads": threads}
    t0 = time.perf_counter()
    res = opt.solve(m, load_solutions=False)
    seconds = time.perf_counter() - t0
    term = str(res.solver.termination_condition)
    if term != "optimal":
        status = "infeasible" if "infeasible" in term.lower() else term
        return Solution(status, None, float("nan"), seconds), m
    m.solutions.load_from(res)
    x = np.array([v.value if v.value is not None else 0.0 for v in m._bess_flat_vars])
    return Solution("optimal", x, float(pyo.value(m.objective)), seconds), m
