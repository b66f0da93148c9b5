"""`POST /v1/schedules` without HTTP: the request's schema and the solve (plain Python, no Ray).

The body carries the site (the site YAML's schema) and either the prices inline (ISO-8601 UTC
interval starts, day-ahead EUR/MWh, optional capacity prices in EUR/MW/h per product) or a stored
scenario with a window. The answer: revenue in total and by product, solver status and timings, and
the schedule per interval and asset.
"""
from __future__ import annotations

from datetime import datetime

import polars as pl
from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..config import Site
from ..markets import PRODUCTS
from ..optimize import optimize

MAX_INTERVALS = 35_136  # a leap year at 15 minutes; a longer window belongs in a backtest or simulation


class InlinePrices(BaseModel):
    model_config = ConfigDict(extra="forbid")

    timestamps: list[datetime] = Field(min_length=2, max_length=MAX_INTERVALS,
                                       description="interval starts, ISO-8601 with an offset (UTC)")
    day_ahead_eur_mwh: list[float] = Field(description="one day-ahead price per timestamp, EUR/MWh")
    capacity_eur_mw_h: dict[str, list[float]] = Field(
        default_factory=dict, description="capacity prices per product (fcr, afrr_up, ...), EUR/MW/h per timestamp")

    @model_validator(mode="after")
    def _aligned(self) -> "InlinePrices":
        n = len(self.timestamps)
        if any(t.tzinfo is None for t in self.timestamps):
            raise ValueError("timestamps: give an offset (e.g. 2023-06-01T00:00:00Z); naive times are ambiguous")
        if len(self.day_ahead_eur_mwh) != n:
            raise ValueError(f"day_ahead_eur_mwh: {len(self.day_ahead_eur_mwh)} values for {n} timestamps")
        for product, values in self.capacity_eur_mw_h.items():
            if product not in PRODUCTS or product == "da":
                raise ValueError(f"capacity_eur_mw_h.{product}: not a capacity product "
                                 f"({', '.join(p for p in PRODUCTS if p != 'da')})")
            if len(values) != n:
                raise ValueError(f"capacity_eur_mw_h.{product}: {len(values)} values for {n} timestamps")
        return self


class ScenarioWindow(BaseModel):
    model_config = ConfigDict(extra="forbid")

    day_ahead: str = Field(description="a stored scenario's name (or sample:NAME)")
    reserves: list[str] = Field(default_factory=list, description="capacity-price scenarios, [PRODUCT=]NAME")
    start: datetime
    end: datetime


class ScheduleRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    site: dict = Field(description="a site, as in the site YAML")
    prices: InlinePrices | None = None
    scenario: ScenarioWindow | None = None
    products: str | list[str] | None = Field(None, description="a kernel (da_plus_fcr) or a list; default: the site's")
    resolution: str = "15min"

    @model_validator(mode="after")
    def _one_source(self) -> "ScheduleRequest":
        if (self.prices is None) == (self.scenario is None):
            raise ValueError("give exactly one of prices (inline) or scenario (stored, with a window)")
        return self


def _ref(name: str) -> str:
    """A stored scenario's name as a series reference, keeping a `PRODUCT=` prefix."""
    product, sep, rest = name.rpartition("=")
    ref = rest if rest.startswith(("sample:", "scenario:")) else f"scenario:{rest}"
    return f"{product}{sep}{ref}"


def solve_schedule(req: ScheduleRequest) -> dict:
    """Optimise the request's site; raises ConfigError / DataError / InfeasibleError naming the problem.
    Stored scenarios are read from the embedded store (BESS_RAY_HOME)."""
    site = Site.from_dict(req.site, "site")
    if req.prices is not None:
        p = req.prices
        ts = pl.Series("timestamp", p.timestamps).dt.convert_time_zone("UTC")
        prices = pl.DataFrame({"timestamp": ts, "da": p.day_ahead_eur_mwh})
        reserves = {k: pl.DataFrame({"timestamp": ts, k: v}) for k, v in p.capacity_eur_mw_h.items()}
        result = optimize(site, prices, reserve_prices=reserves or None, products=req.products,
                          resolution=req.resolution)
    else:
        s = req.scenario
        reserves = [_ref(r) for r in s.reserves]
        result = optimize(site, _ref(s.day_ahead), reserve_prices=reserves or None, start=s.start, end=s.end,
                          products=req.products, resolution=req.resolution)
    summary = result.summary
    schedule = result.schedule.with_columns(pl.col("timestamp").dt.strftime("%Y-%m-%dT%H:%M:%SZ"))
    return {"status": summary["status"], "revenue_eur": summary["revenue_eur"],
            "revenue_by_product_eur": summary["revenue_by_product_eur"],
            "build_seconds": summary["build_seconds"], "solve_seconds": summary["solve_seconds"],
            "intervals": result.site_schedule.height, "schedule": schedule.to_dicts()}
