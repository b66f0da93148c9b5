"""The trading flows: day-ahead trading, the day-ahead auction's bid curves, aFRR capacity and its
activation, and intraday re-optimisation. Each forecasts from the store's visible history and
optimises the delivery day with everything committed by earlier runs of that day locked.
"""
from __future__ import annotations

from datetime import timedelta

import numpy as np
from pydantic import Field, model_validator

from ..markets.gates import DEFAULT_GATES, gates_for
from ..optimization.blocks import IntradayTrade
from .context import FlowContext, gate_instant
from .planning import checked, forecast_day, locks_from, plan_outputs, require_independent_days, solve_day, stamps
from .registry import FlowError, Params, flow


def _gate_open(ctx: FlowContext, products) -> None:
    """Refuse to commit a product whose gate for the delivery day has closed at the run's time."""
    for g in gates_for(tuple(products), DEFAULT_GATES):
        closes = gate_instant(g.name, ctx.delivery)
        if closes.timestamp() <= ctx.now:
            raise FlowError(f"the {g.name} gate for {ctx.delivery} closed at {closes.isoformat()}, before this run "
                            f"({ctx.now_dt.isoformat()}): {', '.join(g.products)} can no longer be committed")


class TradingParams(Params):
    lags_days: list[int] = Field([1], description="persistence lags of the price forecast (days)")
    weights: list[float] | None = Field(None, description="blend weights of the lags (default equal)")
    products: list[str] | None = Field(None, description="products to commit (default: the site's, less those "
                                                         "committed by earlier runs of the day)")

    @model_validator(mode="after")
    def _lags(self):
        if any(k < 1 for k in self.lags_days) or (self.weights is not None and len(self.weights) != len(self.lags_days)):
            raise ValueError("lags_days: whole days >= 1, with one weight per lag")
        return self


class TradingV2Params(TradingParams):
    lags_days: list[int] = Field([1, 7], description="persistence lags of the price forecast (days)")
    weights: list[float] | None = Field([0.5, 0.5], description="blend weights of the lags")


class TradingV3Params(Params):
    train_days: int = Field(180, ge=28, description="days of visible history the gbm forecast is fitted on")
    persistence_weight: float = Field(0.5, ge=0, lt=1, description="share of the D-1 / D-7 blend in the forecast")
    seed: int = Field(0, description="LightGBM's seed: the same history and seed give the same forecast")
    products: list[str] | None = Field(None, description="products to commit (default: the site's, less those "
                                                         "committed by earlier runs of the day)")


def _trading(ctx: FlowContext, p, forecast_of) -> dict:
    """`forecast_of(products)`: the delivery day's forecast of those products."""
    require_independent_days(ctx.site)
    locks, done = locks_from(ctx, ctx.grid)
    site_products = list(ctx.site.markets.products)
    unknown = sorted(set(p.products or []) - set(site_products))
    if unknown:
        raise FlowError(f"products {', '.join(unknown)}: not traded by site {ctx.site.id} ({', '.join(site_products)})")
    commit = [x for x in (p.products or site_products) if x not in done]
    if not commit:
        raise FlowError(f"nothing left to commit for {ctx.delivery}: {', '.join(sorted(done))} committed already")
    _gate_open(ctx, commit)
    forecast = forecast_of(site_products)
    f, x = solve_day(ctx, forecast, site_products, locks)
    out = plan_outputs(ctx, f, x, commit, forecast)
    out["schedule"] = checked(ctx, out["schedule"])
    # what the forecast said the day's energy would earn (the money is settled at the real prices later)
    net = x[f.discharge].sum(0) - x[f.charge].sum(0)
    out["expected_da_eur"] = round(float(np.dot(forecast["da"], net) * ctx.grid.dt_hours), 2)
    return out


@flow("trading", "v1", TradingParams, hands_schedule=True)
def trading_v1(ctx: FlowContext, p: TradingParams) -> dict:
    """Day-ahead trading on a D-1 persistence forecast: position and reserve commitments."""
    return _trading(ctx, p, lambda products: _persistence(ctx, products, p))


@flow("trading", "v2", TradingV2Params, hands_schedule=True)
def trading_v2(ctx: FlowContext, p: TradingV2Params) -> dict:
    """Day-ahead trading on a 50/50 D-1 / D-7 persistence blend."""
    return _trading(ctx, p, lambda products: _persistence(ctx, products, p))


