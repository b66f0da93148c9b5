"""Long windows solved exactly by weeks: the one LP's optimum, 2-5x faster.

HiGHS's dual simplex time grows faster than the window: a three-battery year at 15 minutes (600k
rows) takes about a minute as one LP, while its 52 weeks take a quarter of a second each. So:

1. **Weeks**: each week on its own, at full resolution, from a neutral SoC (midway between the SoC
   limits) to the same at its end; consecutive weeks restart HiGHS from the last week's basis, and
   with `threads` > 1 runs of weeks are solved side by side (HiGHS releases the GIL).
2. **Join**: the weeks' LPs side by side, with each week's end-SoC row turned into a link (the next
   week starts where this one ends) and the boundary SoCs freed, *is* the whole window's LP. The
   weeks' optimal bases together are a basis of it, optimal but at the boundaries, so HiGHS's
   simplex finishes from there in a fraction of the iterations of a cold start.

The answer is the whole LP's optimum with HiGHS's own optimality status, not an approximation: the
neutral boundaries only decide where the simplex starts (a coarse hourly solve to place them
better cost more time than it saved).
"""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import highspy
import numpy as np

from ..markets import get_zone
from . import highs
from .blocks import Calendar, Formulation, build
from .lp import AssembledLP, CscMatrix
from .warm import WarmSolver

STAGE_DAYS = 7
MIN_STAGES = 4  # two weeks solve as fast as one LP (0.77 s vs 0.74 s for the portfolio); four, 25 % faster


@dataclass
class Staged:
    """The solution of the whole window's LP, on its formulation's columns."""

    solution: highs.Solution
    stages: int
    build_seconds: float  # building, assembling and joining the LPs, summed
    solve_seconds: float  # HiGHS time: every week and the join, summed


@dataclass
class _Stage:
    """A solved week. It keeps its column handles but not its formulation, and hands its LP to the
    join once (`lp` is then None): a year of weeks would otherwise hold the whole LP twice more."""

    start: int  # first interval
    stop: int
    cols: dict[str, np.ndarray]  # charge, discharge, soc and reserve_<product> column handles
    soc_start: np.ndarray
    end_rows: np.ndarray  # the end-SoC rows
    lp: AssembledLP | None
    x: np.ndarray
    col_status: list  # HiGHS's optimal basis
    row_status: list
    start_value: np.ndarray  # reduced cost of the fixed start SoC: what a MWh more there is worth
    build_seconds: float
    solve_seconds: float
    iterations: int


# what a problem of batteries and markets is made of: locks, intraday trades, generation and
# binaries add other columns or rows, which the weeks do not split
PLAIN_COLUMNS = {"charge", "discharge", "soc", "soc_start"}
PLAIN_ROWS = {"soc_dynamics", "final_soc", "cycle_limit", "reserve_power", "reserve_energy", "poi", "limits",
              "joint_power"}


def stageable(f: Formulation) -> bool:
    """Batteries and markets only, and at least MIN_STAGES weeks long."""
    columns = set(f.lp.var_groups) == PLAIN_COLUMNS | {f"reserve_{p}" for p in f.reserve}
    rows = {g.family for g in f.lp.row_groups.values()} <= PLAIN_ROWS
    return columns and rows and f.market.grid.periods * f.market.grid.dt_hours >= MIN_STAGES * STAGE_DAYS * 24


def solve_staged(f: Formulation, threads: int = 1) -> Staged | None:
    """Solve the (built, not yet assembled) formulation `f` by weeks joined into the whole LP.
    None when a week is not optimal: the caller then solves the one LP, which explains an
    infeasibility."""
    grid = f.market.grid
    days = grid.local_days(get_zone(f.site.zone).timezone)
    calendar = Calendar(f.block_of, days)
    midway = f.site.fleet.midway_mwh

    def weeks(edges: np.ndarray) -> list[_Stage | None]:
        """Consecutive weeks, each started from the last one's basis (30 % less HiGHS time than cold)."""
        solver, out = WarmSolver(), []
        for a, b in zip(edges[:-1].tolist(), edges[1:].tolist()):
            week = build(f.site, f.market.window(a, b), f.products, calendar=calendar.window(a, b),
                         initial_mwh=None if a == 0 else midway, final_mwh=None if b == grid.periods else midway)
            out.append(_solve(week, a, b, solver))
        return out

    edges = _edges(f, days)
    if edges.size - 1 < MIN_STAGES:  # the bid blocks leave too few midnights to cut at
        return None
    cut = np.linspace(0, edges.size - 1, min(threads, edges.size - 1) + 1).round().astype(int)
    runs = [edges[i:j + 1] for i, j in zip(cut[:-1], cut[1:])]  # one run of consecutive weeks per thread
    if len(runs) > 1:
        with ThreadPoolExecutor(len(runs)) as pool:
            stages = [s for run in pool.map(weeks, runs) for s in run]
    else:
        stages = weeks(edges)
    if any(s is None for s in stages):
        return None

    t0 = time.perf_counter()
    h, col_offset = _join(f, stages)
    if h is None:
        return None
    join_seconds = time.perf_counter() - t0
    sol = highs.run(h)
    x = None
    if sol.x is not None:
        x = np.zeros(f.lp.num_col)
        for s, offset in zip(stages, col_offset):
            _place(f, s, sol.x[offset:], x)
        x[f.soc_start] = stages[0].x[stages[0].soc_start]
    return Staged(highs.Solution(sol.status, x, sol.objective, sol.solve_seconds,
                                 sol.iterations + sum(s.iterations for s in stages)),
                  len(stages), join_seconds + sum(s.build_seconds for s in stages),
                  sol.solve_seconds + sum(s.solve_seconds for s in stages))


