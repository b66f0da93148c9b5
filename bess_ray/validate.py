"""`bess-ray validate`: a site config and the data it references, checked before anything runs."""
from __future__ import annotations

from pathlib import Path

from .config import Site
from .data.market import load_market_prices
from .data.series import read_series
from .timegrid import iso


def validate_file(path: Path, prices=None, reserve_prices=None, fill: str | None = None) -> list[str]:
    """Lines of a report; raises ConfigError / DataError naming the first hard problem.

    A site config is checked with the profiles it references (and, when given, prices); a
    backtest config with its site, its price sources over the window and its forecast.
    """
    from .config import read_yaml

    data = read_yaml(path)
    if "cluster_name" in data and "provider" in data:
        from .cluster.check import validate_launcher_config

        return validate_launcher_config(Path(path), data)
    if "kind" in data and "base" in data:
        return _validate_sweep(Path(path))
    if "window" in data:
        return _validate_backtest(Path(path))
    if "start_year" in data:
        return _validate_simulation(Path(path))
    if "flows" in data:
        return _validate_flows(Path(path))
    site = Site.from_yaml(path)
    base = Path(path).parent
    lines = [f"{path}: site {site.id} in {site.zone}, {len(site.batteries)} battery(ies), "
             f"products {', '.join(site.markets.products)}: config ok"]
    for b in site.batteries:
        lines.append(f"  battery {b.id}: {b.charge_mw:.4g} MW charge / {b.discharge_mw:.4g} MW discharge at the "
                     f"terminals, {b.energy_mwh:g} MWh; wear {b.discharge_cost_eur_mwh:.2f} EUR per MWh discharged, "
                     f"{b.charge_cost_eur_mwh:.2f} per MWh charged"
                     + ("; joint charge-discharge row" if b.joint_power_limit else ""))
        for lim in b.limits:
            lines.append(f"    limit {_limit_text(lim)}")
    for asset in site.generators:
        if getattr(asset, "location", None) is not None:
            loc = asset.location
            lines.append(f"  pv {asset.id}: profile from pvlib at {loc.latitude:g} N {loc.longitude:g} E, tilt "
                         f"{loc.tilt:g}, azimuth {loc.azimuth:g}, {loc.weather or 'clear sky'}")
            continue
        ref, what = (asset.profile, "profile") if asset.profile else (asset.wind_speed, "wind_speed")
        series = read_series(ref, product="profile", base_dir=base, fill=fill)
        lines.append(f"  {asset.type} {asset.id}: {what} {series.report}")
    for c in site.constraints:
        params = ", ".join(f"{k}={v!r}" for k, v in c.params.items())
        lines.append(f"  constraint {c.label}: {c.function}({params})")
    if prices:
        market = load_market_prices(site.zone, site.markets.products, prices, reserve_prices, fill=fill,
                                    base_dir=base)
        lines.append(f"  prices cover {market.grid.periods} intervals from {iso(market.grid.start)} for "
                     f"{', '.join(market.prices)}: ok")
    return lines


def _limit_text(lim) -> str:
    when = f"at {lim.at.isoformat()}" if lim.at is not None else f"{lim.start.isoformat()} .. {lim.end.isoformat()}"
    what = ["outage"] if not lim.available else []
    what += [f"{name} {getattr(lim, name):g}" for name in ("charge_mw", "discharge_mw", "soc_min", "soc_max")
             if getattr(lim, name) is not None]
    return f"{when}: {', '.join(what)}" + (f" ({lim.reason})" if lim.reason else "")


def _validate_flows(path: Path) -> list[str]:
    from zoneinfo import ZoneInfo

    from .flows.spec import REFERENCE_DAY, load_flows, trigger_instants
    from .markets import get_zone

    flows = load_flows(path)
    lines = [f"{path}: flows {flows.name}: {len(flows.spec.flows)} flows for sites {', '.join(flows.operations)}: "
             "config ok"]
    for entry in flows.spec.flows:
        for site in flows.sites_of(entry):
            tz = get_zone(flows.operations[site].site.zone).timezone
            fires = trigger_instants(entry.at, REFERENCE_DAY, tz)
            when = (f"{len(fires)} times a day" if len(fires) > 1 else
                    f"{fires[0].astimezone(ZoneInfo(tz)):%a %H:%M} local" if fires else "never")
            lines.append(f"  {entry.flow} {entry.version} for {site}: for delivery {REFERENCE_DAY:%a} {REFERENCE_DAY} "
                         f"it runs {when}")
    return lines


