"""`backtest()`: a walk-forward run, its baselines, its money and its artifacts.

Artifact layout of `DIR` (stable; new files may be added, none renamed):

    config.resolved.json   the backtest config and the site as run, with every default filled in
    summary.json           revenue_eur, oracle_revenue_eur, capture_rate, baselines, streams, cycles, timings
    baseline.parquet       the plan after the day's gates, per interval and asset (before revisions)
    revisions.parquet      each checkpoint re-plan: day, checkpoint_utc, timestamp, asset, net_mw, soc_end_mwh
    realised.parquet       what was done: charge, discharge, net, SoC, position, reserves, reason
    settlement.parquet     per interval, asset and stream: quantity_mw, price, revenue_eur
    monthly.csv            revenue by month and stream
    reconciliation.csv     per day: baseline plan vs revised plan vs realised, at actual prices
    handoff.json           the last day's site schedule and asset allocations, for downstream systems
    operable.parquet       with through_control: per interval and asset, planned vs delivered MW, SoC,
                           recovery trades, activation asked per product, non-delivery
    interventions.csv      with through_control: every limiter intervention (asset, reason, start, end)
    report.html, plots/    the report with its PNG figures
    error.txt              only if the run stopped: the day and the reason (the rest is kept)
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from .. import artifacts
from ..analytics import plots
from ..config import Site
from ..data.frequency import load_frequency
from ..data.generation import site_generation
from ..data.market import MarketPrices, load_market_prices
from ..dispatch.engine import BacktestError, Trace, WalkForward
from ..errors import DataError
from ..forecast import make_forecaster
from .forecast_quality import forecast_quality
from ..forecast.perfect import PerfectForesight
from ..markets import get_zone
from ..markets import settlement as money
from ..markets.gates import DEFAULT_GATES, Gate
from ..sidecar import Sidecar
from ..timegrid import at_local_midnight, iso, local_midnight_utc, utc_iso
from . import operable
from .config import BacktestConfig
from .operable import Operable
from .settlement import generator_reasons, long_settlement, naive_rule, reason_codes, settle


@dataclass
class BacktestResult:
    summary: dict
    realised: pl.DataFrame
    settlement: pl.DataFrame
    monthly: pl.DataFrame
    trace: Trace | None = None
    baselines: dict[str, Trace] = field(default_factory=dict)
    streams: dict[str, np.ndarray] = field(default_factory=dict)  # revenue per stream, asset x interval
    out_dir: Path | None = None
    operable: Operable | None = None  # with through_control: the plan as delivered

    @property
    def revenue_eur(self) -> float:
        return self.summary["revenue_eur"]


def history_days(forecast: dict) -> int:
    """Whole days of prices before a window's first day that its forecast needs."""
    lags = forecast.get("lags_days", [1]) if forecast.get("type", "persistence") == "persistence" else [1]
    return max(lags if isinstance(lags, list) else [lags]) + 1


def history_wanted(forecast: dict) -> int:
    """Whole days of prices before the window a forecast can use when the data have them (a learned
    forecast trains on them); at least history_days."""
    if forecast.get("type") == "gbm":
        return max(history_days(forecast), int(forecast.get("train_days", 365)) + 8)
    return history_days(forecast)