@flow("trading", "v3", TradingV3Params, hands_schedule=True)
def trading_v3(ctx: FlowContext, p: TradingV3Params) -> dict:
    """Day-ahead trading on the learned forecast (gbm: LightGBM fitted on the visible history at
    the run's time, half with the D-1 / D-7 blend by default)."""
    learned = {"train_days": p.train_days, "persistence_weight": p.persistence_weight, "seed": p.seed}
    return _trading(ctx, p, lambda products: forecast_day(ctx, products, [1, 7], [0.5, 0.5], learned))


def _persistence(ctx: FlowContext, products, p: TradingParams) -> dict:
    return forecast_day(ctx, products, p.lags_days, p.weights or [1.0] * len(p.lags_days))


# ------------------------------------------------------------------------------------------ aFRR
class AfrrParams(Params):
    lags_days: list[int] = Field([1, 7])
    weights: list[float] | None = Field([0.5, 0.5])
    bid_price_eur_mw_h: float = Field(0.0, ge=0.0, description="the capacity price asked (0: a price taker)")


@flow("afrr", "v1", AfrrParams, hands_schedule=True)
def afrr_v1(ctx: FlowContext, p: AfrrParams) -> dict:
    """aFRR capacity bids per 4-hour block before the aFRR gate, optimised with the day's energy."""
    require_independent_days(ctx.site)
    products = [x for x in ctx.site.markets.products if x in ("afrr_up", "afrr_down")]
    if not products:
        raise FlowError(f"site {ctx.site.id} does not trade aFRR (its products: {', '.join(ctx.site.markets.products)})")
    _gate_open(ctx, products)
    locks, done = locks_from(ctx, ctx.grid)
    site_products = list(ctx.site.markets.products)
    forecast = forecast_day(ctx, site_products, p.lags_days, p.weights or [1.0] * len(p.lags_days))
    f, x = solve_day(ctx, forecast, site_products, locks)
    out = plan_outputs(ctx, f, x, products, forecast)
    out["schedule"] = checked(ctx, out["schedule"])
    grid = ctx.grid
    bids = []
    for q in products:
        blocks = f.block_of[q]
        firsts = np.flatnonzero(np.r_[True, np.diff(blocks) != 0])
        mw = sum(np.asarray(out["assets"][b.id]["blocks_mw"][q]) for b in ctx.site.batteries)
        bids += [{"product": q, "block_start": stamps(grid)[i], "mw": round(float(m), 4),
                  "price_eur_mw_h": p.bid_price_eur_mw_h} for i, m in zip(firsts, mw) if m > 0]
    out["bids"] = {"schema": "bess-ray/afrr-bids/1", "site": ctx.site.id, "delivery": str(ctx.delivery), "bids": bids}
    return out


class ActivationParams(Params):
    signal: str = Field("proxy:frequency", description="'proxy:frequency' (the bundled measured CE frequency) or a "
                                                       "file with timestamp_utc and activation_frac (-1..1, > 0 up)")
    full_activation_mhz: float = Field(100.0, gt=0, description="the frequency deviation taken as full activation")
    resolution_min: int = Field(1, ge=1, le=15)


