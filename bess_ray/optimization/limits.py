"""A battery's time-varying limits (`Battery.limits`) on an optimisation grid.

Pure: windows in, per-interval arrays out. Power limits hold in every interval that overlaps a
window (an outage from 06:10 blocks the 06:00-06:15 quarter-hour too); SoC limits hold at every
interval end within a window, and a limit `at` an instant at the first interval end at or after
it. Several windows over one interval: the tightest of each limit holds.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np

from ..config import Battery, Limit, has_offset
from ..timegrid import TimeGrid

_US = np.timedelta64(1, "us")


@dataclass(frozen=True)
class Windows:
    """One battery's limits as arrays (UTC), NaN where a window sets no such limit."""

    start: np.ndarray  # datetime64[us]; an instant: start == end
    end: np.ndarray
    instant: np.ndarray  # bool
    charge_mw: np.ndarray
    discharge_mw: np.ndarray
    soc_min: np.ndarray
    soc_max: np.ndarray


@dataclass(frozen=True)
class OnGrid:
    """A battery's limits per interval: power caps (MW) and SoC bounds at each interval's end (MWh)."""

    charge_mw: np.ndarray
    discharge_mw: np.ndarray
    soc_lo_mwh: np.ndarray
    soc_hi_mwh: np.ndarray


def _utc(t: datetime, tz: ZoneInfo) -> np.datetime64:
    aware = t if has_offset(t) else t.replace(tzinfo=tz)
    return np.datetime64(int(aware.timestamp() * 1_000_000), "us")


def _value(v) -> float:
    return np.nan if v is None else float(v)


# computed once per battery's limits and zone, not once per walk-forward day: keyed by identity, since
# hashing a year of per-interval limits would cost more than building them; the entry holds the
# limits themselves, so an id cannot be reused while it is cached
_WINDOWS: dict[tuple[int, str], tuple[tuple, "Windows"]] = {}


def windows(limits: tuple[Limit, ...], timezone: str) -> Windows:
    """The limits as arrays, local times in `timezone`."""
    hit = _WINDOWS.get((id(limits), timezone))
    if hit is not None and hit[0] is limits:
        return hit[1]
    if len(_WINDOWS) >= 256:
        _WINDOWS.pop(next(iter(_WINDOWS)))
    w = _windows(limits, timezone)
    _WINDOWS[(id(limits), timezone)] = (limits, w)
    return w


def _windows(limits: tuple[Limit, ...], timezone: str) -> Windows:
    tz = ZoneInfo(timezone)
    start = [_utc(lim.at if lim.at is not None else lim.start, tz) for lim in limits]
    end = [_utc(lim.at if lim.at is not None else lim.end, tz) for lim in limits]
    off = [not lim.available for lim in limits]
    return Windows(
        np.array(start, dtype="datetime64[us]"), np.array(end, dtype="datetime64[us]"),
        np.array([lim.at is not None for lim in limits], dtype=bool),
        np.array([0.0 if o else _value(lim.charge_mw) for lim, o in zip(limits, off)]),
        np.array([0.0 if o else _value(lim.discharge_mw) for lim, o in zip(limits, off)]),
        np.array([_value(lim.soc_min) for lim in limits]), np.array([_value(lim.soc_max) for lim in limits]))


def on_grid(battery: Battery, timezone: str, grid: TimeGrid) -> OnGrid | None:
    """The battery's limits on `grid`, or None when none of them touches it."""
    if not battery.limits:
        return None
    w = windows(battery.limits, timezone)
    t_start = grid.timestamps.astype("datetime64[us]")
    t_end = t_start + np.timedelta64(grid.resolution_min, "m")
    hit = np.flatnonzero((w.end >= t_start[0]) & (w.start <= t_end[-1]))
    if not hit.size:
        return None
    T, e = grid.periods, battery.energy_mwh
    charge, discharge = np.full(T, battery.charge_mw), np.full(T, battery.discharge_mw)
    soc_lo, soc_hi = np.full(T, e * battery.soc_min), np.full(T, e * battery.soc_max)
    for k in hit.tolist():
        if w.instant[k]:
            j = int(np.searchsorted(t_end, w.start[k], "left"))
            a, b = j, min(j + 1, T)
        else:
            a = int(np.searchsorted(t_end, w.start[k], "left"))  # SoC at the interval ends in [start, end]
            b = int(np.searchsorted(t_end, w.end[k], "right"))
            pa = int(np.searchsorted(t_end, w.start[k], "right"))  # intervals overlapping [start, end)
            pb = int(np.searchsorted(t_start, w.end[k], "left"))
            if not np.isnan(w.charge_mw[k]):
                charge[pa:pb] = np.minimum(charge[pa:pb], w.charge_mw[k])
            if not np.isnan(w.discharge_mw[k]):
                discharge[pa:pb] = np.minimum(discharge[pa:pb], w.discharge_mw[k])
        if not np.isnan(w.soc_min[k]):
            soc_lo[a:b] = np.maximum(soc_lo[a:b], e * w.soc_min[k])
        if not np.isnan(w.soc_max[k]):
            soc_hi[a:b] = np.minimum(soc_hi[a:b], e * w.soc_max[k])
    return OnGrid(charge, discharge, soc_lo, soc_hi)