def load(cfg: BacktestConfig, base_dir: Path) -> tuple[Site, MarketPrices, tuple[int, int], np.ndarray]:
    site = cfg.load_site(base_dir).with_products(cfg.traded)
    tz = get_zone(site.zone).timezone
    w_start, w_end = local_midnight_utc(cfg.window.start, tz), local_midnight_utc(cfg.window.end, tz)
    need_start = w_start - np.timedelta64(history_days(cfg.forecast), "D")
    want_start = w_start - np.timedelta64(history_wanted(cfg.forecast), "D")
    want_end = w_end + np.timedelta64(int(cfg.lookahead_h * 60), "m")
    day_ahead = cfg.prices.day_ahead
    da_only = load_market_prices(site.zone, ("da",), day_ahead, fill=cfg.fill, base_dir=base_dir)
    span = da_only.grid
    start, end = max(want_start, span.start), min(want_end, span.end)
    if max(need_start, span.start) > w_start or end < w_end:
        raise DataError(f"window {cfg.window.start}..{cfg.window.end} ({iso(w_start)}..{iso(w_end)}) is not inside "
                        f"the day-ahead prices {iso(span.start)}..{iso(span.end)}")
    start = at_local_midnight(start, tz)  # whole local days, so that days and blocks are whole
    market = load_market_prices(site.zone, site.markets.products, day_ahead, cfg.prices.reserves, start, end,
                                cfg.resolution, cfg.fill, base_dir)
    ts = market.grid.timestamps
    window = (int(np.searchsorted(ts, w_start)), int(np.searchsorted(ts, w_end)))
    if cfg.prices.intraday:
        intraday = load_market_prices(site.zone, ("da",), cfg.prices.intraday, start=start, end=end,
                                      resolution=cfg.resolution, fill=cfg.fill, base_dir=base_dir).prices["da"]
    else:
        intraday = market.prices["da"]
    return site, market, window, intraday


def _gates(cfg: BacktestConfig) -> tuple[Gate, ...]:
    known = {g.name for g in DEFAULT_GATES}
    unknown = set(cfg.gate_hours) - known
    if unknown:
        raise DataError(f"gate_hours: unknown gate(s) {', '.join(sorted(unknown))}; known: {', '.join(sorted(known))}")
    return tuple(Gate(g.name, g.products, cfg.gate_hours.get(g.name, g.hour), g.tz, g.days_before) for g in DEFAULT_GATES)


def backtest(config: BacktestConfig | str | Path, out_dir: str | Path | None = None, progress=None, *,
             base_dir: str | Path | None = None, sidecar: Sidecar | None = None) -> BacktestResult:
    """Walk-forward backtest of a site: realised revenue by stream, capture rate against the oracle
    and the baselines, schedules, and (with `out_dir`) the artifacts and the HTML report.

    With `out_dir`, the oracle baseline and the plots run in a second process (`sidecar`, one of its
    own when none is given; closed at the end either way).

    Relative references in a config object resolve against `base_dir` (default: the current folder);
    a YAML path's against its own folder."""
    base_dir = Path(base_dir or Path.cwd())
    if not isinstance(config, BacktestConfig):
        base_dir = Path(config).resolve().parent
        config = BacktestConfig.from_yaml(config)
    cfg = config
    t0 = time.perf_counter()
    out = Path(out_dir) if out_dir else None
    # with an output folder, a second process takes the oracle baseline (on the other core, while the
    # main run walks here) and then the report's plots; it starts first, as it has to import too
    side = sidecar or (Sidecar(__name__) if out is not None else None)
    try:
        site, market, window, intraday = load(cfg, base_dir)
        generation = site_generation(site, market.grid, None, base_dir)  # PV / wind, dispatched in every run
        products = cfg.traded
        gates = _gates(cfg)
        spread = cfg.revision.intraday_spread_eur_mwh if cfg.revision else 0.0
        checkpoints = cfg.revision.checkpoints_h if cfg.revision else None

        def engine(prods, forecaster, cps=None) -> WalkForward:
            return WalkForward(site, market, window, prods, forecaster, cfg.lookahead_h, cps, intraday, spread, gates,
                               generation)

        oracle = None
        if side is not None and "oracle" in cfg.baselines:
            oracle = side.submit(_walk, site, market, window, products, PerfectForesight(), cfg.lookahead_h, None,
                                 intraday, spread, gates, generation)
            side.submit(plots.import_matplotlib)
        forecaster = make_forecaster(cfg.forecast, base_dir)
        main = engine(products, forecaster, checkpoints)
        t_main = time.perf_counter()
        try:
            trace = main.run(progress)
        except BacktestError as e:
            if out is not None and e.trace is not None and e.trace.days_done > 0:
                _write_partial(out, cfg, site, market, window, intraday, spread, e, side)
            raise
        main_seconds = time.perf_counter() - t_main
        # the week's dispatch needs only the main run: drawn while the baselines finish
        early = ([side.submit(plots.draw, *_week_plot(out / "plots", cfg, site, market, window, trace))]
                 if side is not None and out is not None else [])

        baselines: dict[str, Trace] = {}
        if "oracle" in cfg.baselines:
            baselines["oracle"] = oracle.result() if oracle is not None else engine(products, PerfectForesight()).run()
        if "da_only" in cfg.baselines:  # a day-ahead-only run without revisions is its own da_only baseline
            same = tuple(products) == ("da",) and checkpoints is None
            baselines["da_only"] = trace if same else engine(("da",), make_forecaster(cfg.forecast, base_dir)).run()
        if "naive" in cfg.baselines:
            baselines["naive"] = _naive(cfg, site, market, window, base_dir, gates, generation)

        result = _assemble(cfg, site, market, window, intraday, spread, trace, baselines, forecaster.name)
        result.summary["forecast_quality"] = forecast_quality(
            main.forecast_log, market.prices, main.day_start, market.grid.timestamps, window,
            int(round(1 / market.grid.dt_hours)))
        if hasattr(forecaster, "fit_seconds"):
            result.summary["forecast_quality"]["fit_seconds"] = forecaster.fit_seconds
            result.summary["forecast_quality"]["exogenous_missing"] = {x.name: x.missing for x in forecaster.exogenous}
        t_operable = time.perf_counter()
        if cfg.through_control is not None:
            result.operable, block = _through_control(cfg, site, market, window, intraday, spread, trace,
                                                      result.revenue_eur, base_dir)
            result.summary["operable"] = block
        result.summary["timing"] = {"operable_seconds": time.perf_counter() - t_operable,"total_seconds": time.perf_counter() - t0, "main_run_seconds": main_seconds,
                                    "main_highs_seconds": trace.solve_seconds, "main_solves": trace.solves,
                                    "main_model_passes": trace.rebuilds}
        if out is not None:
            write_artifacts(out, cfg, site, market, window, trace, result, side, early)
        return result
    finally:  # the sidecar ends with the run, however it ends
        if side is not None:
            side.close()


