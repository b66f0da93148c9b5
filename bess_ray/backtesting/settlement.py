"""A backtest's money and reasons: its trace settled on actual prices, the reason codes, the naive
baseline and the long settlement table."""
from __future__ import annotations

import numpy as np
import polars as pl

from ..config import Site
from ..data.generation import Generation
from ..dispatch.engine import Trace
from ..markets import settlement as money
from ..markets.settlement import Delivery, Terms

EPS = 1e-6


def settle(trace: Trace, site: Site, prices: dict[str, np.ndarray], intraday_price: np.ndarray,
           spread: float, dt: float) -> dict[str, np.ndarray]:
    """A walk-forward trace through the one money model (`markets.settlement`), per asset (the
    batteries, then the generators) and interval: 'da' on the day-ahead position, each reserve on
    its capacity, 'intraday' on the change against the position at the intraday price less the
    spread, 'generation_da' and 'feed_in_premium' on the generators' output (no premium on what
    charged a battery), 'degradation' as a negative stream. Plans are delivered as planned (no
    physics in a backtest)."""
    generated, premium = generator_delivery(trace, prices["da"])
    delivery = Delivery(trace.position, trace.net, trace.discharge, trace.reserves, charge=trace.charge, **generated)
    terms = Terms(prices["da"], {p: prices[p] for p in trace.reserves}, intraday_price, spread, premium=premium,
                  **Terms.wear_of(site.fleet))
    return money.settle(delivery, terms, dt)


def generator_delivery(trace: Trace, da_price: np.ndarray) -> tuple[dict, np.ndarray | None]:
    """The generators' part of a trace's `Delivery` (output as planned, the exported part of it)
    and their premium per interval at these day-ahead prices; nothing for a site without them."""
    if trace.generation is None:
        return {}, None
    exported = trace.generation - trace.to_battery
    return ({"generation": trace.generation, "generation_position": trace.generation_position, "exported": exported},
            trace.generators.premium(da_price))


def generator_reasons(trace: Trace) -> np.ndarray:
    """Per generator and interval: curtailed (output below what was available), into_battery (some
    of it charged a battery), exporting, or no_output."""
    codes = np.full(trace.generation.shape, "no_output", dtype=object)
    codes[trace.generation > EPS] = "exporting"
    codes[trace.to_battery > EPS] = "into_battery"
    codes[trace.generators.available_mw - trace.generation > EPS] = "curtailed"
    return codes


def reason_codes(trace: Trace, site: Site) -> np.ndarray:
    """Why each asset did what it did in each interval (first rule that applies):

    poi_limit (trading at the site's POI limit), intraday_revision (energy changed against the
    day-ahead position), da_arbitrage (trading the day-ahead position), <product>_reserved (idle
    in energy, holding reserve), soc_limit (idle at an SoC limit), idle_low_spread (nothing paid).
    """
    net = trace.net
    site_net = net.sum(axis=0) + (trace.generation.sum(axis=0) if trace.generation is not None else 0.0)
    at_poi = (site_net >= site.poi.export_mw - EPS) | (site_net <= -site.poi.import_mw + EPS)
    fleet = site.fleet
    at_soc = (trace.soc <= fleet.min_mwh[:, None] + EPS) | (trace.soc >= fleet.max_mwh[:, None] - EPS)
    codes = np.full(net.shape, "idle_low_spread", dtype=object)
    codes[at_soc] = "soc_limit"
    if trace.reserves:
        stacked = np.stack([trace.reserves[p] for p in trace.reserves])
        top = np.array(list(trace.reserves))[stacked.argmax(axis=0)]
        held = stacked.max(axis=0) > EPS
        codes[held] = np.char.add(top[held].astype(str), "_reserved")
    trading = np.abs(net) > EPS
    codes[trading] = "da_arbitrage"
    codes[trading & (np.abs(net - trace.position) > EPS)] = "intraday_revision"
    codes[trading & np.broadcast_to(at_poi, net.shape)] = "poi_limit"
    return codes


