"""One simulated year: the walk-forward engine decides at the market gates, the battery model
delivers, and the year is settled on its scenario prices. A plain function of plain data, so
sequential mode calls it year after year and parallel mode runs it as a Ray task."""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import polars as pl

from ..dispatch.engine import Trace, WalkForward
from ..forecast import make_forecaster
from ..markets import settlement as money
from ..markets.settlement import Delivery, Terms
from .battery import BatteryPlant, Event, PlantState
from .inputs import Inputs

EPS = 1e-6


@dataclass
class YearResult:
    year: int
    streams: dict[str, float]  # EUR by revenue stream
    soh_start: float  # capacity left / nameplate, over all batteries
    soh_end: float
    efc: float  # full equivalent cycles: discharged MWh / nameplate MWh
    discharged_mwh: float
    charged_mwh: float
    charging_cost_eur: float  # energy bought for charging at the day-ahead price (LCOS)
    generation_mwh: float
    curtailed_mwh: float
    shortfall_mwh: float  # energy the batteries could not deliver as planned
    events: list[Event]
    soh_log: list[dict]
    end_state: PlantState
    solve_seconds: float
    solves: int
    seconds: float
    timeseries: pl.DataFrame | None = None

    @property
    def revenue_eur(self) -> float:
        return float(sum(self.streams.values()))


def run_year(inputs: Inputs, i: int, state: PlantState, timeseries: bool | None = None) -> YearResult:
    """Simulate year i of the config from `state` (the battery's SoC and ageing)."""
    t0 = time.perf_counter()
    cfg, site = inputs.cfg, inputs.site
    market, gen, temperature, window = inputs.year_slice(i)
    plant = BatteryPlant(site, cfg.battery_model, market.grid.dt_hours, temperature, state)
    soh_start = float(plant.state.capacity_mwh().sum() / sum(b.energy_mwh for b in site.batteries))
    strategy = cfg.strategy
    revision = strategy.revision
    engine = WalkForward(site, market, window, site.markets.products, make_forecaster(strategy.forecast, inputs.base_dir),
                         strategy.lookahead_h, revision.checkpoints_h if revision else None, market.prices["da"],
                         revision.intraday_spread_eur_mwh if revision else 0.0, generation=gen, plant=plant)
    trace = engine.run()
    w0, w1 = window
    prices = {p: v[w0:w1] for p, v in market.prices.items()}
    avail = gen.available_mw[:, w0:w1] if gen is not None else None
    streams, flows = settle_year(trace, inputs, prices, avail)
    dt = market.grid.dt_hours
    nameplate = sum(b.energy_mwh for b in site.batteries)
    result = YearResult(
        year=cfg.sim_years[i], streams={k: float(v.sum()) for k, v in streams.items()}, soh_start=soh_start,
        soh_end=float(plant.state.capacity_mwh().sum() / nameplate),
        efc=float(trace.discharge.sum() * dt / nameplate), discharged_mwh=float(trace.discharge.sum() * dt),
        charged_mwh=float(trace.charge.sum() * dt),
        charging_cost_eur=float((trace.charge.sum(axis=0) * prices["da"]).sum() * dt),
        generation_mwh=float(flows["generation"].sum() * dt), curtailed_mwh=float(flows["curtailed"].sum() * dt),
        shortfall_mwh=float(np.abs(flows["shortfall"]).sum() * dt), events=plant.events,
        soh_log=[dict(r, timestamp=trace.timestamps[min(r.pop("interval"), trace.timestamps.size - 1)]
                      .astype("datetime64[us]").item()) for r in plant.soh_log],
        end_state=plant.state, solve_seconds=trace.solve_seconds, solves=trace.solves, seconds=0.0)
    if cfg.timeseries if timeseries is None else timeseries:
        result.timeseries = _timeseries(trace, inputs, prices, flows)
    result.seconds = time.perf_counter() - t0
    return result