def _edges(f: Formulation, days: np.ndarray) -> np.ndarray:
    """Week boundaries: every STAGE_DAYS-th local midnight that also starts a bid block of every
    product (no block or cycle-limit day is split); no short last week."""
    T = days.size
    t = np.flatnonzero(np.diff(days) != 0) + 1
    ok = np.ones(t.size, bool)
    for blocks in f.block_of.values():
        ok &= blocks[t] != blocks[t - 1]
    cuts = t[ok][STAGE_DAYS - 1::STAGE_DAYS]
    if cuts.size and T - cuts[-1] < round(24 / f.market.grid.dt_hours) * STAGE_DAYS // 2:
        cuts = cuts[:-1]
    return np.r_[0, cuts, T]


def _solve(f: Formulation, start: int, stop: int, solver: WarmSolver) -> _Stage | None:
    t0 = time.perf_counter()
    lp = f.lp.assemble()
    sol = solver.solve(lp)
    if sol.status != "optimal":
        return None
    basis = solver.h.getBasis()
    start_value = np.asarray(solver.h.getSolution().col_dual)[f.soc_start]
    cols = {"charge": f.charge, "discharge": f.discharge, "soc": f.soc,
            **{f"reserve_{p}": c for p, c in f.reserve.items()}}
    end_rows = lp.row_groups["final_soc"].offset + np.arange(len(f.batteries))
    return _Stage(start, stop, cols, f.soc_start, end_rows, lp, sol.x, basis.col_status, basis.row_status,
                  start_value, time.perf_counter() - t0 - sol.solve_seconds, sol.solve_seconds, sol.iterations)


def _join(f: Formulation, stages: list[_Stage]) -> tuple[highspy.Highs | None, np.ndarray]:
    """The whole window's LP as the stages side by side, linked, with their bases as its start."""
    lps = [s.lp for s in stages]
    for s in stages:
        s.lp = None  # from here on only `lps` holds them, and only until their arrays are joined
    n_rows = np.cumsum([0] + [lp.a.shape[0] for lp in lps])
    n_cols = np.cumsum([0] + [lp.a.shape[1] for lp in lps])
    n_nz = np.cumsum([0] + [lp.a.nnz for lp in lps])
    indptr = np.concatenate([lp.a.indptr[:-1] + off for lp, off in zip(lps, n_nz)] + [n_nz[-1:]])
    indices = np.concatenate([lp.a.indices + off for lp, off in zip(lps, n_rows)])
    data = np.concatenate([lp.a.data for lp in lps])
    cost, col_lo, col_hi, row_lo, row_hi = (np.concatenate([getattr(lp, name) for lp in lps])
                                            for name in ("cost", "col_lo", "col_hi", "row_lo", "row_hi"))
    col_status = [v for s in stages for v in s.col_status]
    row_status = [v for s in stages for v in s.row_status]

    soc_lo, soc_hi = f.site.fleet.min_mwh, f.site.fleet.max_mwh
    link_rows, link_cols = [], []
    for i, (this, after) in enumerate(zip(stages[:-1], stages[1:])):
        end_rows = n_rows[i] + this.end_rows
        starts = n_cols[i + 1] + after.soc_start
        row_lo[end_rows] = row_hi[end_rows] = 0.0  # soc_end - soc_start(next week) = 0
        col_lo[starts], col_hi[starts] = soc_lo, soc_hi  # the boundary SoC is free again
        link_rows.append(end_rows)
        link_cols.append(starts)
        # the fixed start was nonbasic; freed, it sits at the bound that keeps it dual feasible
        for c, v in zip(starts.tolist(), after.start_value.tolist()):
            col_status[c] = highspy.HighsBasisStatus.kLower if v >= 0 else highspy.HighsBasisStatus.kUpper

    # the link entry (-1 in the end row) goes first in the next week's start column: rows stay sorted
    link_rows, link_cols = np.concatenate(link_rows), np.concatenate(link_cols)
    at = indptr[link_cols]
    indices, data = np.insert(indices, at, link_rows), np.insert(data, at, -1.0)
    indptr = indptr + np.searchsorted(link_cols, np.arange(indptr.size), side="left")
    n_col, n_row = int(n_cols[-1]), int(n_rows[-1])
    a = CscMatrix(indptr.astype(np.int32), indices.astype(np.int32), data, (n_row, n_col))
    joined = AssembledLP(cost, col_lo, col_hi, row_lo, row_hi, a, np.zeros(n_col, dtype=np.uint8), {}, {})
    del lps, indptr, indices, data
    h = highs.new_highs()
    highs.pass_model(h, joined)
    basis = highspy.HighsBasis()
    basis.col_status, basis.row_status = col_status, row_status
    basis.valid = True
    if h.setBasis(basis) == highspy.HighsStatus.kError:
        return None, n_cols[:-1]  # not a basis HiGHS can start from: the caller solves the one LP
    return h, n_cols[:-1]


def _place(f: Formulation, s: _Stage, xs: np.ndarray, x: np.ndarray) -> None:
    """Copy a stage's values into the whole window's columns."""
    a, b = s.start, s.stop
    for name in ("charge", "discharge", "soc"):
        x[getattr(f, name)[:, a:b]] = xs[s.cols[name]]
    for p, cols in f.reserve.items():
        first, last = f.block_of[p][a], f.block_of[p][b - 1]
        x[cols[:, first:last + 1]] = xs[s.cols[f"reserve_{p}"]]