def naive_rule(site: Site, forecast_da: np.ndarray, day_start: np.ndarray, dt: float, hours: int | None,
               generators: Generation | None = None) -> Trace:
    """The naive baseline: each day, charge at full power in the N cheapest and discharge in the N
    dearest forecast hours (hourly means of the forecast), within SoC limits; N defaults to the
    battery's energy / power rounded up. No reserves, no look-ahead; the POI scales both down.
    Generators sell what is available, curtailed where the forecast price plus their premium is
    negative and where the batteries' export leaves no room at the POI."""
    bats = site.batteries
    A, n = len(bats), forecast_da.size
    charge, discharge, soc = np.zeros((A, n)), np.zeros((A, n)), np.zeros((A, n))
    steps_h = max(1, int(round(1 / dt)))
    for i, b in enumerate(bats):
        level = b.energy_mwh * b.soc_initial
        lo, hi = b.energy_mwh * b.soc_min, b.energy_mwh * b.soc_max
        n_hours = hours or int(np.ceil(b.usable_mwh / max(b.charge_mw, b.discharge_mw)))
        for d in range(len(day_start) - 1):
            a, z = day_start[d], day_start[d + 1]
            hour = (np.arange(a, z) - a) // steps_h
            mean = np.bincount(hour, weights=forecast_da[a:z]) / np.bincount(hour)
            order = np.argsort(mean, kind="stable")
            cheap, dear = set(order[:n_hours].tolist()), set(order[::-1][:n_hours].tolist())
            both = cheap & dear
            for t in range(a, z):
                h = hour[t - a]
                if h in cheap and h not in both:
                    c = min(b.charge_mw, (hi - level) / (b.charge_efficiency * dt), site.poi.import_mw)
                    charge[i, t] = max(c, 0.0)
                elif h in dear and h not in both:
                    dis = min(b.discharge_mw, (level - lo) * b.discharge_efficiency / dt, site.poi.export_mw)
                    discharge[i, t] = max(dis, 0.0)
                level += (charge[i, t] * b.charge_efficiency - discharge[i, t] / b.discharge_efficiency) * dt
                level *= (1 - b.standby_loss_per_hour) ** dt
                soc[i, t] = level
    net = discharge - charge
    # several batteries: scale each interval to the POI
    site_net = net.sum(axis=0)
    scale = np.ones(n)
    over = site_net > site.poi.export_mw
    scale[over] = site.poi.export_mw / site_net[over]
    under = site_net < -site.poi.import_mw
    scale[under] = -site.poi.import_mw / site_net[under]
    if (scale < 1).any() and A > 1:
        charge, discharge = charge * scale, discharge * scale
    trace = Trace(np.zeros(n), [b.id for b in bats], charge, discharge, soc, discharge - charge,
                  discharge - charge, soc, {})
    if generators is not None:
        avail = generators.available_mw
        paid = forecast_da[None, :] + generators.premium(forecast_da) >= 0
        gen = np.where(paid, avail, 0.0)
        room = np.maximum(site.poi.export_mw - trace.net.sum(axis=0), 0.0)
        total = gen.sum(axis=0)
        gen = gen * np.divide(np.minimum(room, total), total, out=np.zeros(n), where=total > EPS)
        trace.generation, trace.generation_position, trace.generators = gen, gen, generators
        trace.to_battery = np.zeros_like(gen)
    return trace


GENERATOR_STREAMS = ("generation_da", "feed_in_premium")  # the generators' alone
SHARED_STREAMS = ("intraday", "imbalance")  # every row's; the rest are the batteries'


def long_settlement(timestamps: pl.Series, assets: list[str], streams: dict[str, np.ndarray],
                    quantities: dict[str, np.ndarray], prices: dict[str, np.ndarray],
                    batteries: int | None = None) -> pl.DataFrame:
    """One row per interval, asset and stream the asset takes part in: quantity (MW), price and
    revenue (EUR). The first `batteries` assets (default: all) are batteries, the rest generators.
    A price is one value per interval, or one per asset and interval (a generator's premium)."""
    frames = []
    n = len(timestamps)
    A = len(assets) if batteries is None else batteries
    for name, rev in streams.items():
        rows = (slice(A, None) if name in GENERATOR_STREAMS else slice(None) if name in SHARED_STREAMS
                else slice(0, A))
        ids = assets[rows]
        price = prices[name][rows].ravel() if np.ndim(prices[name]) == 2 else np.tile(prices[name], len(ids))
        frames.append(pl.DataFrame({
            "timestamp": pl.concat([timestamps] * len(ids)), "asset": np.repeat(ids, n), "stream": name,
            "quantity_mw": quantities[name][rows].ravel(), "price": price, "revenue_eur": rev[rows].ravel()}))
    return pl.concat(frames)
