"""HiGHS through highspy: one `passModel`, one thread per solve (parallelism comes from Ray)."""
from __future__ import annotations

import os
import sys
import threading
import time
from dataclasses import dataclass

import highspy
import numpy as np

from ..errors import SolverError
from .lp import AssembledLP


@dataclass
class Solution:
    status: str  # optimal | infeasible | unbounded | ...
    x: np.ndarray | None
    objective: float
    solve_seconds: float
    iterations: int = 0


DUAL_TOLERANCE = 1e-9


_first = threading.Lock()
_constructed = False


def _construct() -> highspy.Highs:
    """A Highs instance. The first in a process prints HiGHS's banner on standard output (1.16
    does, before any option can be set): that one is built with file descriptor 1 on /dev/null, so
    a command's output (and a pipe reading it) stays the program's own."""
    global _constructed
    if _constructed:
        return highspy.Highs()
    with _first:
        if _constructed:
            return highspy.Highs()
        sys.stdout.flush()
        saved, null = os.dup(1), os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(null, 1)
            h = highspy.Highs()
        finally:
            os.dup2(saved, 1)
            os.close(saved)
            os.close(null)
        _constructed = True
        return h


def new_highs(threads: int = 1, time_limit: float | None = None, mip_rel_gap: float = 1e-6) -> highspy.Highs:
    h = _construct()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("threads", threads)
    h.setOptionValue("mip_rel_gap", mip_rel_gap)
    # tight enough that the tie-break (optimization.blocks.TIE_BREAK_EUR_MWH) decides among equal plans
    h.setOptionValue("dual_feasibility_tolerance", DUAL_TOLERANCE)
    if time_limit:
        h.setOptionValue("time_limit", float(time_limit))
    return h


def pass_model(h: highspy.Highs, lp: AssembledLP) -> None:
    """Hand the whole model to HiGHS as numpy arrays (CSC), without per-element conversion."""
    n_row, n_col = lp.a.shape
    status = h.passModel(
        n_col, n_row, lp.a.nnz, int(highspy.MatrixFormat.kColwise), int(highspy.ObjSense.kMinimize),
        lp.objective_offset, lp.cost, lp.col_lo, lp.col_hi, lp.row_lo, lp.row_hi,
        lp.a.indptr, lp.a.indices, lp.a.data, lp.integrality.astype(np.int32),
    )
    if status == highspy.HighsStatus.kError:
        raise SolverError("HiGHS rejected the model (passModel returned an error)")


STATUS = {
    highspy.HighsModelStatus.kOptimal: "optimal",
    highspy.HighsModelStatus.kInfeasible: "infeasible",
    highspy.HighsModelStatus.kUnboundedOrInfeasible: "infeasible",
    highspy.HighsModelStatus.kUnbounded: "unbounded",
    highspy.HighsModelStatus.kTimeLimit: "time_limit",
    highspy.HighsModelStatus.kIterationLimit: "iteration_limit",
}


DEFINITE = ("optimal", "infeasible", "unbounded")


def run(h: highspy.Highs) -> Solution:
    t0 = time.perf_counter()
    h.run()
    seconds = time.perf_counter() - t0
    status = STATUS.get(h.getModelStatus(), str(h.getModelStatus()))
    x = np.asarray(h.getSolution().col_value) if status == "optimal" else None
    return Solution(status, x, h.getObjectiveValue(), seconds, int(h.getInfoValue("simplex_iteration_count")[1]))


def solve(lp: AssembledLP, threads: int = 1, time_limit: float | None = None) -> tuple[Solution, highspy.Highs]:
    """Solve once; returns the solution and the warm instance (re-solves change costs and bounds)."""
    h = new_highs(threads, time_limit)
    pass_model(h, lp)
    return run(h), h