def settle_year(trace: Trace, inputs: Inputs, prices: dict[str, np.ndarray],
                available: np.ndarray | None) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Revenue per stream and interval (EUR), site level, and the physical flows behind it.

    da: the batteries' day-ahead position; generation_da: the generators'; each reserve on its
    capacity; intraday: re-planned energy against the position at the intraday proxy +/- spread;
    imbalance: what was delivered off the plan (battery derating, SoC limits, real-time curtailment)
    at the day-ahead price less a penalty; feed_in_premium on exported generation; auxiliary: the
    HVAC / BMS energy bought: the one money model (`markets.settlement`) with the plant's delivery.
    The dispatch's degradation cost is not cash: ageing shows up as replacements in the cash flows.
    """
    cfg, site = inputs.cfg, inputs.site
    dt, price = inputs.market.grid.dt_hours, prices["da"]
    n = trace.charge.shape[1]
    gen = trace.generation if trace.generation is not None else np.zeros((0, n))
    planned_batt = trace.planned_discharge - trace.planned_charge
    actual_batt = trace.net.sum(axis=0)
    # generation the POI cannot take once the batteries charged less than planned: curtailed now
    over = np.maximum(actual_batt + gen.sum(axis=0) - site.poi.export_mw, 0.0)
    gen_total = gen.sum(axis=0)
    share = np.divide(gen, gen_total, out=np.zeros_like(gen), where=gen_total > EPS)
    delivered_gen = gen - share * np.minimum(over, gen_total)
    exported = premium = None
    if gen.shape[0] and inputs.generation is not None:
        # energy that went into the batteries was not exported: no premium on it
        into_batteries = np.minimum(trace.to_battery.sum(axis=0), trace.charge.sum(axis=0))
        exported = delivered_gen - share * np.minimum(into_batteries, delivered_gen.sum(axis=0))
        premium = inputs.generation.premium(price)
    delivery = Delivery(trace.position, planned_batt, trace.discharge, trace.reserves, delivered=trace.net,
                        generation=gen if gen.shape[0] else None, generation_position=trace.generation_position,
                        generation_delivered=delivered_gen, exported=exported)
    terms = Terms(price, {p: prices[p] for p in trace.reserves},
                  spread=cfg.strategy.revision.intraday_spread_eur_mwh if cfg.strategy.revision else 0.0,
                  imbalance_penalty=cfg.strategy.imbalance_penalty_eur_mwh, premium=premium,
                  auxiliary_mw=cfg.battery_model.auxiliary_mw)
    streams = {k: v.sum(axis=0) for k, v in money.settle(delivery, terms, dt).items() if k not in money.NOT_CASH}
    aux = cfg.battery_model.auxiliary_mw
    position = trace.position.sum(axis=0) + (trace.generation_position.sum(axis=0) if gen.shape[0] else 0.0)
    actual = actual_batt + delivered_gen.sum(axis=0)
    flows = {"generation": delivered_gen.sum(axis=0), "shortfall": planned_batt.sum(axis=0) - actual_batt,
             "curtailed": (available.sum(axis=0) - delivered_gen.sum(axis=0)) if available is not None else np.zeros(n),
             "site_net": actual - aux, "position": position, "delivered_gen": delivered_gen,
             "available": available if available is not None else np.zeros((0, n))}
    return streams, flows


def _timeseries(trace: Trace, inputs: Inputs, prices: dict, flows: dict) -> pl.DataFrame:
    cols = {"timestamp": trace.timestamps, "da_eur_mwh": prices["da"], "site_net_mw": flows["site_net"],
            "position_mw": flows["position"]}
    for i, a in enumerate(trace.assets):
        cols[f"{a}_charge_mw"] = trace.charge[i]
        cols[f"{a}_discharge_mw"] = trace.discharge[i]
        cols[f"{a}_soc_mwh"] = trace.soc[i]
        cols[f"{a}_planned_net_mw"] = trace.planned_discharge[i] - trace.planned_charge[i]
        for p, r in trace.reserves.items():
            cols[f"{a}_{p}_mw"] = r[i]
    if trace.generation is not None:
        for j, g in enumerate(inputs.generation.ids):
            cols[f"{g}_available_mw"] = flows["available"][j]
            cols[f"{g}_output_mw"] = flows["delivered_gen"][j]
    return pl.DataFrame(cols).with_columns(pl.col("timestamp").dt.replace_time_zone("UTC"))