def _through_control(cfg, site, market, window, intraday, spread, trace: Trace, plan_revenue: float, base_dir):
    """The plan delivered through the control pipeline on measured frequency (`operable.py`)."""
    tc = cfg.through_control
    zone = get_zone(site.zone)
    freq = load_frequency(tc.frequency, zone, tc.control.nominal_hz, base_dir)
    dt = market.grid.dt_hours
    start_s = int(trace.timestamps[0].astype("datetime64[s]").astype(np.int64))
    seconds = tc.warmup_s + int(round(trace.timestamps.size * dt * 3600))
    hz, filled = freq.over(start_s - tc.warmup_s, seconds)
    op = operable.deliver(site, trace, hz, start_s, dt, tc)
    w0, w1 = window
    prices = {p: v[w0:w1] for p, v in market.prices.items()}
    streams = operable.settle(trace, op, site, prices, intraday[w0:w1], spread, dt, tc.penalty_multiple)
    info = {"source": freq.source, "sample_seconds": int(freq.hz.size), "filled_seconds": filled,
            "restamp": "the sample repeated over the window, its UTC time of day kept",
            "mean_hz": float(hz.mean()), "min_hz": float(hz.min()), "max_hz": float(hz.max())}
    op.streams = streams
    return op, operable.summary_block(trace, op, streams, plan_revenue, info, dt)


def _walk(site, market, window, products, forecaster, lookahead_h, checkpoints, intraday, spread, gates,
          generation) -> Trace:
    """One walk-forward, as a function a sidecar can run."""
    return WalkForward(site, market, window, products, forecaster, lookahead_h, checkpoints, intraday, spread,
                       gates, generation).run()


