"""`simulate()`: a site over many years - revenue by stream, ageing, cash flows, NPV, IRR, LCOS.

Sequential mode runs the years one after the other, the battery's SoC and ageing carrying over.
Parallel mode runs them at once as Ray tasks, each year from a state of health projected from the
expected cycling; its summary compares that projection with what the simulated years did. This
core stays free of Ray: parallel mode is `bess_ray.cluster.simulate.simulate`, which hands this
function its `runner`.

Artifact layout of `DIR` (stable; new files may be added, none renamed):

    config.resolved.json   the simulation config as run, every default filled in
    summary.json           npv_eur, irr, lcos_eur_mwh, payback_years, yearly (year, revenue_eur, soh, ...), events
    yearly.parquet/.csv    one row per year: revenue by stream, SoH, cycles, energy, curtailment, shortfall
    cash_flows.csv         year 0..N: capex, revenue, opex, replacement, net and cumulative cash
    soh.parquet            each ageing update: timestamp, asset, soh, calendar and cycle fade, cycles
    timeseries.parquet     per interval: prices, site net, position, per battery charge / discharge / SoC /
                           plan / reserves, per generator available and output power (unless timeseries: false)
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from .. import artifacts
from ..errors import ConfigError
from .config import SimulationConfig
from .finance import cash_flows, summarize
from .inputs import Inputs, initial_state, prepare
from .year import YearResult, run_year


@dataclass
class SimulationResult:
    summary: dict
    yearly: pl.DataFrame
    cash_flows: pl.DataFrame
    years: list[YearResult]
    out_dir: Path | None = None

    @property
    def npv_eur(self) -> float:
        return self.summary["npv_eur"]


def run_sequential(inputs: Inputs, progress=None, timeseries: bool | None = None) -> list[YearResult]:
    state = initial_state(inputs.site, inputs.cfg)
    out = []
    for i in range(inputs.cfg.years):
        r = run_year(inputs, i, state, timeseries)
        state = r.end_state
        out.append(r)
        if progress:
            progress(r)
    return out


def simulate(config: SimulationConfig | str | Path, out_dir: str | Path | None = None, *, mode: str | None = None,
             years: int | None = None, timeseries: bool | None = None, progress=None,
             runner=None, base_dir: str | Path | None = None) -> SimulationResult:
    """Simulate a site over the configured years; with `out_dir`, write the artifacts.

    config: a SimulationConfig or a YAML path. mode / years / timeseries override the config.
    progress(year_result) is called as each year finishes. runner(inputs, progress) runs the years
    (default: sequentially; parallel mode passes the Ray runner). Raises ConfigError or DataError
    before any year runs. Relative references in a config object resolve against `base_dir`
    (default: the current folder); a YAML path's against its own folder.
    """
    base_dir = Path(base_dir or Path.cwd())
    if not isinstance(config, SimulationConfig):
        base_dir = Path(config).resolve().parent
        config = SimulationConfig.from_yaml(config)
    overrides = {k: v for k, v in {"mode": mode, "years": years, "timeseries": timeseries}.items() if v is not None}
    cfg = SimulationConfig.from_dict({**config.model_dump(), **overrides}) if overrides else config
    t0 = time.perf_counter()
    inputs = prepare(cfg, base_dir)
    t_prepared = time.perf_counter()
    if cfg.mode == "parallel" and runner is None:
        raise ConfigError("mode: parallel runs the years as Ray tasks: use bess_ray.cluster.simulate.simulate "
                          "(or bess-ray simulate), or set mode: sequential")
    results = (runner or run_sequential)(inputs, progress)
    t_run = time.perf_counter() - t_prepared
    result = assemble(inputs, results)
    run_cpu = sum(r.seconds for r in results)
    result.summary["timing"] = {
        "prepare_seconds": t_prepared - t0, "run_seconds": t_run, "total_seconds": time.perf_counter() - t0,
        "seconds_per_year": t_run / cfg.years, "cpu_seconds_per_year": run_cpu / cfg.years,
        "highs_seconds": sum(r.solve_seconds for r in results), "solves": sum(r.solves for r in results),
        "highs_share": sum(r.solve_seconds for r in results) / run_cpu if run_cpu else 0.0,
    }
    if out_dir is not None:
        write_artifacts(Path(out_dir), cfg, result)
    return result


def assemble(inputs: Inputs, results: list[YearResult]) -> SimulationResult:
    cfg, site = inputs.cfg, inputs.site
    bats = site.batteries
    streams = sorted({k for r in results for k in r.streams})
    replaced = {i + 1: float(sum(e.mwh_bought for e in r.events)) for i, r in enumerate(results)}
    yearly = pl.DataFrame({
        "year": [r.year for r in results],
        "revenue_eur": [r.revenue_eur for r in results],
        **{f"{s}_eur": [r.streams.get(s, 0.0) for r in results] for s in streams},
        "soh_start": [r.soh_start for r in results], "soh": [r.soh_end for r in results],
        "efc": [r.efc for r in results], "discharged_mwh": [r.discharged_mwh for r in results],
        "charged_mwh": [r.charged_mwh for r in results], "generation_mwh": [r.generation_mwh for r in results],
        "curtailed_mwh": [r.curtailed_mwh for r in results], "shortfall_mwh": [r.shortfall_mwh for r in results],
        "cells_bought_mwh": [float(replaced[i + 1]) for i in range(len(results))],
        "highs_seconds": [r.solve_seconds for r in results], "seconds": [r.seconds for r in results],
    })
    table = cash_flows(cfg.finance, sum(b.discharge_mw for b in bats), sum(b.energy_mwh for b in bats),
                       yearly["revenue_eur"], yearly["discharged_mwh"], [r.charging_cost_eur for r in results],
                       {y: mwh for y, mwh in replaced.items() if mwh > 0})
    events = [{"year": r.year, "asset": e.asset, "kind": e.kind, "soh_before": e.soh_before,
               "mwh_bought": e.mwh_bought} for r in results for e in r.events]
    summary = {
        "name": cfg.name, "mode": cfg.mode, "site": site.id, "zone": site.zone, "years": cfg.years,
        "products": list(site.markets.products), "chemistry": cfg.battery_model.chemistry,
        **summarize(cfg.finance, table),
        "revenue_eur_total": float(yearly["revenue_eur"].sum()),
        "yearly": [{"year": r.year, "revenue_eur": r.revenue_eur, "soh": r.soh_end, "soh_start": r.soh_start,
                    "efc": r.efc, "revenue_by_stream": r.streams, "cells_bought_mwh": replaced[i + 1]}
                   for i, r in enumerate(results)],
        "events": events,
        "end_of_life_year": next((e["year"] for e in events), None),
        "degradation_cost_eur_mwh": {b.id: b.degradation_cost_eur_mwh for b in bats},
        "price_sources": inputs.market.sources,
    }
    if cfg.mode == "parallel":  # how well the projected start states matched the simulated years
        summary["soh_projection"] = [{"year": r.year, "projected_start": r.soh_start,
                                      "simulated_end_of_previous": prev.soh_end}
                                     for prev, r in zip(results, results[1:])]
    return SimulationResult(summary, yearly, table, results)


def write_artifacts(out: Path, cfg: SimulationConfig, result: SimulationResult) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    artifacts.write(out / "config.resolved.json", cfg.model_dump(mode="json"))
    artifacts.write(out / "summary.json", result.summary)
    artifacts.write(out / "yearly.parquet", result.yearly)
    artifacts.write(out / "yearly.csv", result.yearly)
    artifacts.write(out / "cash_flows.csv", result.cash_flows)
    soh = [row for r in result.years for row in r.soh_log]
    if soh:
        artifacts.write(out / "soh.parquet", pl.DataFrame(soh).with_columns(pl.col("timestamp").dt.replace_time_zone("UTC")))
    frames = [r.timeseries for r in result.years if r.timeseries is not None]
    if frames:
        artifacts.write(out / "timeseries.parquet", pl.concat(frames, how="diagonal"))
    result.out_dir = out
    return out


def format_summary(result: SimulationResult) -> str:
    s = result.summary
    def fmt(v, spec: str, unit: str = "") -> str:
        return "n/a" if v is None else f"{v:{spec}}{unit}"

    irr = None if s["irr"] is None else 100 * s["irr"]
    lines = [f"simulation {s['name']}: {s['site']} ({s['zone']}), {s['years']} years, {s['mode']}, "
             f"{', '.join(s['products'])}",
             f"  NPV {fmt(s['npv_eur'], ',.0f', ' EUR')}   IRR {fmt(irr, '.1f', ' %')}   "
             f"LCOS {fmt(s['lcos_eur_mwh'], '.1f', ' EUR/MWh')}   payback {fmt(s['payback_years'], '.1f', ' years')}",
             "  year   revenue EUR      SoH   cycles"]
    for y in s["yearly"]:
        lines.append(f"  {y['year']}  {y['revenue_eur']:>12,.0f}  {100 * y['soh']:6.1f} %  {y['efc']:7.0f}")
    for e in s["events"]:
        lines.append(f"  {e['year']}: {e['asset']} {e['kind'].replace('_', ' ')} at SoH {100 * e['soh_before']:.1f} %"
                     + (f", {e['mwh_bought']:.2f} MWh of cells bought" if e["mwh_bought"] else ""))
    t = s.get("timing")
    if t:
        lines.append(f"  {t['seconds_per_year']:.2f} s per simulated year, HiGHS {100 * t['highs_share']:.0f} % "
                     f"of the compute")
    return "\n".join(lines)
