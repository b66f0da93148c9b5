"""Persistence: tomorrow looks like the same interval a day (or a week) before (24 h x lag earlier).

`lags_days` with `weights` blends several lags, for example D-1 and D-7 half each. When the
interval `lag` days back is not yet published at the decision time (look-ahead beyond day D), the
same clock time one more day back is used, and so on: never a value that was not visible.
"""
from __future__ import annotations

import numpy as np

from .base import ForecastError, VisibleHistory


class Persistence:
    oracle = False

    def __init__(self, lags_days: list[int] | int = 1, weights: list[float] | None = None) -> None:
        self.lags = [lags_days] if isinstance(lags_days, int) else list(lags_days)
        if not self.lags or any(int(k) < 1 for k in self.lags):
            raise ForecastError("forecast.lags_days: whole days >= 1")
        w = np.asarray(weights if weights is not None else [1.0] * len(self.lags), dtype=float)
        if w.size != len(self.lags) or np.any(w < 0) or w.sum() <= 0:
            raise ForecastError("forecast.weights: one non-negative weight per lag, not all zero")
        self.weights = w / w.sum()
        self.name = "persistence " + " + ".join(f"{wt:.2g} x D-{k}" for k, wt in zip(self.lags, self.weights))
        self.steps_per_day: int | None = None  # set by the engine from the grid resolution

    def forecast(self, view: VisibleHistory, targets: np.ndarray, products) -> dict[str, np.ndarray]:
        day = self.steps_per_day
        out = {}
        for p in products:
            known = view.known[p]
            values = view.values(p)
            blend = np.zeros(targets.size)
            for lag, w in zip(self.lags, self.weights):
                src = targets - lag * day
                late = src >= known  # not published yet: step back whole days until it is
                if late.any():
                    src[late] -= ((src[late] - known) // day + 1) * day
                if (src < 0).any():
                    raise ForecastError(f"persistence D-{lag} needs {int(-src.min())} more intervals of history "
                                        f"before the backtest window for {p}")
                blend += w * values[src]
            out[p] = blend
        return out
