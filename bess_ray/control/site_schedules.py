"""Versioned site schedules: what a site is handed, checked against its limits, and how a new
version replaces the active one (pure: payloads in, plans out, no I/O).

A schedule payload (JSON, the shape of the HTTP upload and of what is stored):

    {"timestamps": ["2026-12-02T00:00:00Z", ...],      # UTC interval starts, strictly increasing
     "resolution_min": 15,                              # optional: the last interval's length
     "net_mw": [...],                                   # the day-ahead layer: site MW at the POI, > 0 export
     "intraday_mw": [...], "obligation_mw": [...],      # optional layers (null: nothing asked)
     "reserves_mw": {"fcr": [...], ...}}                # optional reserve commitments by product

A backtest's `handoff.json` (schema bess-ray/handoff/1) is accepted as it is; `bess-ray optimize`'s
`site_schedule.csv` through `schedule_files.read_plan`.

Revising: the interval being delivered and everything before it are locked (the active version's
values stay), and so is every committed reserve (an interval where the active version holds a
reserve keeps it). A new version changes only the future.
"""
from __future__ import annotations

import math
from datetime import datetime, timezone

from ..errors import DataError
from .schedules import LAYERS, Plan, Series

MAX_INTERVALS = 7 * 24 * 4 * 15  # fifteen weeks of 15-min intervals: more is a mistake, not a schedule


def _instant(text, where: str) -> float:
    if not isinstance(text, str):
        raise DataError(f"{where}: {text!r} is not an ISO-8601 time")
    try:
        t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise DataError(f"{where}: {text!r} is not an ISO-8601 time") from None
    if t.tzinfo is None:
        raise DataError(f"{where}: {text!r} has no time zone (UTC: end it with Z)")
    return t.timestamp()


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, timezone.utc).isoformat().replace("+00:00", "Z")


def _values(raw, n: int, where: str) -> tuple[float | None, ...]:
    if not isinstance(raw, list) or len(raw) != n:
        raise DataError(f"{where}: needs one value per timestamp ({n}), got "
                        f"{len(raw) if isinstance(raw, list) else type(raw).__name__}")
    out = []
    for i, v in enumerate(raw):
        if v is None:
            out.append(None)
        elif isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise DataError(f"{where}[{i}]: {v!r} is not a number of MW")
        else:
            out.append(float(v))
    return tuple(out)


def plan_from_payload(payload: dict, version: str = "") -> Plan:
    """A plan from a schedule payload or a backtest's handoff; a DataError names the field."""
    if not isinstance(payload, dict):
        raise DataError("schedule: expected a JSON object")
    if payload.get("schema") == "bess-ray/handoff/1":
        payload = _from_handoff(payload)
    known = {"timestamps", "resolution_min", "net_mw", "day_ahead_mw", "intraday_mw", "obligation_mw",
             "reserves_mw", "site", "version", "source"}
    unknown = sorted(set(payload) - known)
    if unknown:
        raise DataError(f"schedule: unknown field(s) {', '.join(unknown)} (known: {', '.join(sorted(known))})")
    stamps = payload.get("timestamps")
    if not isinstance(stamps, list) or not stamps:
        raise DataError("schedule.timestamps: needs a list of UTC interval starts")
    if len(stamps) > MAX_INTERVALS:
        raise DataError(f"schedule.timestamps: {len(stamps)} intervals, more than {MAX_INTERVALS}")
    starts = tuple(_instant(t, f"schedule.timestamps[{i}]") for i, t in enumerate(stamps))
    bad = next((i for i in range(1, len(starts)) if starts[i] <= starts[i - 1]), None)
    if bad is not None:
        raise DataError(f"schedule.timestamps[{bad}]: {stamps[bad]} is not after {stamps[bad - 1]}")
    minutes = payload.get("resolution_min")
    if minutes is None:
        minutes = (starts[1] - starts[0]) / 60 if len(starts) > 1 else 15
    if isinstance(minutes, bool) or not isinstance(minutes, (int, float)) or not 1 <= minutes <= 1440:
        raise DataError(f"schedule.resolution_min: {minutes!r} is not a number of minutes in 1..1440")
    end = starts[-1] + 60 * minutes
    n = len(starts)
    layers = {}
    for layer in LAYERS:
        key = next((k for k in (f"{layer}_mw", "net_mw" if layer == "day_ahead" else None) if k and k in payload), None)
        if key is not None:
            layers[layer] = Series(starts, _values(payload[key], n, f"schedule.{key}"), end)
    reserves = {}
    raw = payload.get("reserves_mw") or {}
    if not isinstance(raw, dict):
        raise DataError("schedule.reserves_mw: expected {product: [MW per interval]}")
    for product, values in raw.items():
        reserves[product] = Series(starts, _values(values, n, f"schedule.reserves_mw.{product}"), end)
    if not layers and not reserves:
        raise DataError("schedule: no values (net_mw, intraday_mw, obligation_mw or reserves_mw)")
    return Plan(layers, reserves, version)


