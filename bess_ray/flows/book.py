"""A site's book: the schedules of its flow runs laid over each other into the one schedule the site
is handed, and the money of that schedule at the real prices. Pure: outputs in, payloads out.

Pieces are laid in trigger order: a later piece replaces an earlier one where it has a value (the
intraday revision over the day-ahead layer of the same day, an operator's manual block, an hour of
aFRR activation in the obligation layer); outside its intervals a piece changes nothing.
"""
from __future__ import annotations

import numpy as np

from ..control.schedules import EMPTY, Plan, Series
from ..control.site_schedules import plan_from_payload, to_payload
from ..markets.settlement import Delivery, Terms, settle, totals


def _overlay(base: Series | None, new: Series) -> Series:
    series = [s for s in (base, new) if s is not None]
    end = max(s.end for s in series)
    # every start and every end: after a piece ends its value must not hold on into a gap
    grid = sorted({t for s in series for t in (*s.starts, s.end)} - {end})
    values = []
    for t in grid:
        v = new.at(t)
        values.append(v if v is not None else (base.at(t) if base is not None else None))
    return Series(tuple(grid), tuple(values), end)


def compose(schedules: list[dict]) -> Plan:
    """The pieces (schedule payloads, in trigger order) as one plan."""
    plan = EMPTY
    for payload in schedules:
        piece = plan_from_payload(payload)
        layers = dict(plan.layers)
        for k, s in piece.layers.items():
            layers[k] = _overlay(layers.get(k), s)
        reserves = dict(plan.reserves)
        for k, s in piece.reserves.items():
            reserves[k] = _overlay(reserves.get(k), s)
        plan = Plan(layers, reserves)
    return plan


def payload(schedules: list[dict]) -> dict | None:
    return to_payload(compose(schedules)) if schedules else None


def _on(series: Series | None, ts: np.ndarray) -> np.ndarray:
    """A layer's values at the interval starts `ts` (epoch seconds), NaN where it asks nothing."""
    if series is None:
        return np.full(ts.size, np.nan)
    return np.array([np.nan if (v := series.at(float(t))) is None else v for t in ts])


def settle_book(plan: Plan, ts: np.ndarray, dt: float, prices: dict[str, np.ndarray], spread: float = 0.0) -> dict:
    """The money of a site's schedule over intervals `ts` (epoch seconds) at the real prices
    (`da`, capacity prices by product, optional `intraday`), by stream, through the one money model.

    The day-ahead layer is the position; the intraday layer (where set) the plan, its difference
    traded intraday; reserves are paid their capacity price; the obligation layer (aFRR activation,
    an operator's obligation) is what is delivered where it is set, and what it moves off the plan
    settles as imbalance at the day-ahead price (the money model's rule; no aFRR energy prices ship)."""
    position = np.nan_to_num(_on(plan.layers.get("day_ahead"), ts))
    intraday = _on(plan.layers.get("intraday"), ts)
    net = np.where(np.isnan(intraday), position, intraday)
    reserves = {p: np.nan_to_num(_on(s, ts))[None, :] for p, s in plan.reserves.items() if p in prices}
    delivered = None
    obligation = plan.layers.get("obligation")
    if obligation is not None:  # the interval's mean of the obligation, minute by minute
        minutes = ts[:, None] + 60.0 * np.arange(int(round(dt * 60)))[None, :]
        ob = _on(obligation, minutes.ravel()).reshape(minutes.shape)
        delivered = np.where(np.isnan(ob), net[:, None], ob).mean(axis=1)
    d = Delivery(position[None, :], net[None, :], np.maximum(net, 0.0)[None, :], reserves,
                 delivered=delivered[None, :] if delivered is not None else None)
    terms = Terms(da=prices["da"], capacity={p: prices[p] for p in reserves}, intraday=prices.get("intraday"),
                  spread=spread)
    streams = {k: round(v, 2) for k, v in totals(settle(d, terms, dt)).items() if k != "degradation"}
    return {"streams_eur": streams, "revenue_eur": round(sum(streams.values()), 2),
            "position_mwh": round(float(np.abs(position).sum() * dt), 6),
            "intraday_traded_mwh": round(float(np.abs(net - position).sum() * dt), 6),
            "obligation_off_plan_mwh": round(float(np.abs(delivered - net).sum() * dt), 6) if delivered is not None
            else 0.0}
