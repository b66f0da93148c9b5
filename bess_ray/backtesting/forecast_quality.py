"""How good a backtest's forecasts were: for each delivery day, the forecast that the last
decision before the day's first interval used, against the prices published later.

MAE (EUR/MWh, or EUR/MW/h for capacity), MedAPE (over intervals whose actual price is at least
1 in size, as percentages of near-zero prices say nothing), rank accuracy (the Spearman
correlation of the day's hourly means, forecast against actual, averaged over the days: whether
the hours were put in the right order, which is what a battery's schedule depends on) and, for
forecasts with intervals, their coverage.
"""
from __future__ import annotations

import numpy as np


def forecast_quality(log: list[tuple], actual: dict[str, np.ndarray], day_start: np.ndarray, timestamps: np.ndarray,
                     window: tuple[int, int], steps_per_hour: int) -> dict[str, dict]:
    """Per product: {mae, medape_pct, rank_accuracy, interval_coverage, days}."""
    from scipy.stats import spearmanr  # scipy.stats takes a second to import: only when a backtest ends
    if not log:
        return {}
    times = np.array([entry[0] for entry in log])
    out = {}
    for p in log[0][2]:
        forecast, width, covered = [], [], []
        ranks = []
        for d in range(len(day_start) - 1):
            a, b = int(day_start[d]), int(day_start[d + 1])
            if not window[0] <= a < window[1]:
                continue
            before = np.flatnonzero(times < timestamps[a])
            chosen = next((i for i in before[::-1] if log[i][1][0] <= a and log[i][1][-1] >= b - 1), None)
            if chosen is None:
                continue
            _, horizon, values, widths = log[chosen]
            sl = slice(a - int(horizon[0]), b - int(horizon[0]))
            f, y = values[p][sl], actual[p][a:b]
            forecast.append(f - y)
            covered.append(np.arange(a, b))
            if widths is not None and p in widths:
                width.append(np.abs(f - y) <= widths[p][sl])
            h = (b - a) // steps_per_hour
            if h >= 3:
                fh = f[:h * steps_per_hour].reshape(h, steps_per_hour).mean(axis=1)
                yh = y[:h * steps_per_hour].reshape(h, steps_per_hour).mean(axis=1)
                if np.ptp(fh) > 0 and np.ptp(yh) > 0:
                    ranks.append(spearmanr(fh, yh).statistic)
        if not forecast:
            continue
        err = np.concatenate(forecast)
        y = actual[p][np.concatenate(covered)]
        big = np.abs(y) >= 1.0
        out[p] = {"days": len(forecast), "mae": float(np.abs(err).mean()),
                  "medape_pct": float(np.median(np.abs(err[big]) / np.abs(y[big])) * 100) if big.any() else None,
                  "rank_accuracy": float(np.mean(ranks)) if ranks else None,
                  "interval_coverage": float(np.concatenate(width).mean()) if width else None}
    return out
