"""`POST /v1/schedules` without HTTP: the request's schema and the solve (plain Python, no Ray).

The body carries the site (the site YAML's schema) and either the prices inline (ISO-8601 UTC
interval starts, day-ahead EUR/MWh, optional capacity prices in EUR/MW/h per product) or a stored
scenario with a window. The answer: revenue in total and by product, solver status and timings, and
the schedule per interval and asset.
"""
from __future__ import annotations

import json
from datetime import datetime

import numpy as np
import polars as pl
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ..config import Site
from ..data.market import MarketPrices
from ..data.series import base_ref, split_product
from ..markets import PRODUCTS, parse_products
from ..optimization import optimize
from ..optimization.warm import WarmSolver
from ..timegrid import TimeGrid, parse_resolution
from .refs import check_refs, scenario_names

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
    # exactly one price source, as the schema says too (a client generated from it must know)
    model_config = ConfigDict(extra="forbid", json_schema_extra={"oneOf": [
        {"required": ["prices"], "not": {"required": ["scenario"]}},
        {"required": ["scenario"], "not": {"required": ["prices"]}}]})

    site: dict = Field(description="a site, as in the site YAML")
    # not Optional: null is no price source (a default is not validated, so leaving one out is fine)
    prices: InlinePrices = Field(None, description="inline prices; or give scenario")
    scenario: ScenarioWindow = Field(None, description="stored prices and a window; or give prices")

    @field_validator("prices", "scenario", mode="before")
    @classmethod
    def _not_null(cls, v):
        if v is None:  # only a null sent explicitly reaches here (defaults are not validated)
            raise ValueError("leave the field out instead of sending null")
        return v
    products: str | list[str] | None = Field(None, description="a kernel (da_plus_fcr) or a list; default: the site's")
    resolution: str = "15min"

    @model_validator(mode="after")
    def _one_source(self) -> "ScheduleRequest":
        if (self.prices is None) == (self.scenario is None):
            raise ValueError("give exactly one of prices (inline) or scenario (stored, with a window)")
        return self

    def stored_scenarios(self) -> list[str]:
        """The names of the stored scenarios the request reads: its prices' and its site's (a PV profile)."""
        names = scenario_names(self.site)
        if self.scenario is not None:
            refs = [_ref(self.scenario.day_ahead), *(_ref(r) for r in self.scenario.reserves)]
            names += [ref.removeprefix("scenario:") for ref in map(base_ref, refs) if ref.startswith("scenario:")]
        return list(dict.fromkeys(names))


class ScheduleAnswer(BaseModel):
    """The answer of POST /v1/schedules (documentation: the API sends it pre-encoded)."""

    status: str = Field(description="the solver's status: optimal")
    revenue_eur: float
    revenue_by_product_eur: dict[str, float]
    build_seconds: float
    solve_seconds: float
    intervals: int
    assets: dict[str, dict] = Field(description="per asset: revenue_eur; a battery's charged_mwh, discharged_mwh, "
                                                "equivalent_full_cycles; a generator's generated, curtailed, "
                                                "into-battery and exported MWh")
    schedule: list[dict] = Field(description="per interval and asset: timestamp (UTC), asset, charge_mw, "
                                             "discharge_mw, net_mw, soc_end_mwh, soc_end_frac, reserve_<p>_mw, "
                                             "price_da_eur_mwh, revenue_<p>_eur, degradation_cost_eur, "
                                             "revenue_eur, site_net_mw; a PV / wind asset's rows give "
                                             "generation_mw, available_mw, curtailed_mw, to_battery_mw (its "
                                             "battery columns null)")


def _ref(name: str) -> str:
    """A stored scenario's name as a series reference, keeping a `PRODUCT=` prefix."""
    product, ref = split_product(name)
    ref = ref if ref.startswith(("sample:", "scenario:")) else f"scenario:{ref}"
    return f"{product}={ref}" if product else ref


def _inline_market(p: InlinePrices, resolution: str) -> MarketPrices | None:
    """Prices that already sit on the requested grid, without a detour through the file checks (the
    common case, and the API's hot path); None when they need aligning or checking."""
    step = parse_resolution(resolution)
    seconds = np.array([t.timestamp() for t in p.timestamps])  # aware times (checked): exact UTC seconds
    if np.any(seconds % 60):
        return None
    ts = seconds.astype(np.int64).astype("datetime64[s]")
    if np.any(np.diff(ts) != np.timedelta64(step, "m")):
        return None
    prices = {"da": np.asarray(p.day_ahead_eur_mwh, dtype=float),
              **{k: np.asarray(v, dtype=float) for k, v in p.capacity_eur_mw_h.items()}}
    return MarketPrices(TimeGrid(ts[0].astype("datetime64[us]"), len(ts), step), prices,
                        {k: "request" for k in prices})


def solve_schedule(req: ScheduleRequest, warm: WarmSolver | None = None) -> dict:
    """Optimise the request's site; raises ConfigError / DataError / InfeasibleError naming the problem.
    Stored scenarios are read from the embedded store (BESS_RAY_HOME). The answer's `schedule` is a
    polars frame (see `answer_json`). `warm` keeps HiGHS warm between requests of one structure."""
    check_refs(req.site, None, "site")  # no server files (a PV profile, limits), no Python code
    site = Site.from_dict(req.site, "site")
    if req.prices is not None:
        p = req.prices
        market = _inline_market(p, req.resolution)
        if market is None:  # off-grid or coarser: the full reader aligns, or names the bad rows
            ts = pl.Series("timestamp", p.timestamps).dt.convert_time_zone("UTC")
            prices = pl.DataFrame({"timestamp": ts, "da": p.day_ahead_eur_mwh})
            reserves = {k: pl.DataFrame({"timestamp": ts, k: v}) for k, v in p.capacity_eur_mw_h.items()}
            result = optimize(site, prices, reserve_prices=reserves or None, products=req.products,
                              resolution=req.resolution)
        else:
            if req.products is not None:
                site = site.with_products(parse_products(req.products))
            market.require(site.markets.products)
            result = optimize(site, market=market, warm=warm)
    else:
        s = req.scenario
        reserves = [_ref(r) for r in s.reserves]
        result = optimize(site, _ref(s.day_ahead), reserve_prices=reserves or None, start=s.start, end=s.end,
                          products=req.products, resolution=req.resolution, warm=warm)
    summary = result.summary
    return {"status": summary["status"], "revenue_eur": summary["revenue_eur"],
            "revenue_by_product_eur": summary["revenue_by_product_eur"],
            "build_seconds": summary["build_seconds"], "solve_seconds": summary["solve_seconds"],
            "intervals": result.site_schedule.height, "assets": summary["assets"], "schedule": result.schedule}


def answer_json(answer: dict) -> bytes:
    """The answer as JSON, the schedule written by polars (rows of ISO-8601 UTC times and numbers):
    an order of magnitude faster than encoding a list of dicts in Python."""
    schedule = answer["schedule"].with_columns(pl.col("timestamp").dt.strftime("%Y-%m-%dT%H:%M:%SZ"))
    head = json.dumps({k: v for k, v in answer.items() if k != "schedule"})
    return f'{head[:-1]}, "schedule": {schedule.write_json()}}}'.encode()
