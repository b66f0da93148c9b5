"""The data-update flow: import price files (any format `bess-ray validate` reads, samples
included) into the store, checked as every price file is, and only what was published by the run's
time: a run for delivery day D at D-1 13:30 writes day D's day-ahead prices and every earlier day's
of the window, never a later day's."""
from __future__ import annotations

from datetime import timedelta
from functools import lru_cache
from pathlib import Path

import numpy as np
import polars as pl
from pydantic import Field

from ..data.market import load_market_prices
from ..markets import PRODUCTS
from ..store.points import DataPoint
from .context import FlowContext, price_point, published
from .registry import FlowError, Params, flow


class DataUpdateParams(Params):
    day_ahead: str = Field(description="the day-ahead price source (a file, 'sample:NAME', 'sample:NAME@YEAR')")
    reserves: list[str] = Field(default_factory=list, description="capacity price sources (as in backtests)")
    intraday: str | None = Field(None, description="intraday prices (EUR/MWh, a 'da' column), stored as 'intraday'")
    history_days: int = Field(10, ge=1, le=400, description="days before the delivery day to (re)import")


@lru_cache(maxsize=16)
def _read(zone: str, products: tuple[str, ...], day_ahead: str, reserves: tuple[str, ...], base_dir: str | None):
    """A source read and checked once per worker process (a week of runs reads it once)."""
    return load_market_prices(zone, products, day_ahead, list(reserves) or None, resolution="15min",
                              base_dir=Path(base_dir) if base_dir else None)


def _write(ctx: FlowContext, product: str, unit: str, grid, values: np.ndarray, first, last) -> int:
    """Write the published days first..last of one product; the number of values written."""
    store = ctx.store.points
    pid = price_point(ctx.site.zone, product)
    if store.point(pid) is None:
        store.define(DataPoint(pid, unit=unit, metadata={"zone": ctx.site.zone, "product": product},
                               description=f"{product} prices of {ctx.site.zone}"))
    ts = grid.timestamps
    keep = published(product, grid, first, last, ctx.tz, ctx.now)
    keep &= np.isfinite(values)
    if not keep.any():
        return 0
    frame = pl.DataFrame({"timestamp": pl.Series(ts[keep]).dt.replace_time_zone("UTC"), "value": values[keep]})
    return store.write(pid, frame)


@flow("data_update", "v1", DataUpdateParams)
def data_update_v1(ctx: FlowContext, p: DataUpdateParams) -> dict:
    """Import new prices into the store, as published by the run's time."""
    products = tuple(x for x in ctx.site.markets.products)
    try:
        market = _read(ctx.site.zone, products, p.day_ahead, tuple(p.reserves),
                       str(ctx.base_dir) if ctx.base_dir else None)
    except Exception as e:  # noqa: BLE001 - a DataError names the file and the rows
        raise FlowError(f"data update: {e}") from None
    first, last = ctx.delivery - timedelta(days=p.history_days), ctx.delivery
    written = {}
    for product, values in market.prices.items():
        unit = "EUR/MWh" if not PRODUCTS[product].is_reserve else "EUR/MW/h"
        written[product] = _write(ctx, product, unit, market.grid, values, first, last)
    if p.intraday:
        try:
            intraday = _read(ctx.site.zone, ("da",), p.intraday, (), str(ctx.base_dir) if ctx.base_dir else None)
        except Exception as e:  # noqa: BLE001
            raise FlowError(f"data update (intraday): {e}") from None
        written["intraday"] = _write(ctx, "intraday", "EUR/MWh", intraday.grid, intraday.prices["da"], first, last)
    if not written.get("da"):
        raise FlowError(f"data update: {p.day_ahead} holds no day-ahead prices of {first}..{last} published by "
                        f"{ctx.now_dt.isoformat()}")
    return {"delivery": str(ctx.delivery), "written": written, "sources": {"da": p.day_ahead, "reserves": p.reserves,
                                                                            "intraday": p.intraday}}
