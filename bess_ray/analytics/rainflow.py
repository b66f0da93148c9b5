"""Rainflow cycle counting after ASTM E1049-85 (2017), section 5.4.4.

`cycles(series)` returns one row per counted cycle or half cycle: range, mean, count (1.0 or 0.5)
and the indices of its start and end in the series. It agrees with the `rainflow` package (which
implements the same standard) and reproduces the standard's worked example (tests).

The turning points are found with numpy; only they enter the three-point count, a plain loop over a
few thousand reversals for a year of 15-minute SoC (about 5 ms), so neither the backtests' cycle
KPIs nor the life models need a compiler.
"""
from __future__ import annotations

import numpy as np


def reversals(x: np.ndarray) -> np.ndarray:
    """Indices of the turning points of x, the first and the last point included. On a plateau the
    turning point is its last point (as in the `rainflow` package); a plateau at the start keeps
    the first point."""
    n = x.size
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    last_of_run = np.flatnonzero(np.r_[x[1:] != x[:-1], True])  # the last point of each run of equals
    last_of_run[0] = 0  # the series starts at its first point, however long it stays there
    if last_of_run.size < 3:
        return last_of_run
    rising = np.diff(x[last_of_run]) > 0
    turns = np.flatnonzero(rising[1:] != rising[:-1]) + 1
    return np.r_[last_of_run[0], last_of_run[turns], last_of_run[-1]]


def _count(x: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Three-point rainflow on the reversals; rows: range, mean, count, start index, end index."""
    values = x.tolist()
    rows: list[tuple[float, float, float, int, int]] = []
    stack: list[int] = []
    for j in idx.tolist():
        stack.append(j)
        while len(stack) >= 3:
            c, b, a = stack[-1], stack[-2], stack[-3]
            x_rng, y_rng = abs(values[c] - values[b]), abs(values[b] - values[a])
            if x_rng < y_rng:
                break
            mean = 0.5 * (values[a] + values[b])
            if len(stack) == 3:  # Y contains the starting point: a half cycle, drop the first point
                rows.append((y_rng, mean, 0.5, a, b))
                del stack[0]
            else:  # a full cycle: drop both points of Y
                rows.append((y_rng, mean, 1.0, a, b))
                del stack[-3:-1]
    for a, b in zip(stack[:-1], stack[1:]):  # what is left: half cycles
        rows.append((abs(values[b] - values[a]), 0.5 * (values[a] + values[b]), 0.5, a, b))
    return np.array(rows, dtype=np.float64).reshape(-1, 5)


def cycles(series) -> np.ndarray:
    """Rainflow cycles of a series: array (n, 5) of range, mean, count, start index, end index."""
    x = np.ascontiguousarray(series, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError("rainflow counting needs a one-dimensional series")
    if not np.all(np.isfinite(x)):
        raise ValueError("rainflow counting needs finite values")
    return _count(x, reversals(x))


def count_by_range(series) -> list[tuple[float, float]]:
    """[(range, count)] summed per distinct range, ascending: the `rainflow.count_cycles` layout."""
    c = cycles(series)
    if c.size == 0:
        return []
    ranges, inverse = np.unique(c[:, 0], return_inverse=True)
    return list(zip(ranges.tolist(), np.bincount(inverse, weights=c[:, 2]).tolist()))
