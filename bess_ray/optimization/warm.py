"""One warm HiGHS instance for a series of problems of the same structure (walk-forward days).

When the constraint matrix of the next problem is the one already loaded, only costs and bounds
are handed over and HiGHS restarts from the last basis; otherwise the model is passed anew (DST
days change the block layout). `rebuilds` and `reuses` count which happened.
"""
from __future__ import annotations

import hashlib

import numpy as np

from . import highs
from .lp import AssembledLP


def _fingerprint(lp: AssembledLP) -> str:
    h = hashlib.blake2b(digest_size=16)
    for arr in (lp.a.indptr, lp.a.indices, lp.a.data, lp.integrality):
        h.update(np.ascontiguousarray(arr).tobytes())
    h.update(str(lp.a.shape).encode())
    return h.hexdigest()


class WarmSolver:
    def __init__(self, threads: int = 1) -> None:
        self.h = highs.new_highs(threads)
        self.key: str | None = None
        self.rebuilds = 0
        self.reuses = 0
        self.solve_seconds = 0.0

    def solve(self, lp: AssembledLP) -> highs.Solution:
        key = _fingerprint(lp)
        if key == self.key:
            n_col, n_row = lp.a.shape[1], lp.a.shape[0]
            cols = np.arange(n_col, dtype=np.int32)
            self.h.changeColsCost(n_col, cols, lp.cost)
            self.h.changeColsBounds(n_col, cols, lp.col_lo, lp.col_hi)
            self.h.changeRowsBounds(n_row, np.arange(n_row, dtype=np.int32), lp.row_lo, lp.row_hi)
            self.reuses += 1
        else:
            self.h.clearModel()
            highs.pass_model(self.h, lp)
            self.key = key
            self.rebuilds += 1
        sol = highs.run(self.h)
        if sol.status not in highs.DEFINITE:
            # HiGHS may stop undecided from a warm basis it cannot repair (seen on 1.13-1.16 after a
            # change of costs); from scratch the same LP solves. Same LP, same unique optimum.
            self.h.clearSolver()
            retry = highs.run(self.h)
            retry.solve_seconds += sol.solve_seconds
            sol = retry
        self.solve_seconds += sol.solve_seconds
        return sol
