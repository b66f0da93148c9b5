"""The planning steps the trading flows share: forecast a day from the visible history, optimise it
with what is committed locked, and turn the answer into a site schedule checked against the site's
limits. Pure: the context's store is read, nothing is written.

Each delivery day is planned from the site's initial SoC and to the site's final-SoC rule, so that
the days are independent runs (a run of day D never waits for the revisions of day D-1); the SoC
management of the control loop holds the path between them. Flows therefore refuse a site whose
`final_soc` is `free` (its next day would start from an SoC it never promised).
"""
from __future__ import annotations

from datetime import timedelta

import numpy as np

from ..control.site_schedules import check, plan_from_payload
from ..data.market import MarketPrices
from ..dispatch.engine import RESERVE_STEP_MW
from ..forecast import VisibleHistory
from ..forecast.persistence import Persistence
from ..markets import PRODUCTS
from ..optimization import highs
from ..optimization.blocks import IntradayTrade, Locks, build
from ..optimization.diagnose import diagnose, explain
from ..timegrid import TimeGrid, iso, local_date
from .context import FlowContext, published_at
from .registry import FlowError


def stamps(grid: TimeGrid) -> list[str]:
    return [iso(t) for t in grid.timestamps]


def forecast_day(ctx: FlowContext, products, lags: list[int], weights: list[float],
                 learned: dict | None = None) -> dict[str, np.ndarray]:
    """Persistence of the visible history onto the delivery day, per product; with `learned`
    (the options of the gbm forecast), the learned forecast fitted on the visible history."""
    day = ctx.grid
    history = max(lags) + 2 if learned is None else int(learned.get("train_days", 365)) + 9
    first = ctx.delivery - timedelta(days=history)
    out = {}
    for p in products:
        hist, values = ctx.visible(p, first, ctx.delivery)
        targets = np.flatnonzero(hist.timestamps >= day.start)
        known = int(targets[0])
        gaps = np.flatnonzero(np.isnan(values[:known]))
        if learned is None:
            f = Persistence(lags, weights)
        else:
            from ..forecast.gbm import GbmForecast
            from ..markets import get_zone

            f = GbmForecast(**learned)
            f.timezone, f.country = ctx.tz, get_zone(ctx.site.zone).code[:2]
        f.steps_per_day = 24 * 60 // hist.resolution_min
        view = VisibleHistory(np.datetime64(int(ctx.now * 1e6), "us"), hist.timestamps, {p: values}, {p: known})
        fc = f.forecast(view, targets, (p,))[p]
        if np.isnan(fc).any():
            missing = sorted({local_date(hist.timestamps[i], ctx.tz) for i in gaps})  # the zone's days
            later = [d for d in missing if published_at(p, d) > ctx.now_dt]
            why = (f"; {later[0]} is published only at {published_at(p, later[0]).isoformat()}, after this run's "
                   f"time {ctx.now_dt.isoformat()}") if later else ""
            raise FlowError(f"forecast of {p} for {ctx.delivery}: the history in the store has gaps on "
                            f"{', '.join(map(str, missing[:5]))} (run the data-update flow over those days{why})")
        out[p] = fc
    return out


def locks_from(ctx: FlowContext, grid: TimeGrid, exclude: tuple[str, ...] = ()) -> tuple[Locks, set[str]]:
    """What earlier runs of the day committed (reserves per battery and block, the day-ahead
    position per battery), as locks; and the products they committed."""
    locks, done = Locks(), set()
    for name, out in ctx.earlier.items():
        if name in exclude:
            continue
        for p in out.get("committed", []):
            done.add(p)
            for b in ctx.site.batteries:
                per = out["assets"][b.id]
                if p == "da":
                    locks.net_mw[b.id] = np.asarray(per["position_mw"], float)
                else:
                    locks.reserve_mw[(b.id, p)] = np.asarray(per["blocks_mw"][p], float)
    return locks, done


def solve_day(ctx: FlowContext, prices: dict[str, np.ndarray], products, locks: Locks | None = None,
              intraday: IntradayTrade | None = None):
    """One LP over the delivery day; FlowError explains an infeasible one."""
    grid = ctx.grid
    market = MarketPrices(grid, prices)
    f = build(ctx.site, market, tuple(products), locks=locks, intraday=intraday)
    lp = f.lp.assemble()
    h = highs.new_highs(1)
    highs.pass_model(h, lp)
    sol = highs.run(h)
    if sol.x is None:
        why = explain(diagnose(lp, grid.timestamps)) if sol.status == "infeasible" else f"HiGHS: {sol.status}"
        raise FlowError(f"site {ctx.site.id}, {ctx.delivery}: the LP has no solution: {why}")
    return f, sol.x


def held(x: np.ndarray) -> np.ndarray:
    """Reserve MW as a bid holds it: whole 0.1 kW steps (as the walk-forward commits)."""
    return np.floor(np.maximum(x, 0.0) / RESERVE_STEP_MW + 1e-6) * RESERVE_STEP_MW


def plan_outputs(ctx: FlowContext, f, x, committed: list[str], forecast: dict[str, np.ndarray]) -> dict:
    """The plan of a solved day as a flow's outputs: per battery net, SoC, day-ahead position and
    reserve blocks; the site schedule (day-ahead layer where 'da' is committed, reserves)."""
    grid = ctx.grid
    net = x[f.discharge] - x[f.charge]
    assets = {}
    reserves_site = {}
    for i, b in enumerate(ctx.site.batteries):
        blocks = {p: held(x[f.reserve[p]][i]).tolist() for p in f.reserve}
        assets[b.id] = {"net_mw": net[i].tolist(), "soc_mwh": x[f.soc][i].tolist(),
                        "position_mw": net[i].tolist(), "blocks_mw": blocks}
    for p in f.reserve:
        if p in committed:
            per_interval = np.stack([held(x[f.reserve[p]][i])[f.block_of[p]] for i in range(len(ctx.site.batteries))])
            reserves_site[p] = per_interval.sum(axis=0).round(6).tolist()
    schedule: dict = {"timestamps": stamps(grid), "resolution_min": grid.resolution_min}
    if "da" in committed:
        schedule["net_mw"] = net.sum(axis=0).round(6).tolist()
    if reserves_site:
        schedule["reserves_mw"] = reserves_site
    if len(schedule) == 2:
        schedule = None
    return {"delivery": str(ctx.delivery), "timestamps": stamps(grid), "committed": committed, "assets": assets,
            "forecast": {p: np.round(v, 4).tolist() for p, v in forecast.items()}, "schedule": schedule}


def checked(ctx: FlowContext, schedule: dict | None) -> dict | None:
    """A schedule the site will accept: the same checks the site actor runs (names the field)."""
    if schedule is None:
        return None
    site = ctx.site
    try:
        check(plan_from_payload(schedule), import_mw=site.poi.import_mw, export_mw=site.poi.export_mw,
              rated_mw=sum(max(b.charge_mw, b.discharge_mw) for b in site.batteries),
              products={p for p in site.markets.products if PRODUCTS[p].is_reserve}, now=ctx.now)
    except Exception as e:  # noqa: BLE001 - a DataError names the field
        raise FlowError(f"the schedule for {ctx.delivery} would be refused by site {site.id}: {e}") from None
    return schedule


def require_independent_days(site) -> None:
    free = [b.id for b in site.batteries if b.final_soc == "free"]
    if free:
        raise FlowError(f"site {site.id}: battery {', '.join(free)} has final_soc: free; flows plan each day from "
                        "the initial SoC, so a day must end where the next one starts (use at_least_initial)")
