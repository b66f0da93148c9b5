"""Rainflow cycle counting after ASTM E1049-85 (2017), section 5.4.4, compiled with numba.

`cycles(series)` returns one row per counted cycle or half cycle: range, mean, count (1.0 or 0.5)
and the indices of its start and end in the series. It agrees with the `rainflow` package (which
implements the same standard) and reproduces the standard's worked example (tests). A year of
15-minute SoC (35,040 points) counts in about a millisecond once compiled.
"""
from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def _reversals(x: np.ndarray) -> np.ndarray:
    """Indices of the turning points of x, the first and the last point included. On a plateau the
    turning point is its last point (as in the `rainflow` package)."""
    n = x.size
    out = np.empty(n, dtype=np.int64)
    if n == 0:
        return out[:0]
    out[0] = 0
    m = 1
    direction = 0  # +1 rising, -1 falling
    for i in range(1, n):
        d = x[i] - x[out[m - 1]]
        if d == 0.0:
            if m > 1:
                out[m - 1] = i
            continue
        step = 1 if d > 0 else -1
        if m > 1 and step == direction:
            out[m - 1] = i  # still rising (falling): the extreme moves on
        else:
            out[m] = i
            m += 1
        direction = step
    return out[:m]


@njit(cache=True)
def _count(x: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Three-point rainflow on the reversals; rows: range, mean, count, start index, end index."""
    out = np.empty((idx.size, 5))
    k = 0
    stack = np.empty(idx.size, dtype=np.int64)
    s = 0
    for j in idx:
        stack[s] = j
        s += 1
        while s >= 3:
            x_rng = abs(x[stack[s - 1]] - x[stack[s - 2]])
            y_rng = abs(x[stack[s - 2]] - x[stack[s - 3]])
            if x_rng < y_rng:
                break
            a, b = stack[s - 3], stack[s - 2]
            if s == 3:  # Y contains the starting point: a half cycle, drop the first point
                out[k, 0], out[k, 1], out[k, 2], out[k, 3], out[k, 4] = y_rng, 0.5 * (x[a] + x[b]), 0.5, a, b
                k += 1
                stack[0], stack[1] = stack[1], stack[2]
                s = 2
            else:  # a full cycle: drop both points of Y
                out[k, 0], out[k, 1], out[k, 2], out[k, 3], out[k, 4] = y_rng, 0.5 * (x[a] + x[b]), 1.0, a, b
                k += 1
                stack[s - 3] = stack[s - 1]
                s -= 2
    for i in range(s - 1):  # what is left: half cycles
        a, b = stack[i], stack[i + 1]
        out[k, 0], out[k, 1], out[k, 2], out[k, 3], out[k, 4] = abs(x[b] - x[a]), 0.5 * (x[a] + x[b]), 0.5, a, b
        k += 1
    return out[:k]


def cycles(series) -> np.ndarray:
    """Rainflow cycles of a series: array (n, 5) of range, mean, count, start index, end index."""
    x = np.ascontiguousarray(series, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError("rainflow counting needs a one-dimensional series")
    if not np.all(np.isfinite(x)):
        raise ValueError("rainflow counting needs finite values")
    return _count(x, _reversals(x))


def count_by_range(series) -> list[tuple[float, float]]:
    """[(range, count)] summed per distinct range, ascending: the `rainflow.count_cycles` layout."""
    c = cycles(series)
    if c.size == 0:
        return []
    ranges, inverse = np.unique(c[:, 0], return_inverse=True)
    return list(zip(ranges.tolist(), np.bincount(inverse, weights=c[:, 2]).tolist()))