def _naive(cfg, site, market, window, base_dir, gates, generation) -> Trace:
    """Forecast each day's prices at the day-ahead gate, then apply the rule."""
    w0, w1 = window
    wf = WalkForward(site, market, window, ("da",), make_forecaster(cfg.forecast, base_dir), 0.0, None,
                     market.prices["da"], 0.0, gates)
    forecast = np.zeros(w1 - w0)
    day_edges = []
    for d in range(len(wf.day_start) - 1):
        a, b = int(wf.day_start[d]), int(wf.day_start[d + 1])
        if not w0 <= a < w1:
            continue
        fc = wf.forecast(wf.gate_time["day_ahead"][d], np.arange(a, b), str(wf.day_dates[d]))
        forecast[a - w0:b - w0] = fc["da"]
        day_edges.append(a - w0)
    day_edges.append(w1 - w0)
    return naive_rule(site, forecast, np.array(day_edges), market.grid.dt_hours, cfg.naive_hours,
                      generation.window(w0, w1) if generation is not None else None)


def _streams(trace: Trace, site, market, window, intraday, spread) -> dict[str, np.ndarray]:
    w0, w1 = window
    prices = {p: v[w0:w1] for p, v in market.prices.items()}
    return settle(trace, site, prices, intraday[w0:w1], spread, market.grid.dt_hours)


def _assemble(cfg, site, market, window, intraday, spread, trace, baselines, forecast_name) -> BacktestResult:
    w0, w1 = window
    dt = market.grid.dt_hours
    tz = get_zone(site.zone).timezone
    streams = _streams(trace, site, market, window, intraday, spread)
    by_stream = {k: float(v.sum()) for k, v in streams.items()}
    revenue = float(money.revenue(streams).sum())
    base_rev = {name: float(money.revenue(_streams(t, site, market, window, intraday, spread)).sum())
                for name, t in baselines.items()}
    oracle = base_rev.get("oracle")
    ts = pl.Series("timestamp", trace.timestamps).dt.replace_time_zone("UTC")
    assets = trace.assets
    n = w1 - w0
    energy = site.fleet.energy_mwh[:, None]
    codes = reason_codes(trace, site)
    total = sum(streams.values())
    realised = pl.DataFrame({
        "timestamp": pl.concat([ts] * len(assets)), "asset": np.repeat(assets, n),
        "charge_mw": trace.charge.ravel(), "discharge_mw": trace.discharge.ravel(), "net_mw": trace.net.ravel(),
        "soc_end_mwh": trace.soc.ravel(), "soc_end_frac": (trace.soc / energy).ravel(),
        "da_position_mw": trace.position.ravel(), "intraday_mw": (trace.net - trace.position).ravel(),
        **{f"reserve_{p}_mw": r.ravel() for p, r in trace.reserves.items()},
        "price_da_eur_mwh": np.tile(market.prices["da"][w0:w1], len(assets)),
        "revenue_eur": total[:len(assets)].ravel(), "reason": codes.ravel().astype(str),
    })
    da = market.prices["da"][w0:w1]
    price_of = {**{p: market.prices[p][w0:w1] for p in market.prices}, "intraday": intraday[w0:w1],
                "degradation": np.full(n, 0.0), "generation_da": da}
    A, G = len(assets), 0
    if trace.generation is not None:  # the generators' rows (their battery columns null)
        gens = trace.generators
        G = len(gens.ids)
        realised = pl.concat([realised, pl.DataFrame({
            "timestamp": pl.concat([ts] * G), "asset": np.repeat(gens.ids, n), "net_mw": trace.generation.ravel(),
            "da_position_mw": trace.generation_position.ravel(),
            "intraday_mw": (trace.generation - trace.generation_position).ravel(),
            "generation_mw": trace.generation.ravel(), "available_mw": gens.available_mw.ravel(),
            "curtailed_mw": (gens.available_mw - trace.generation).ravel(), "to_battery_mw": trace.to_battery.ravel(),
            "price_da_eur_mwh": np.tile(da, G), "revenue_eur": total[A:].ravel(),
            "reason": generator_reasons(trace).ravel().astype(str)})], how="diagonal")
        price_of["feed_in_premium"] = np.vstack([np.zeros((A, n)), gens.premium(da)])
        assets = [*assets, *gens.ids]
    rows = lambda battery=None, generator=None: np.vstack([  # noqa: E731 - batteries' rows, then generators'
        battery if battery is not None else np.zeros((A, n)), generator if generator is not None else np.zeros((G, n))])
    made = {} if not G else {"intraday": trace.generation - trace.generation_position,
                             "generation_da": trace.generation_position,
                             "feed_in_premium": trace.generation - trace.to_battery}
    quantities = {"da": rows(trace.position), **{p: rows(r) for p, r in trace.reserves.items()},
                  "intraday": rows(trace.net - trace.position, made.get("intraday")),
                  "degradation": rows(trace.discharge), "generation_da": rows(None, made.get("generation_da")),
                  "feed_in_premium": rows(None, made.get("feed_in_premium"))}
    settlement = long_settlement(ts, assets, streams, quantities, price_of, A)
    from ..analytics.kpis import cycle_kpis
    from ..analytics.kpis import monthly as monthly_table

    monthly = monthly_table(pl.DataFrame({"timestamp": ts, **{k: v.sum(axis=0) for k, v in streams.items()}}), tz)

    cycles = {b.id: cycle_kpis(trace.discharge[i], trace.soc[i] / b.energy_mwh, b.usable_mwh, dt)
              for i, b in enumerate(site.batteries)}
    total_cycles = {"equivalent_full_cycles": sum(c["equivalent_full_cycles"] for c in cycles.values()),
                    "rainflow_cycles": sum(c["rainflow_cycles"] for c in cycles.values())}
    summary = {
        "name": cfg.name, "status": "ok", "site": site.id, "zone": site.zone, "workflow": cfg.workflow,
        "schedule_revision": cfg.revision is not None, "forecast": forecast_name,
        "window": {"start": str(cfg.window.start), "end": str(cfg.window.end), "start_utc": iso(trace.timestamps[0]),
                   "intervals": n, "resolution_min": market.grid.resolution_min},
        "days": trace.days_done,
        "revenue_eur": revenue,
        "profit_eur": revenue + by_stream.get("degradation", 0.0),
        "revenue_by_stream_eur": by_stream,
        "oracle_revenue_eur": oracle,
        "capture_rate": revenue / oracle if oracle else None,
        "baselines_revenue_eur": base_rev,
        "baselines_capture_rate": {k: v / oracle for k, v in base_rev.items()} if oracle else {},
        "cycles": {**total_cycles, "assets": cycles},
        "revisions": len(trace.revisions),
        "revisions_skipped": trace.skipped_revisions,
        "data_sources": market.sources,
    }
    if G:
        summary["generation"] = trace.generators.energy_mwh(trace.generation, trace.to_battery, dt)
    return BacktestResult(summary, realised, settlement, monthly, trace, baselines, streams)


