"""One sweep case through the plain functions of `backtesting/` and `simulation/`: one results row
(its parameters and KPIs) and one row per year. Also the data every case reads, loaded once."""
from __future__ import annotations

import resource
import time
import traceback
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import polars as pl
import pyarrow as pa

from ..backtesting.config import BacktestConfig
from ..backtesting.run import backtest, history_days, load
from ..data.market import load_market_prices
from ..data.series import Series, memo
from ..errors import BessRayError, ConfigError, DataError
from ..forecast import make_forecaster
from ..markets import get_zone
from ..simulation.config import SimulationConfig
from ..simulation.inputs import prepare
from ..simulation.run import simulate
from ..timegrid import at_local_midnight, local_date
from .spec import Case, Sweep


@dataclass
class Outcome:
    """What a case gives back: `row` and `years` (Arrow, for the driver to write), or the error."""

    case_id: str
    row: dict | None = None
    years: pa.Table | None = None
    error: str | None = None
    traceback: str | None = None
    seconds: float = 0.0
    peak_rss_mb: float = 0.0  # of the process that ran it, so far

    @property
    def ok(self) -> bool:
        return self.error is None


def run_case(case: Case, base_dir: Path) -> Outcome:
    """Run a case; an exception becomes a failed Outcome with its traceback (the sweep goes on)."""
    t0 = time.perf_counter()
    try:
        row, years = (_backtest if "window" in case.config else _simulation)(case, base_dir)
    except Exception as e:
        return Outcome(case.case_id, error=f"{type(e).__name__}: {e}", traceback=traceback.format_exc(),
                       seconds=time.perf_counter() - t0, peak_rss_mb=_peak_rss_mb())
    seconds = time.perf_counter() - t0
    row["compute_seconds"] = seconds
    years = years.with_columns(pl.lit(case.case_id).alias("case_id")).select("case_id", pl.exclude("case_id"))
    return Outcome(case.case_id, row, years.to_arrow(), seconds=seconds, peak_rss_mb=_peak_rss_mb())


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux reports KiB


def _params(case: Case) -> dict:
    site = case.config["site"]
    batteries = [a for a in site["assets"] if a.get("type", "battery") == "battery"]
    power = sum(b["discharge_mw"] for b in batteries)
    energy = sum(b["energy_mwh"] for b in batteries)
    return {"case_id": case.case_id, **{k: (str(v) if v is not None and k != "year" else v)
                                         for k, v in case.params.items()},
            "zone": site["zone"], "power_mw": power, "energy_mwh": energy, "duration_h": energy / power,
            "round_trip_efficiency": sum(b["charge_efficiency"] * b["discharge_efficiency"] * b["energy_mwh"]
                                         for b in batteries) / energy}


def _backtest(case: Case, base_dir: Path) -> tuple[dict, pl.DataFrame]:
    r = backtest(BacktestConfig.model_validate(case.config), base_dir=base_dir)
    s = r.summary
    params = _params(case)
    streams = {f"revenue_{k}_eur": v for k, v in s["revenue_by_stream_eur"].items()}
    row = {**params, "workflow": s["workflow"], "days": s["days"], "revenue_eur": s["revenue_eur"],
           "profit_eur": s["profit_eur"], "oracle_revenue_eur": s["oracle_revenue_eur"],
           "capture_rate": s["capture_rate"],
           "revenue_eur_per_mw_year": s["revenue_eur"] / params["power_mw"] * 365.0 / max(s["days"], 1),
           "equivalent_full_cycles": s["cycles"]["equivalent_full_cycles"],
           "npv_eur": None, "irr": None, "lcos_eur_mwh": None, **streams,
           "highs_seconds": s["timing"]["main_highs_seconds"], **_operable(s.get("operable"))}
    stream_cols = [c for c in r.monthly.columns if c not in ("month", "total_eur")]
    years = (r.monthly.with_columns(pl.col("month").str.slice(0, 4).cast(pl.Int32).alias("year"))
             .group_by("year").agg(pl.col("total_eur").sum().alias("revenue_eur"),
                                   *[pl.col(c).sum().alias(f"revenue_{c}_eur") for c in stream_cols])
             .sort("year"))
    return row, years


def _operable(o: dict | None) -> dict:
    """A through-control case's operable figures (None for a plan-only case: one schema for all)."""
    return {"operable_revenue_eur": o["revenue_eur"] if o else None, "operable_gap_eur": o["gap_eur"] if o else None,
            "non_delivery_intervals": o["non_delivery_intervals"] if o else None}


def _simulation(case: Case, base_dir: Path) -> tuple[dict, pl.DataFrame]:
    r = simulate(SimulationConfig.model_validate(case.config), base_dir=base_dir, mode="sequential",
                 timeseries=False)
    s = r.summary
    yearly = r.yearly
    row = {**_params(case), "workflow": case.config["strategy"]["workflow"], "years": case.config["years"],
           "revenue_eur": float(yearly["revenue_eur"].sum()), "npv_eur": s["npv_eur"], "irr": s["irr"],
           "lcos_eur_mwh": s["lcos_eur_mwh"], "payback_years": s["payback_years"], "capex_eur": s["capex_eur"],
           "final_soh": s["yearly"][-1]["soh"] if s["yearly"] else None,
           "capture_rate": None, "oracle_revenue_eur": None}
    return row, yearly


# ---------------------------------------------------------------------------------------- shared data
def first_backtest_day(cfg: dict, base_dir: Path):
    """The first local day a backtest of `cfg` can deliver: its day-ahead prices' first whole local
    day plus the days of history its forecast needs."""
    zone = get_zone(cfg["site"]["zone"])
    prices = load_market_prices(zone.code, ("da",), cfg["prices"]["day_ahead"], fill=cfg.get("fill"),
                                base_dir=base_dir)
    day = local_date(at_local_midnight(prices.grid.start, zone.timezone), zone.timezone)
    return day + timedelta(days=history_days(cfg["forecast"]) - 1)


def load_shared(sweep: Sweep, series: dict | None = None, cases: list[Case] | None = None) -> dict:
    """Read every series the cases (default: all) need, once per distinct data key, checking it as
    it goes: bad data fails here, before any task starts. Returns the memo of series (see
    `data.series.memo`)."""
    with memo(series) as shared:
        done = set()
        for case in sweep.cases if cases is None else cases:
            if case.data_key in done:
                continue
            done.add(case.data_key)
            try:
                if sweep.kind == "backtest":
                    cfg = BacktestConfig.model_validate(case.config)
                    load(cfg, sweep.base_dir)
                    make_forecaster(cfg.forecast, sweep.base_dir)
                else:
                    prepare(SimulationConfig.model_validate(case.config), sweep.base_dir)
            except (BessRayError, KeyError, ValueError) as e:  # KeyError: an unknown sample or zone
                reason = e.args[0] if isinstance(e, KeyError) and e.args else e
                raise (DataError if isinstance(e, DataError) else ConfigError)(
                    f"{sweep.path}: case ({case.describe()}): {reason}") from None
    return shared


def to_arrow(shared: dict) -> dict:
    """The memo in a form for the object store: Arrow tables, not polars objects."""
    return {k: (s.frame.to_arrow(), s.resolution_min, s.source, s.report, s.units) for k, s in shared.items()}


def from_arrow(shared: dict) -> dict:
    return {k: Series(pl.from_arrow(t), res, src, report, units) for k, (t, res, src, report, units) in shared.items()}
