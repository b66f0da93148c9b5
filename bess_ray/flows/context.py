"""What a flow run sees: its site, its delivery day (local, 23, 24 or 25 hours), the time of its
clock, the prices in the store as they were published by then, and the outputs of earlier runs for
the same day. Nothing here reads the wall clock or a file: a run's inputs are its context.

Prices live in the store as data points `market/{zone}/{product}` (EUR/MWh, or EUR/MW/h for
capacity), on a 15-minute grid, written by the data-update flow. A day's prices count as visible
from their gate plus the publication delay (`markets.gates`), so a run at D-1 11:30 sees every
earlier day's day-ahead prices and none of day D's, whatever the store already holds.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

from ..config import Site
from ..markets import PRODUCTS, get_zone
from ..markets.gates import DEFAULT_GATES, PUBLICATION_DELAY, gates_for
from ..timegrid import TimeGrid, local_midnight_utc
from .registry import FlowError

RESOLUTION_MIN = 15


def price_point(zone: str, product: str) -> str:
    return f"market/{zone.lower()}/{product}"


def day_grid(delivery: date, tz: str) -> TimeGrid:
    """The local delivery day on the 15-minute grid (92, 96 or 100 intervals)."""
    start = local_midnight_utc(delivery, tz)
    end = local_midnight_utc(delivery + timedelta(days=1), tz)
    return TimeGrid(start, int((end - start) // np.timedelta64(RESOLUTION_MIN, "m")), RESOLUTION_MIN)


def gate_instant(name: str, delivery: date) -> datetime:
    """When gate `name` (of the gate table) closes for delivery day `delivery`, in UTC."""
    g = next(g for g in DEFAULT_GATES if g.name == name)
    day = delivery - timedelta(days=g.days_before)
    hour = int(g.hour)
    local = datetime(day.year, day.month, day.day, hour, int(round((g.hour - hour) * 60)), tzinfo=ZoneInfo(g.tz))
    return local.astimezone(timezone.utc)


def published_at(product: str, delivery: date) -> datetime:
    """When the prices of `product` for `delivery` become known: its gate plus the publication delay
    (intraday and other series: once their day has begun, UTC)."""
    if product not in PRODUCTS:
        return datetime(delivery.year, delivery.month, delivery.day, tzinfo=timezone.utc)
    gate = next(g for g in gates_for(PRODUCTS, DEFAULT_GATES) if product in g.products)
    return gate_instant(gate.name, delivery) + PUBLICATION_DELAY


@dataclass(frozen=True)
class FlowContext:
    flow: str
    version: str
    site: Site
    delivery: date
    now: float  # the clock's time at the run (UTC epoch seconds)
    store: object  # bess_ray.store.Store
    period_start: float | None = None  # for hourly flows: the hour's start (UTC epoch seconds)
    earlier: dict = field(default_factory=dict)  # outputs of this site's runs for the same day, by flow
    base_dir: Path | None = None

    @property
    def tz(self) -> str:
        return get_zone(self.site.zone).timezone

    @property
    def grid(self) -> TimeGrid:
        return day_grid(self.delivery, self.tz)

    @property
    def now_dt(self) -> datetime:
        return datetime.fromtimestamp(self.now, timezone.utc)

    def visible(self, product: str, first_day: date, last_day: date) -> tuple[TimeGrid, np.ndarray]:
        """The stored prices of the local days first_day..last_day (inclusive) on the 15-min grid,
        NaN where not in the store or not yet published at the run's time."""
        start = local_midnight_utc(first_day, self.tz)
        end = local_midnight_utc(last_day + timedelta(days=1), self.tz)
        grid = TimeGrid(start, int((end - start) // np.timedelta64(RESOLUTION_MIN, "m")), RESOLUTION_MIN)
        values = stored_on_grid(self.store, price_point(self.site.zone, product), grid)
        values[~published(product, grid, first_day, last_day, self.tz, self.now)] = np.nan
        return grid, values

    def known_day(self, product: str, day: date) -> np.ndarray:
        """One whole day of published prices; FlowError if any interval is missing."""
        _, v = self.visible(product, day, day)
        if np.isnan(v).any():
            when = published_at(product, day).isoformat()
            raise FlowError(f"{product} prices of {day} are not in the store as published by "
                            f"{self.now_dt.isoformat()} (published {when}; run the data-update flow first): "
                            f"{int(np.isnan(v).sum())} of {v.size} intervals missing")
        return v


def stored_on_grid(store, pid: str, grid: TimeGrid) -> np.ndarray:
    """A stored float point's values on a 15-minute grid, NaN where it holds none."""
    values = np.full(grid.periods, np.nan)
    if store.points.point(pid) is None:
        return values
    frame = store.points.read(pid, _aware(grid.start), _aware(grid.end))
    if frame.height:
        ts = frame["timestamp"].dt.replace_time_zone(None).dt.cast_time_unit("us").to_numpy()
        idx = ((ts - grid.start) // np.timedelta64(grid.resolution_min, "m")).astype(np.int64)
        ok = (idx >= 0) & (idx < grid.periods)
        values[idx[ok]] = frame["value"].to_numpy()[ok]
    return values


def published(product: str, grid: TimeGrid, first_day: date, last_day: date, tz: str, now: float) -> np.ndarray:
    """Which intervals of `grid` lie in the local days first_day..last_day whose `product` prices
    were published by `now`."""
    ts = grid.timestamps
    out = np.zeros(ts.size, dtype=bool)
    day = first_day
    while day <= last_day:
        if published_at(product, day).timestamp() <= now:
            out |= (ts >= local_midnight_utc(day, tz)) & (ts < local_midnight_utc(day + timedelta(days=1), tz))
        day += timedelta(days=1)
    return out


def _aware(t: np.datetime64) -> datetime:
    return t.astype("datetime64[us]").item().replace(tzinfo=timezone.utc)