@flow("afrr_activation", "v1", ActivationParams, hands_schedule=True, period="hour")
def afrr_activation_v1(ctx: FlowContext, p: ActivationParams) -> dict:
    """aFRR activation setpoints for one delivery hour, as an obligation layer on the current plan."""
    afrr = ctx.earlier.get("afrr")
    if not afrr:
        raise FlowError(f"no aFRR commitment for {ctx.delivery}: the afrr flow has not succeeded for this day")
    grid = ctx.grid
    ts = grid.timestamps
    start = np.datetime64(int(ctx.period_start * 1e6), "us")
    step = np.timedelta64(p.resolution_min, "m")
    minutes = start + np.arange(60 // p.resolution_min) * step
    k = np.searchsorted(ts, minutes, side="right") - 1
    if (k < 0).any() or (minutes >= grid.end).any():
        raise FlowError(f"hour {start} is not in delivery day {ctx.delivery}")
    sched = afrr["schedule"]["reserves_mw"]
    up = np.asarray(sched.get("afrr_up", [0.0] * ts.size))[k]
    down = np.asarray(sched.get("afrr_down", [0.0] * ts.size))[k]
    frac = _activation(p, minutes, p.resolution_min)
    setpoint = np.where(frac > 0, frac * up, frac * down)
    base = _current_net(ctx)[k]
    poi = ctx.site.poi
    obligation = np.clip(base + setpoint, -poi.import_mw, poi.export_mw)
    schedule = {"timestamps": [str(m.astype("datetime64[s]")) + "Z" for m in minutes],
                "resolution_min": p.resolution_min, "obligation_mw": np.round(obligation, 6).tolist()}
    return {"delivery": str(ctx.delivery), "hour": schedule["timestamps"][0], "activation_mw": np.round(setpoint, 6).tolist(),
            "activation_mwh": round(float(np.abs(setpoint).sum() * p.resolution_min / 60), 6),
            "schedule": checked(ctx, schedule), "signal": p.signal}


def _activation(p: ActivationParams, minutes: np.ndarray, resolution_min: int) -> np.ndarray:
    if p.signal != "proxy:frequency":
        return _signal_file(p.signal, minutes)
    from ..data.frequency import load_frequency

    hz = load_frequency("sample:CE_2022-09-17")
    # the sample's second of the day at each minute's UTC time of day (the restamping rule of backtests)
    sec = ((minutes - minutes.astype("datetime64[D]")) // np.timedelta64(1, "s")).astype(np.int64)
    values, _ = hz.over(int(sec[0]), int(sec[-1] - sec[0]) + resolution_min * 60)
    per = values[: (values.size // (resolution_min * 60)) * resolution_min * 60].reshape(-1, resolution_min * 60)
    mean = per.mean(axis=1)[: minutes.size]
    return np.clip(-(mean - 50.0) * 1000.0 / p.full_activation_mhz, -1.0, 1.0)


def _signal_file(path: str, minutes: np.ndarray) -> np.ndarray:
    """A TSO's activation signal: `timestamp_utc` and `activation_frac` (-1..1), held between rows."""
    import polars as pl

    try:
        frame = pl.read_csv(path, try_parse_dates=True)
        ts = frame["timestamp_utc"].dt.replace_time_zone(None).dt.cast_time_unit("us").to_numpy()
        frac = frame["activation_frac"].cast(pl.Float64).to_numpy()
    except Exception as e:  # noqa: BLE001 - a missing file or column
        raise FlowError(f"signal {path}: {type(e).__name__}: {e}") from None
    if np.any(np.abs(frac) > 1) or not np.all(np.isfinite(frac)):
        raise FlowError(f"signal {path}: activation_frac must lie in -1..1")
    i = np.searchsorted(ts, minutes, side="right") - 1
    if (i < 0).any():
        raise FlowError(f"signal {path}: no value before {minutes[0]}")
    return frac[i]


def _current_net(ctx: FlowContext) -> np.ndarray:
    """The site's plan of the day: the intraday revision if there is one, else the day-ahead position."""
    for name in ("intraday", "manual", "trading"):
        out = ctx.earlier.get(name)
        sched = (out or {}).get("schedule") or {}
        for key in ("intraday_mw", "net_mw"):
            if key in sched and len(sched[key]) == ctx.grid.periods:
                return np.asarray([v or 0.0 for v in sched[key]], float)
    return np.zeros(ctx.grid.periods)


# ------------------------------------------------------------------------------------- intraday
class IntradayParams(Params):
    spread_eur_mwh: float = Field(0.5, ge=0.0, description="half the intraday bid-ask spread")
    lead_min: int = Field(15, ge=0, description="intervals starting within this lead time are not traded")


@flow("intraday", "v1", IntradayParams, hands_schedule=True)
def intraday_v1(ctx: FlowContext, p: IntradayParams) -> dict:
    """Re-optimise the delivery day against intraday prices: past intervals and commitments locked."""
    trading = ctx.earlier.get("trading")
    if not trading or "da" not in trading.get("committed", []):
        raise FlowError(f"no day-ahead position for {ctx.delivery}: the trading flow has not succeeded for this day")
    grid = ctx.grid
    _, stored = ctx.visible("intraday", ctx.delivery, ctx.delivery)
    if np.isnan(stored).any():  # no intraday prices: the day's published day-ahead prices stand in
        price, source = ctx.known_day("da", ctx.delivery), "day-ahead prices of the day (no intraday series stored)"
    else:
        price, source = stored, "stored intraday prices"
    products = list(ctx.site.markets.products)
    locks, _ = locks_from(ctx, grid, exclude=("trading",))
    for b in ctx.site.batteries:  # reserves of the trading run stay committed
        for q in trading["committed"]:
            if q != "da":
                locks.reserve_mw[(b.id, q)] = np.asarray(trading["assets"][b.id]["blocks_mw"][q], float)
    before = ctx.earlier.get("intraday") or trading
    frozen = grid.timestamps < np.datetime64(int((ctx.now + 60 * p.lead_min) * 1e6), "us")
    for b in ctx.site.batteries:
        past = np.asarray(before["assets"][b.id]["net_mw"], float)
        locks.net_mw[b.id] = np.where(frozen, past, np.nan)
    position = np.sum([trading["assets"][b.id]["position_mw"] for b in ctx.site.batteries], axis=0)
    prices = {"da": ctx.known_day("da", ctx.delivery)}
    prices.update({q: np.zeros(grid.periods) for q in products if q != "da"})  # reserves are locked
    f, x = solve_day(ctx, prices, products, locks, IntradayTrade(position, price, p.spread_eur_mwh))
    out = plan_outputs(ctx, f, x, [], prices)
    net = np.asarray(sum(np.asarray(out["assets"][b.id]["net_mw"]) for b in ctx.site.batteries))
    trade = net - position
    out["schedule"] = checked(ctx, {"timestamps": stamps(grid), "resolution_min": grid.resolution_min,
                                    "intraday_mw": np.round(net, 6).tolist()})
    out["traded_mwh"] = round(float(np.abs(trade).sum() * grid.dt_hours), 6)
    out["expected_eur"] = round(float((trade * price).sum() * grid.dt_hours
                                      - np.abs(trade).sum() * grid.dt_hours * p.spread_eur_mwh), 2)
    out["price_source"] = source
    for b in ctx.site.batteries:
        out["assets"][b.id]["position_mw"] = trading["assets"][b.id]["position_mw"]
    return out


# -------------------------------------------------------------------------------------- auction
class AuctionParams(Params):
    scenarios_days: int = Field(7, ge=2, le=28, description="price scenarios: the visible days before the delivery")
    bid_floor_eur_mwh: float = Field(-500.0)
    bid_cap_eur_mwh: float = Field(4000.0)


@flow("auction", "v1", AuctionParams)
def auction_v1(ctx: FlowContext, p: AuctionParams) -> dict:
    """Day-ahead auction bids: a price-quantity curve per interval from the LP over price scenarios."""
    require_independent_days(ctx.site)
    _gate_open(ctx, ["da"])
    grid = ctx.grid
    n = grid.periods
    scenarios = []
    for lag in range(1, p.scenarios_days + 1):
        day = ctx.delivery - timedelta(days=lag)
        v = ctx.visible("da", day, day)[1]
        if v.size != n:  # a DST day of another length: its clock hours onto this day's intervals
            v = np.interp(np.linspace(0, 1, n), np.linspace(0, 1, v.size), v)
        if not np.isnan(v).any():
            scenarios.append(v)
    if len(scenarios) < 2:
        raise FlowError(f"auction for {ctx.delivery}: fewer than 2 visible days of day-ahead prices in the store")
    energy_only = ctx.site.with_products(("da",))
    sub = FlowContext(ctx.flow, ctx.version, energy_only, ctx.delivery, ctx.now, ctx.store, None, {}, ctx.base_dir)
    prices, volumes = [], []
    for s in scenarios:
        f, x = solve_day(sub, {"da": s}, ("da",))
        prices.append(s)
        volumes.append((x[f.discharge] - x[f.charge]).sum(axis=0))
    P, V = np.array(prices), np.array(volumes)
    intervals = []
    for t in range(n):
        order = np.argsort(P[:, t], kind="stable")
        pr, mw = P[order, t], np.maximum.accumulate(V[order, t])  # a supply curve: more sold at a higher price
        points = [[p.bid_floor_eur_mwh, round(float(mw[0]), 6)]]
        points += [[round(float(a), 2), round(float(b), 6)] for a, b in zip(pr, mw)]
        points.append([p.bid_cap_eur_mwh, round(float(mw[-1]), 6)])
        intervals.append({"start": stamps(grid)[t], "curve": points})
    return {"delivery": str(ctx.delivery), "bids": {"schema": "bess-ray/bids/1", "market": "da", "site": ctx.site.id,
                                                    "delivery": str(ctx.delivery), "unit": {"price": "EUR/MWh",
                                                                                            "quantity": "MW, > 0 sell"},
                                                    "intervals": intervals},
            "scenarios": len(scenarios)}

