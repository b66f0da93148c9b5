"""Site schedules and reserve commitments, and what they ask for at one instant.

A schedule is site-level MW at the POI (> 0 export) on a regular grid, one per layer: binding market
obligations, intraday, day-ahead. `bess-ray optimize` writes one (`site_schedule.csv`): its `net_mw`
is the day-ahead layer and its `reserve_<product>_mw` columns are commitments.
"""
from __future__ import annotations

import math
from bisect import bisect_right
from dataclasses import dataclass
from pathlib import Path

from ..errors import DataError
from ..markets import PRODUCTS

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


def read_plan(path: str | Path, version: str | None = None) -> Plan:
    """A schedule file (CSV or Parquet): a `timestamp` column (UTC interval starts) and any of
    `net_mw` / `day_ahead_mw`, `intraday_mw`, `obligation_mw`, `reserve_<product>_mw`."""
    import polars as pl

    p = Path(path)
    if not p.is_file():
        raise DataError(f"{p}: no such schedule file")
    try:
        df = pl.read_parquet(p) if p.suffix == ".parquet" else pl.read_csv(p, try_parse_dates=True)
    except Exception as e:  # polars raises many types for unreadable files
        raise DataError(f"{p}: not a readable schedule: {e}") from None
    ts = next((c for c in ("timestamp", "timestamp_utc") if c in df.columns), None)
    if ts is None:
        raise DataError(f"{p}: needs a timestamp column (timestamp or timestamp_utc); has {', '.join(df.columns)}")
    if df[ts].dtype == pl.String:
        df = df.with_columns(pl.col(ts).str.to_datetime(time_zone="UTC"))
    if not isinstance(df[ts].dtype, pl.Datetime) or df[ts].dtype.time_zone is None:
        raise DataError(f"{p}: {ts}: expected UTC timestamps with an offset, got {df[ts].dtype}")
    starts = [t.timestamp() for t in df[ts].to_list()]
    if len(starts) < 1 or any(b <= a for a, b in zip(starts, starts[1:])):
        raise DataError(f"{p}: {ts}: timestamps must be strictly increasing")
    step = starts[1] - starts[0] if len(starts) > 1 else 900.0
    end = starts[-1] + step

    def series(col: str) -> Series:
        values = df[col].cast(pl.Float64).to_list()
        bad = [i for i, v in enumerate(values) if v is not None and abs(v) > 1e5]
        if bad:
            raise DataError(f"{p}: {col}: row {bad[0] + 2}: {values[bad[0]]} MW is not a plausible site power")
        return Series(tuple(starts), tuple(values), end)

    layers = {}
    for layer in LAYERS:
        cols = [c for c in (f"{layer}_mw", "net_mw" if layer == "day_ahead" else None) if c in df.columns]
        if cols:
            layers[layer] = series(cols[0])
    reserves = {}
    for c in df.columns:
        if c.startswith("reserve_") and c.endswith("_mw"):
            product = c[len("reserve_"):-len("_mw")]
            if product not in PRODUCTS or not PRODUCTS[product].is_reserve:
                raise DataError(f"{p}: {c}: {product!r} is not a reserve product")
            reserves[product] = series(c)
    if not layers and not reserves:
        raise DataError(f"{p}: no schedule columns (net_mw, day_ahead_mw, intraday_mw, obligation_mw, reserve_*_mw)")
    return Plan(layers, reserves, version or p.name)
