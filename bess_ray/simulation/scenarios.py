"""Multi-year prices on one grid: price scenarios.

A scenario year is either a real base year re-stamped onto it by whole weeks (weekdays stay
weekdays) with the level escalated by (1 + escalation)^k and the spread around that year's mean
scaled by volatility_scale x (1 + volatility_growth)^k (k = years after the first), or the user's
own files for that year. The grid also covers the history a persistence forecast needs before the
first year and the look-ahead after the last.
"""
from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import polars as pl

from ..data.market import MarketPrices, align_frames, product_series
from ..data.series import Series
from ..data.transforms import restamp_year
from ..errors import DataError
from ..markets import get_zone
from ..timegrid import TimeGrid, local_midnight_utc
from .config import PriceScenario

HISTORY_DAYS = 8  # the longest default persistence lag (7 days) and a day


def _local_year_bounds(year: int, tz: str) -> tuple[np.datetime64, np.datetime64]:
    return local_midnight_utc(date(year, 1, 1), tz), local_midnight_utc(date(year + 1, 1, 1), tz)


def simulation_grid(years: list[int], tz: str, resolution: str, lookahead_h: float,
                    history_days: int = HISTORY_DAYS) -> tuple[TimeGrid, list[tuple[int, int]]]:
    """The grid from the history before the first year to the look-ahead after the last, and the
    (start, stop) interval indices of each simulated year (local calendar years)."""
    first, _ = _local_year_bounds(years[0], tz)
    _, last = _local_year_bounds(years[-1], tz)
    start = first - np.timedelta64(history_days, "D")
    end = last + np.timedelta64(int(np.ceil(lookahead_h)) + 24, "h")
    grid = TimeGrid.from_range(start, end, resolution)
    ts = grid.timestamps
    spans = []
    for y in years:
        a, b = _local_year_bounds(y, tz)
        spans.append((int(np.searchsorted(ts, a)), int(np.searchsorted(ts, b))))
    return grid, spans


def _scenario_year(series: Series, column: str, year: int, sc: PriceScenario, growth: float,
                   first_year: int, tz: str) -> pl.DataFrame:
    """The base year on `year`: level escalated, spread around the year's mean scaled."""
    f = restamp_year(series.frame.select("timestamp", "end", column), year, sc.base_year, tz)
    k = year - first_year
    mean = f[column].mean()
    scale = sc.volatility_scale * (1.0 + sc.volatility_growth) ** k
    return f.with_columns(((mean + scale * (pl.col(column) - mean)) * (1.0 + growth) ** k).alias(column))


def scenario_prices(scenario: PriceScenario, zone: str, products: tuple[str, ...], sim_years: list[int],
                    grid: TimeGrid, base_dir: Path | None = None) -> MarketPrices:
    """Every product's prices on the grid, year by year per the scenario."""
    tz = get_zone(zone).timezone
    edge_years = [sim_years[0] - 1, *sim_years, sim_years[-1] + 1]  # history and look-ahead
    base = product_series(zone, products, scenario.day_ahead, scenario.reserves, base_dir=base_dir) \
        if scenario.day_ahead is not None else {}
    own = {y: product_series(zone, products, py.day_ahead, py.reserves, base_dir=base_dir)
           for y, py in scenario.per_year.items()}
    prices, sources = {}, {}
    for p in products:
        growth = scenario.energy_escalation if p == "da" else scenario.capacity_escalation
        have = [y for y in own if p in own[y]]
        frames = []
        for y in edge_years:
            if y in have:  # the user's own year, as given
                frames.append(restamp_year(own[y][p].frame.select("timestamp", "end", p), y, None, tz))
            elif p in base:
                frames.append(_scenario_year(base[p], p, y, scenario, growth, sim_years[0], tz))
            elif y in sim_years:
                raise DataError(f"{'prices' if base else 'prices.per_year'}: no {p} prices for {y}")
            elif have:  # history / look-ahead from the nearest own year
                near = min(have, key=lambda z: abs(z - y))
                frames.append(restamp_year(own[near][p].frame.select("timestamp", "end", p), y, None, tz))
        if not frames:
            raise DataError(f"prices: no source for {p}")
        like = base[p] if p in base else own[have[0]][p]
        prices[p] = align_frames(frames, like, p, grid)
        sources[p] = like.source + (" (scenario)" if p in base else "")
    return MarketPrices(grid, prices, sources)