def _plan_frame(ts, assets, net, soc) -> pl.DataFrame:
    n = len(ts)
    return pl.DataFrame({"timestamp": pl.concat([ts] * len(assets)), "asset": np.repeat(assets, n),
                         "net_mw": net.ravel(), "soc_end_mwh": soc.ravel()})


def write_artifacts(out: Path, cfg, site, market, window, trace: Trace, result: BacktestResult,
                    side: Sidecar | None = None, early: list = ()) -> Path:
    """Every file of a backtest's folder. The plots draw in `side` (a sidecar of its own when none
    is given) while the tables are written here; `early`: handles of figures already submitted."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "plots").mkdir(exist_ok=True)
    own = side is None
    side = side or Sidecar()
    figures = ([] if early else [_week_plot(out / "plots", cfg, site, market, window, trace)]) + \
        _result_plots(out / "plots", site, market, window, trace, result)
    try:
        handles = list(early) + [side.submit(plots.draw, name, args) for name, args in figures]
        _write_tables(out, cfg, site, market, window, trace, result)
        paths = [h.result() for h in handles]
    finally:
        if own:
            side.close()
    from ..analytics.report import write_report

    write_report(out / "report.html", result.summary, result.monthly, paths)
    result.out_dir = out
    return out


def _write_tables(out: Path, cfg, site, market, window, trace: Trace, result: BacktestResult) -> None:
    w0, w1 = window
    dt = market.grid.dt_hours
    ts = pl.Series("timestamp", trace.timestamps).dt.replace_time_zone("UTC")
    resolved = {"backtest": cfg.model_dump(mode="json"), "site": site.model_dump(mode="json")}
    artifacts.write(out / "config.resolved.json", resolved)
    artifacts.write(out / "baseline.parquet", _plan_frame(ts, trace.assets, trace.baseline_net, trace.baseline_soc))
    rev_rows = []
    for r in trace.revisions:
        k = r["first"]
        m = min(r["net"].shape[1], len(ts) - k)  # a run that stopped early kept fewer intervals than a revision planned
        frame = _plan_frame(ts[k:k + m], trace.assets, r["net"][:, :m], r["soc"][:, :m]).with_columns(
            pl.lit(r["day"]).alias("day"),
            pl.lit(iso(r["checkpoint"])).alias("checkpoint_utc"))
        rev_rows.append(frame)
    no_revisions = pl.DataFrame(schema={"timestamp": pl.Datetime("us", "UTC"), "asset": pl.String, "net_mw": pl.Float64,
                                        "soc_end_mwh": pl.Float64, "day": pl.String, "checkpoint_utc": pl.String})
    artifacts.write(out / "revisions.parquet", pl.concat(rev_rows) if rev_rows else no_revisions)
    artifacts.write(out / "realised.parquet", result.realised)
    artifacts.write(out / "settlement.parquet", result.settlement)
    artifacts.write(out / "monthly.csv", result.monthly)
    artifacts.write(out / "reconciliation.csv", _reconciliation(result, trace, site, market, window, dt))
    _handoff(out / "handoff.json", trace, site)
    if result.operable is not None:
        frame, events = operable.frames(ts, trace, result.operable)
        artifacts.write(out / "operable.parquet", frame)
        artifacts.write(out / "interventions.csv", events)
    artifacts.write(out / "summary.json", result.summary)


def _reconciliation(result, trace, site, market, window, dt) -> pl.DataFrame:
    """Per day, the value at actual prices of: the plan after the gates (baseline), the plan after
    revisions (revised), and what was settled (realised). Without physics they agree on revised."""
    w0, w1 = window
    prices = {p: v[w0:w1] for p, v in market.prices.items()}
    baseline = Trace(trace.timestamps, trace.assets, np.maximum(-trace.baseline_net, 0.0),
                     np.maximum(trace.baseline_net, 0.0), trace.baseline_soc, trace.baseline_net, trace.baseline_net,
                     trace.baseline_soc, trace.reserves)
    if trace.generation is not None:  # the generators' plan after the gates is their day-ahead position
        baseline.generation = baseline.generation_position = trace.generation_position
        baseline.to_battery = np.minimum(trace.to_battery, trace.generation_position)
        baseline.generators = trace.generators
    value = lambda streams: money.revenue(streams).sum(axis=0)  # noqa: E731
    tz = get_zone(site.zone).timezone
    frame = pl.DataFrame({"timestamp": pl.Series(trace.timestamps).dt.replace_time_zone("UTC"),
                          "baseline_eur": value(settle(baseline, site, prices, prices["da"], 0.0, dt)),
                          "revised_eur": value(result.streams), "realised_eur": value(result.streams)})
    return (frame.with_columns(pl.col("timestamp").dt.convert_time_zone(tz).dt.date().alias("day"))
            .group_by("day").agg(pl.col("baseline_eur", "revised_eur", "realised_eur").sum()).sort("day")
            .with_columns((pl.col("revised_eur") - pl.col("baseline_eur")).alias("revision_gain_eur"),
                          (pl.col("realised_eur") - pl.col("revised_eur")).alias("delivery_gap_eur")))


def _handoff(path: Path, trace: Trace, site: Site) -> None:
    """The last delivery day's schedule: what downstream systems (EMS, trading desk) consume."""
    n_day = int(round(24 / ((trace.timestamps[1] - trace.timestamps[0]) / np.timedelta64(1, "h"))))
    sl = slice(max(0, trace.timestamps.size - n_day), trace.timestamps.size)
    gen = trace.generation if trace.generation is not None else np.zeros((0, trace.timestamps.size))
    gen_ids = trace.generators.ids if trace.generation is not None else []
    payload = {
        "schema": "bess-ray/handoff/1", "site": site.id, "zone": site.zone,
        "created_utc": utc_iso(),
        "sign": "net_mw > 0 is export / discharge", "intervals": [
            {"start_utc": iso(t),
             "site_net_mw": round(float(trace.net[:, j].sum() + gen[:, j].sum()), 6),
             "assets": {**{a: {"net_mw": round(float(trace.net[i, j]), 6), "soc_end_mwh": round(float(trace.soc[i, j]), 6),
                               **{f"reserve_{p}_mw": round(float(r[i, j]), 6) for p, r in trace.reserves.items()}}
                           for i, a in enumerate(trace.assets)},
                        **{g: {"net_mw": round(float(gen[k, j]), 6)} for k, g in enumerate(gen_ids)}}}
            for j, t in zip(range(sl.start, sl.stop), trace.timestamps[sl])],
    }
    artifacts.write(path, payload, indent=1)