def payload_from_frame(frame) -> dict:
    """A schedule payload from a frame with `timestamp` (UTC) and any of `net_mw`, `intraday_mw`,
    `obligation_mw`, `reserve_<product>_mw` (bess-ray optimize's site_schedule)."""
    out = {"timestamps": [t.isoformat().replace("+00:00", "Z") for t in frame["timestamp"].to_list()]}
    for column in ("net_mw", "intraday_mw", "obligation_mw"):
        if column in frame.columns:
            out[column] = frame[column].to_list()
    reserves = {c[len("reserve_"):-len("_mw")]: frame[c].to_list() for c in frame.columns
                if c.startswith("reserve_") and c.endswith("_mw")}
    if reserves:
        out["reserves_mw"] = reserves
    return out


def _from_handoff(h: dict) -> dict:
    intervals = h.get("intervals")
    if not isinstance(intervals, list) or not intervals:
        raise DataError("handoff.intervals: no intervals")
    try:
        out = {"timestamps": [i["start_utc"] for i in intervals], "net_mw": [i["site_net_mw"] for i in intervals]}
        products = sorted({k[len("reserve_"):-len("_mw")] for i in intervals for a in i.get("assets", {}).values()
                           for k in a if k.startswith("reserve_")})
        if products:
            out["reserves_mw"] = {p: [sum(a.get(f"reserve_{p}_mw", 0.0) for a in i.get("assets", {}).values())
                                      for i in intervals] for p in products}
    except (KeyError, TypeError, AttributeError) as e:
        raise DataError(f"handoff.intervals: malformed ({e})") from None
    return out


def to_payload(plan: Plan) -> dict:
    """The plan as a schedule payload on the union of its series' starts (what is stored)."""
    starts = sorted({t for s in (*plan.layers.values(), *plan.reserves.values()) for t in s.starts})
    end = max(s.end for s in (*plan.layers.values(), *plan.reserves.values()))
    out: dict = {"timestamps": [iso(t) for t in starts],
                 "resolution_min": (end - starts[-1]) / 60}
    for layer, s in plan.layers.items():
        out["net_mw" if layer == "day_ahead" else f"{layer}_mw"] = [s.at(t) for t in starts]
    if plan.reserves:
        out["reserves_mw"] = {p: [s.at(t) for t in starts] for p, s in sorted(plan.reserves.items())}
    return out


def check(plan: Plan, *, import_mw: float, export_mw: float, rated_mw: float, products: set[str], now: float) -> None:
    """Refuse a plan that is stale or breaks the site's limits, naming the field and the reason."""
    ends = [s.end for s in (*plan.layers.values(), *plan.reserves.values())]
    if max(ends) <= now:
        raise DataError(f"schedule: stale: its last interval ended at {iso(max(ends))}, before now ({iso(now)})")
    for layer, s in plan.layers.items():
        name = "net_mw" if layer == "day_ahead" else f"{layer}_mw"
        for i, v in enumerate(s.values):
            if v is not None and not -import_mw - 1e-9 <= v <= export_mw + 1e-9:
                raise DataError(f"schedule.{name}[{i}]: {v:g} MW is outside the POI limits "
                                f"(import {import_mw:g} MW, export {export_mw:g} MW)")
    for product, s in plan.reserves.items():
        if product not in products:
            raise DataError(f"schedule.reserves_mw.{product}: the site does not trade {product} "
                            f"(its products: {', '.join(sorted(products)) or 'none'})")
        for i, v in enumerate(s.values):
            if v is not None and not 0 <= v <= rated_mw + 1e-9:
                raise DataError(f"schedule.reserves_mw.{product}[{i}]: {v:g} MW is outside 0..{rated_mw:g} MW "
                                "(the site's rated power)")


def revise(active: Plan, new: Plan, now: float, version: str) -> Plan:
    """`new` for the future; the active version's values where locked: up to the end of the interval
    being delivered, and every interval where it commits a reserve (for that product)."""
    series = [*active.layers.values(), *active.reserves.values(), *new.layers.values(), *new.reserves.values()]
    grid = sorted({t for s in series for t in s.starts})
    current = max((t for t in grid if t <= now), default=None)
    lock_until = min((t for t in grid if t > now), default=max(s.end for s in series)) if current is not None else now
    grid = sorted(set(grid) | ({lock_until} if lock_until < max(s.end for s in series) else set()))
    end = max(s.end for s in series)

    def merged(old: Series | None, fresh: Series | None, locked) -> Series:
        values = []
        for t in grid:
            keep = old is not None and locked(t, old)
            values.append(old.at(t) if keep else (fresh.at(t) if fresh is not None else None))
        return Series(tuple(grid), tuple(values), end)

    def past(t, old):
        return t < lock_until

    def committed(t, old):
        return t < lock_until or (old.at(t) or 0.0) > 0.0

    layers = {k: merged(active.layers.get(k), new.layers.get(k), past) for k in {*active.layers, *new.layers}}
    reserves = {p: merged(active.reserves.get(p), new.reserves.get(p), committed)
                for p in {*active.reserves, *new.reserves}}
    return Plan(layers, reserves, version)
