"""Site schedules and reserve commitments, and what they ask for at one instant.

A schedule is site-level MW at the POI (> 0 export) on a regular grid, one per layer: binding market
obligations, intraday, day-ahead. Files are read by `schedule_files.read_plan`.
"""
from __future__ import annotations

import math
from bisect import bisect_right
from dataclasses import dataclass

LAYERS = ("obligation", "intraday", "day_ahead")


@dataclass(frozen=True)
class Wishes:
    """What the schedules ask of the site at one instant (site-level MW, None: nothing asked)."""

    obligation_mw: float | None = None
    intraday_mw: float | None = None
    day_ahead_mw: float | None = None
    reserves: tuple[tuple[str, float], ...] = ()  # (product, committed MW), products in a fixed order
    version: str = ""

    def layer(self, name: str) -> float | None:
        return getattr(self, f"{name}_mw")


@dataclass(frozen=True)
class Series:
    """Values on interval starts (UTC epoch seconds); each holds until the next start. None or NaN:
    no value in that interval."""

    starts: tuple[float, ...]
    values: tuple[float | None, ...]
    end: float

    def at(self, t: float) -> float | None:
        i = bisect_right(self.starts, t) - 1
        if i < 0 or t >= self.end:
            return None
        v = self.values[i]
        return None if v is None or math.isnan(v) else v


@dataclass(frozen=True)
class Plan:
    """A site's schedules by layer and its reserve commitments by product, with a version."""

    layers: dict[str, Series]
    reserves: dict[str, Series]
    version: str = ""

    def at(self, t: float) -> Wishes:
        values = {f"{name}_mw": s.at(t) for name, s in self.layers.items()}
        reserves = tuple((p, mw) for p in sorted(self.reserves) if (mw := self.reserves[p].at(t)))
        return Wishes(**values, reserves=reserves, version=self.version)


EMPTY = Plan({}, {})
