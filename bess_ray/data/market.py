"""Prices of the selected products on the optimisation grid, in canonical units."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from ..errors import DataError
from ..markets import PRODUCTS, get_zone
from ..timegrid import TimeGrid, iso, to_utc
from .series import Series, read_series, split_product


@dataclass
class MarketPrices:
    """Per-interval prices on `grid`: 'da' in EUR/MWh, reserve products in EUR/MW/h."""

    grid: TimeGrid
    prices: dict[str, np.ndarray]
    sources: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # what reading did to the data (finer data averaged)

    def __post_init__(self) -> None:
        for name, arr in self.prices.items():
            if name not in PRODUCTS:
                raise DataError(f"prices: unknown product {name!r}")
            if np.shape(arr) != (self.grid.periods,):
                raise DataError(f"prices.{name}: {np.shape(arr)[0] if np.ndim(arr) else 0} values for "
                                f"{self.grid.periods} intervals")
            if not np.all(np.isfinite(arr)):
                bad = np.flatnonzero(~np.isfinite(arr))[:8].tolist()
                raise DataError(f"prices.{name}: non-finite values at intervals {bad}")

    def window(self, start: int, stop: int) -> "MarketPrices":
        """The prices of intervals start..stop-1, on their own grid."""
        g = self.grid
        return MarketPrices(TimeGrid(g.start + np.timedelta64(start * g.resolution_min, "m"), stop - start,
                                     g.resolution_min),
                            {p: v[start:stop] for p, v in self.prices.items()}, self.sources)

    def require(self, products) -> None:
        missing = [p for p in products if p not in self.prices]
        if missing:
            raise DataError(
                f"no prices for {', '.join(missing)}: pass them with --reserve-prices PRODUCT=FILE "
                f"(or reserve_prices=...), or drop them from the product selection"
            )


def align(series: Series, column: str, grid: TimeGrid) -> np.ndarray:
    """Series values on the grid: coarser data is held constant over its interval (hourly prices
    over four quarter-hours, 4-h block prices over their block); finer data is averaged."""
    starts = series.frame["timestamp"].dt.replace_time_zone(None).to_numpy().astype("datetime64[us]")
    ends = series.frame["end"].dt.replace_time_zone(None).to_numpy().astype("datetime64[us]")
    values = series.values(column).astype(np.float64)
    g = grid.timestamps
    step = np.timedelta64(grid.resolution_min, "m")
    if series.resolution_min >= grid.resolution_min:
        idx = np.searchsorted(starts, g, side="right") - 1
        ok = idx >= 0
        covered = np.zeros(g.size, dtype=bool)
        covered[ok] = (g[ok] + step) <= ends[idx[ok]]
        out = values[np.clip(idx, 0, None)]
    else:
        pos = np.searchsorted(g, starts, side="right") - 1
        inside = (pos >= 0) & (ends <= g[np.clip(pos, 0, None)] + step)
        sums = np.bincount(pos[inside], weights=values[inside], minlength=g.size)
        counts = np.bincount(pos[inside], minlength=g.size)
        need = grid.resolution_min // series.resolution_min
        covered = counts == need
        out = np.divide(sums, counts, out=np.zeros_like(sums), where=counts > 0)
    if not covered.all():
        missing = g[~covered]
        shown = ", ".join(iso(t) for t in missing[:5]) + (f" (+{missing.size - 5} more)" if missing.size > 5 else "")
        raise DataError(f"{series.source}: {column} does not cover {missing.size} of {g.size} intervals "
                        f"of the window {iso(grid.start)}..{iso(grid.end)}: {shown}")
    return out


def align_frames(frames: list[pl.DataFrame], like: Series, column: str, grid: TimeGrid) -> np.ndarray:
    """Year frames joined in time (the first wins where they overlap) and aligned to the grid."""
    joined = pl.concat(frames).unique(subset="timestamp", keep="first").sort("timestamp")
    return align(Series(joined, like.resolution_min, like.source, like.report, like.units), column, grid)


def _as_series(src, product: str | None, zone: str, fill: str | None, base_dir: Path | None) -> Series:
    if isinstance(src, Series):
        return src
    if isinstance(src, pl.DataFrame):
        return series_from_frame(src, source="DataFrame")
    return read_series(src, product=product, zone=zone, fill=fill, base_dir=base_dir)


def series_from_frame(frame: pl.DataFrame, source: str = "DataFrame") -> Series:
    """A Series from an in-memory frame: `timestamp` (UTC interval starts) and product columns."""
    from . import quality

    if "timestamp" not in frame.columns:
        raise DataError(f"{source}: needs a 'timestamp' column")
    ts = frame["timestamp"]
    if not isinstance(ts.dtype, pl.Datetime):
        raise DataError(f"{source}: 'timestamp' must be a datetime column")
    ts = ts.dt.cast_time_unit("us")
    ts = ts.dt.convert_time_zone("UTC") if ts.dtype.time_zone else ts.dt.replace_time_zone("UTC")
    cols = [c for c in frame.columns if c in PRODUCTS]
    if not cols:
        raise DataError(f"{source}: no product column ({', '.join(PRODUCTS)})")
    steps = ts.diff().dt.total_minutes().drop_nulls()
    res = int(steps.filter(steps > 0).mode().min()) if steps.len() else 60
    raw = pl.DataFrame({"row": np.arange(2, frame.height + 2), "timestamp": ts,
                        "wall": ts.dt.replace_time_zone(None)}).with_columns(frame.select(cols).cast(pl.Float64))
    quality.check(raw, cols, source, None, res).raise_if_bad()
    out = raw.select("timestamp", (pl.col("timestamp") + pl.duration(minutes=res)).alias("end"), *cols)
    return Series(out, res, source, quality.DataReport(source, frame.height, res))


def product_series(zone: str, products, prices, reserve_prices=None, fill: str | None = None,
                   base_dir: Path | None = None) -> dict[str, Series]:
    """Read the day-ahead and capacity-price sources: one checked series per product found.

    `prices` is one day-ahead source or a list of them (joined in time, e.g. two years);
    `reserve_prices` a list of sources (`PRODUCT=REF` picks one product of a file; several sources
    of one product are joined in time) or a dict {product: source}.
    """
    zone = get_zone(zone).code
    da_sources = prices if isinstance(prices, (list, tuple)) else [prices]
    out = {"da": _join([_as_series(src, "da", zone, fill, base_dir) for src in da_sources], "da")}
    entries = list(reserve_prices.items()) if isinstance(reserve_prices, dict) else \
        [split_product(x) for x in (reserve_prices or [])]
    wanted = [p for p in products if PRODUCTS[p].is_reserve]
    found: dict[str, list[Series]] = {}
    for product, src in entries:
        if product is not None and product not in PRODUCTS:
            raise DataError(f"reserve prices: unknown product {product!r}")
        series = _as_series(src, product, zone, fill, base_dir)
        for col in series.columns:
            if col in wanted and (product is None or col == product):
                found.setdefault(col, []).append(series)
    out.update({col: _join(parts, col) for col, parts in found.items()})
    return out


def load_market_prices(zone: str, products, prices, reserve_prices=None, start=None, end=None,
                       resolution: str | int = "15min", fill: str | None = None,
                       base_dir: Path | None = None) -> MarketPrices:
    """Read the price sources (see `product_series`) and put the selected products on one grid.
    Without start/end the window is the day-ahead series' span."""
    series = product_series(zone, products, prices, reserve_prices, fill, base_dir)
    da = series["da"]
    s = to_utc(start) if start is not None else da.frame["timestamp"][0].replace(tzinfo=None)
    e = to_utc(end) if end is not None else da.frame["end"][-1].replace(tzinfo=None)
    grid = TimeGrid.from_range(s, e, resolution)
    market = MarketPrices(grid, {p: align(x, p, grid) for p, x in series.items()},
                          {p: x.source for p, x in series.items()})
    for p, x in series.items():
        if x.resolution_min < grid.resolution_min:  # said, not done silently
            note = (f"{p} prices of {x.source} come every {x.resolution_min} min: averaged onto the "
                    f"{grid.resolution_min}-min grid (resolution= keeps them)")
            market.notes.append(note)
            logging.getLogger("bess_ray").warning(note)
    market.require(products)
    return market


def _join(parts: list[Series], column: str) -> Series:
    """One series of `column` from several sources; where they overlap the earlier source wins."""
    if not parts:
        raise DataError(f"no source for {column}")
    if len(parts) == 1:
        return parts[0]
    frame = (pl.concat([p.frame.select("timestamp", "end", column) for p in parts])
             .unique(subset="timestamp", keep="first", maintain_order=True).sort("timestamp"))
    frame = frame.filter(pl.col("timestamp") >= pl.col("end").shift(1).fill_null(pl.col("timestamp")))
    return Series(frame, min(p.resolution_min for p in parts), " + ".join(p.source for p in parts),
                  parts[0].report, {column: parts[0].units.get(column, "")})