def _week_plot(folder: Path, cfg, site, market, window, trace: Trace) -> tuple:
    """The report's week of price, dispatch and SoC, as (figure, arguments) for plots.draw."""
    w0, _ = window
    ts = trace.timestamps
    week_start = np.datetime64(str(cfg.report_week or cfg.window.start))
    i0 = int(np.searchsorted(ts, week_start))
    if i0 >= ts.size:  # a report week outside the window (a window shortened, its week kept): the first week
        i0 = 0
    i1 = min(ts.size, i0 + int(round(7 * 24 / market.grid.dt_hours)))
    energy = sum(b.energy_mwh for b in site.batteries)
    return ("week_dispatch", (folder / "week_dispatch.png", ts[i0:i1], market.prices["da"][w0 + i0:w0 + i1],
                              trace.net[:, i0:i1].sum(axis=0), trace.soc[:, i0:i1].sum(axis=0) / energy,
                              f"{site.id}: price, dispatch and SoC, week of {np.datetime_as_string(ts[i0], 'D')}",
                              market.sources.get("da", "")))


def _result_plots(folder: Path, site, market, window, trace: Trace, result) -> list[tuple]:
    """The report's figures of money: monthly by stream, cumulative against the baselines."""
    source = market.sources.get("da", "")
    streams = [c for c in result.monthly.columns if c not in ("month", "total_eur")]
    figs = [("monthly_stacked", (folder / "monthly_revenue.png", result.monthly, streams,
                                 f"{site.id}: monthly revenue by stream", source))]
    series = {"realised": money.revenue(result.streams).sum(axis=0)}
    for name, t in result.baselines.items():  # baselines trade no intraday
        series[name] = money.revenue(_streams(t, site, market, window, market.prices["da"], 0.0)).sum(axis=0)
    figs.append(("cumulative", (folder / "cumulative_revenue.png", trace.timestamps, series,
                                f"{site.id}: cumulative revenue against the baselines", source)))
    op = result.operable
    if op is not None:
        operable_rev = money.revenue(op.streams).sum(axis=0)
        figs.append(("plan_vs_operable", (folder / "plan_vs_operable.png", trace.timestamps,
                                          trace.soc.sum(axis=0), op.soc.sum(axis=0), series["realised"], operable_rev,
                                          f"{site.id}: plan vs operable (through the control pipeline, "
                                          f"{result.summary['operable']['frequency']['source']} frequency)", source)))
    return figs


def _write_partial(out: Path, cfg, site, market, window, intraday, spread, e: BacktestError, side=None) -> None:
    trace: Trace = e.trace
    done = trace.days_done
    sub = trace.first(int(np.count_nonzero(trace.timestamps < e.first_undone)))
    n = sub.timestamps.size
    w0 = window[0]
    result = _assemble(cfg, site, market, (w0, w0 + n), intraday, spread, sub, {}, "partial run")
    result.summary["status"] = "failed"
    result.summary["error"] = str(e)
    write_artifacts(out, cfg, site, market, (w0, w0 + n), sub, result, side)
    artifacts.write(out / "error.txt", f"{e}\n{done} day(s) completed before the failure; their artifacts are kept.\n")