def _validate_backtest(path: Path) -> list[str]:
    from .backtesting.config import BacktestConfig
    from .backtesting.run import load
    from .data.generation import site_generation
    from .forecast import make_forecaster

    cfg = BacktestConfig.from_yaml(path)
    site, market, window, _ = load(cfg, path.resolve().parent)
    forecaster = make_forecaster(cfg.forecast, path.resolve().parent)
    days = (window[1] - window[0]) * market.grid.dt_hours / 24
    gen = site_generation(site, market.grid, None, path.resolve().parent)  # a profile that falls short fails here
    dispatched = [] if gen is None else [
        "  generators dispatched with the batteries: " + ", ".join(
            f"{g} ({gen.available_mw[j, window[0]:window[1]].sum() * market.grid.dt_hours:,.0f} MWh available)"
            for j, g in enumerate(gen.ids))]
    return [f"{path}: backtest {cfg.name}: config ok",
            f"  site {site.id} ({site.zone}), workflow {cfg.workflow}, products {', '.join(site.markets.products)}",
            f"  prices cover the window ({days:.0f} days from {iso(market.grid.timestamps[window[0]])}) with history "
            f"and look-ahead: {', '.join(f'{p} from {s}' for p, s in market.sources.items())}",
            f"  forecast: {forecaster.name}"] + dispatched + _through_control_lines(cfg, site, path)


def _through_control_lines(cfg, site, path: Path) -> list[str]:
    if cfg.through_control is None:
        return []
    from .data.frequency import load_frequency
    from .markets import get_zone

    tc = cfg.through_control
    f = load_frequency(tc.frequency, get_zone(site.zone), tc.control.nominal_hz, path.resolve().parent)
    filled = int(f.filled.sum()) if f.filled is not None else 0
    return [f"  through the control pipeline on {f.source} frequency: {f.hz.size:,} s, {filled} missing s filled, "
            f"{f.hz.min():.3f}..{f.hz.max():.3f} Hz"]


def _validate_simulation(path: Path) -> list[str]:
    from .simulation.config import SimulationConfig
    from .simulation.inputs import prepare

    cfg = SimulationConfig.from_yaml(path)
    inputs = prepare(cfg, path.resolve().parent)
    site = inputs.site
    gens = ", ".join(inputs.generation.ids) if inputs.generation is not None else "none"
    return [f"{path}: simulation {cfg.name}: config ok",
            f"  site {site.id} ({site.zone}), {cfg.years} years from {cfg.start_year}, {cfg.mode}, "
            f"products {', '.join(site.markets.products)}, generators: {gens}",
            f"  prices for every year: {', '.join(f'{p} from {s}' for p, s in inputs.market.sources.items())}",
            "  degradation cost in the objective: "
            + ", ".join(f"{b.id} {b.degradation_cost_eur_mwh:.2f} EUR/MWh" for b in site.batteries)]


def _validate_sweep(path: Path) -> list[str]:
    from .data.series import memo
    from .sweeps.case import first_backtest_day, load_shared
    from .sweeps.spec import load_sweep

    with memo() as series:
        sweep = load_sweep(path, first_day=first_backtest_day)
        load_shared(sweep, series)
    keys = {c.data_key for c in sweep.cases}
    return [f"{path}: sweep {sweep.spec.name}: {len(sweep.cases)} {sweep.kind} case(s): config ok",
            f"  data of {len(keys)} distinct price / window combination(s) read and checked: "
            f"{len(series)} series, {sum(s.frame.height for s in series.values()):,} rows"]
