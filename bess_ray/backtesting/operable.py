"""Plan versus operable: a walk-forward plan delivered second by second through the control
pipeline the site actors run, against the field simulator's plant, on measured grid frequency.

Pure: arrays in, arrays out (the frequency is loaded by the caller). Per control cycle (1 s by
default) the plant is brought up to the cycle's time, its measurements go through
`Controller.step` (validation, state machine, priority resolution with the reserves' droop,
constraint and ramp limiters) exactly as a `SiteHost` passes them, and the command goes back to the
plant. Stated rules:

- **Schedule**: the site is handed the plan as the site actor would be: the day-ahead position, the
  revised plan (with the SoC-recovery trades) as the intraday layer, the reserve commitments.
- **Meter**: the plant's power and the frequency reach the pipeline with a +-1 uW / +-1 uHz dither
  alternating each cycle: a simulated meter is exact, and a value that never moves is rightly
  judged frozen by validation.
- **Start**: the loop starts `warmup_s` before the window at 0 MW, so that the first interval is
  delivered by a running asset.
- **SoC management** (`SocRecovery`): see its doc; the trades are part of the intraday stream.
- **Activation** per product is the droop's ask on the measured frequency times the commitment
  (each asset's share pro rata to rating, as the pipeline shares it). aFRR is held as headroom; its
  activation (a TSO signal, not the frequency) is not simulated.
- **Non-delivery**: an interval with a commitment fails for its products when, in any cycle of it,
  an asset holding a share is not operable (its mode moves no power) or its reserve headroom was
  short. Its capacity revenue is forfeited and `penalty_multiple` times it paid.
- **Imbalance**: what was delivered off the schedule (plan + recovery + asked activation) is
  settled at the day-ahead price (no imbalance prices are shipped), through the one money model.
- **Limiter interventions**: a cycle whose command is not what the schedule asked (the schedule's
  point clipped, a ramp, a mode that moves no power, reserve headroom short), by reason; a run of
  cycles with one reason is one intervention.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from ..config import Site
from ..control.measurements import DEVICE_RUNNING, DEVICE_STANDBY, Raw
from ..control.pipeline import Command, Controller, Inputs
from ..control.limits import reserve_base
from ..control.reserves import DROOPS, headroom
from ..control.schedules import Wishes
from ..control.settings import Operation
from ..devices.fieldsim.plant import INV_RUNNING, Plant
from ..dispatch.engine import Trace
from ..markets import settlement as money
from ..markets.settlement import Delivery, Terms
from .config import ThroughControl
from .settlement import generator_delivery

_SCHEDULE_LAYERS = frozenset({"obligation", "intraday", "day_ahead", "idle"})
_DITHER = 1e-6


@dataclass
class Operable:
    """What was delivered, per asset (rows) and interval of the window (columns)."""

    delivered: np.ndarray          # MW delivered at the terminals, > 0 discharge
    discharge: np.ndarray          # MW discharged (gross)
    soc: np.ndarray                # MWh stored at the interval's end
    recovery: np.ndarray           # site MW traded back by SoC management, per interval
    activation: dict[str, np.ndarray]    # product -> asset x interval: MW the droop asked (mean)
    non_delivery: dict[str, np.ndarray]  # product -> interval: the commitment was not delivered
    interventions: list[tuple[str, str, float, float]] = field(default_factory=list)  # asset, reason, start, end
    band_exits: list[tuple[str, float, float]] = field(default_factory=list)  # asset, start, end
    interval_h: float = 0.25
    shares: np.ndarray | None = None  # each asset's part of the site's recovery trades (by energy)
    streams: dict[str, np.ndarray] = field(default_factory=dict)  # its money, once settled
    cycles: int = 0
    seconds: dict[str, float] = field(default_factory=dict)  # pipeline / plant / rest


def operation(site: Site, tc: ThroughControl) -> Operation:
    """The site as operated for the run: its control settings and ramps, every asset simulated."""
    assets = {b.id: {"device": "sim", "ramp_mw_per_s": tc.ramp_mw_per_s} for b in site.batteries}
    return Operation(site=site, control=tc.control, assets=assets)


def deliver(site: Site, trace: Trace, hz: np.ndarray, start_s: int, dt_hours: float,
            tc: ThroughControl) -> Operable:
    """Deliver `trace` from UTC epoch second `start_s`; `hz[k]` is the frequency at second
    `start_s - tc.warmup_s + k` (covering the warm-up and the window)."""
    op = operation(site, tc)
    controller = Controller.of(op)
    period = controller.period_s
    spi = int(round(dt_hours * 3600))
    bats = site.batteries
    A, T = len(bats), trace.timestamps.size
    plants = [Plant.of(b, t=float(start_s - tc.warmup_s), response_delay_s=tc.plant.response_delay_s,
                       ramp_mw_per_s=tc.plant.ramp_mw_per_s, taper=tc.plant.bms_taper) for b in bats]
    for p in plants:
        p.setpoint_enabled = True
    energy = np.array([b.energy_mwh for b in bats])
    rated = np.array([max(b.charge_mw, b.discharge_mw) for b in bats])
    rated_share = rated / rated.sum()
    site_net, site_pos = trace.net.sum(axis=0), trace.position.sum(axis=0)
    revised = bool(np.any(np.abs(trace.net - trace.position) > 1e-9))
    products = sorted(trace.reserves)
    site_res = {p: trace.reserves[p].sum(axis=0) for p in products}
    droops = [p for p in products if p in DROOPS]
    hours = dict(controller.reserve_hours)

    out = Operable(np.zeros((A, T)), np.zeros((A, T)), np.zeros((A, T)), np.zeros(T),
                   {p: np.zeros((A, T)) for p in droops}, {p: np.zeros(T, bool) for p in products},
                   interval_h=dt_hours, shares=energy / energy.sum())
    planned_stored = np.concatenate([[sum(b.soc_initial * b.energy_mwh for b in bats)], trace.soc.sum(axis=0)])
    total_energy = float(energy.sum())
    free_power = float(rated.sum())
    rec = tc.soc_recovery

    state = controller.initial()
    step = controller.step
    warm = Wishes(day_ahead_mw=0.0)
    t_pipe = t_plant = 0.0
    current: list[tuple[str, float] | None] = [None] * A
    band_since: list[float | None] = [None] * A
    marks = [(p.energy_out_mwh, p.energy_in_mwh) for p in plants]
    n_cycles = int(round((tc.warmup_s + T * spi) / period))
    j = -1
    wishes, committed, asked, band = warm, (), {}, None
    t_end = start_s + T * spi
    clock = time.perf_counter
    t_all = clock()
    for k in range(n_cycles):
        t = start_s - tc.warmup_s + k * period
        if t >= start_s and int(t - start_s) // spi != j:  # a new interval: book the last one at its end
            for p in plants:
                p.advance(t)
            if j >= 0:
                marks = _close(out, plants, marks, j, asked, rated_share)
            j = int(t - start_s) // spi
            if rec is not None:
                _recover(out, j, rec, plants, planned_stored, site_net, site_res, total_energy, free_power, bats)
            wishes, committed, band = _wishes(j, site_net, site_pos, out.recovery, site_res, products, revised,
                                              rated_share, hours, bats)
            asked = {p: 0.0 for p, _ in committed if p in DROOPS}
            if not committed:  # no reserve held: no band to be outside of
                for i, since in enumerate(band_since):
                    if since is not None:
                        out.band_exits.append((bats[i].id, since, t))
                        band_since[i] = None
        f = float(hz[int(t - start_s + tc.warmup_s)]) + (_DITHER if k % 2 else -_DITHER)
        t0 = clock()
        raws = []
        for p in plants:
            p.advance(t)
            cha, dis = p.bms_limits()
            raws.append(Raw({"power_mw": p.power_mw + (_DITHER if k % 2 else -_DITHER), "soc": p.soc,
                             "charge_limit_mw": cha, "discharge_limit_mw": dis,
                             "state": DEVICE_RUNNING if p.inverter_state() == INV_RUNNING else DEVICE_STANDBY,
                             "alarms": 0, "frequency_hz": f}, received=t, timestamp=t))
        t1 = clock()
        state, commands = step(state, Inputs(t, tuple(raws), wishes))
        t2 = clock()
        for p, c in zip(plants, commands):
            p.write_setpoint(c.setpoint_mw, t)
        t_pipe += t2 - t1
        t_plant += t1 - t0 + clock() - t2
        if j < 0:
            continue
        failed = False
        for i, c in enumerate(commands):
            why = intervention(c)
            if why != (current[i][0] if current[i] else None):
                if current[i] is not None:
                    out.interventions.append((c.asset, current[i][0], current[i][1], t))
                current[i] = (why, t) if why else None
            if committed:
                failed = failed or why == "reserve_headroom_short" or (why or "").startswith("state:")
                up_mwh, down_mwh = band[i]  # the pipeline's own rule for the energy the reserves keep
                base = reserve_base(controller.ratings[i], plants[i].soc, up_mwh, down_mwh)
                outside = base.hi == 0.0 or base.lo == 0.0
                if outside and band_since[i] is None:
                    band_since[i] = t
                elif not outside and band_since[i] is not None:
                    out.band_exits.append((c.asset, band_since[i], t))
                    band_since[i] = None
        for product, mw in committed:
            if product in asked:  # the droop's ask, as the mean MW of the interval
                asked[product] += DROOPS[product].activation(f, controller.nominal_hz) * mw * period / spi
            if failed:
                out.non_delivery[product][j] = True
    for p in plants:
        p.advance(float(t_end))
    _close(out, plants, marks, T - 1, asked, rated_share)
    for i, b in enumerate(bats):
        if current[i] is not None:
            out.interventions.append((b.id, current[i][0], current[i][1], float(t_end)))
        if band_since[i] is not None:
            out.band_exits.append((b.id, band_since[i], float(t_end)))
    out.cycles = n_cycles
    total = clock() - t_all
    out.seconds = {"pipeline": t_pipe, "plant": t_plant, "rest": total - t_pipe - t_plant}
    return out


def _close(out: Operable, plants: list[Plant], marks, j: int, asked: dict[str, float], rated_share) -> list:
    """Book interval j's energy (as mean MW), end SoC and activation asked; returns the new marks."""
    for product, mw in asked.items():
        out.activation[product][:, j] = mw * rated_share
    new = []
    for i, p in enumerate(plants):
        e_out, e_in = p.energy_out_mwh - marks[i][0], p.energy_in_mwh - marks[i][1]
        out.delivered[i, j] = (e_out - e_in) / out.interval_h
        out.discharge[i, j] = e_out / out.interval_h
        out.soc[i, j] = p.soc * p.energy_mwh
        new.append((p.energy_out_mwh, p.energy_in_mwh))
    return new


def _wishes(j, site_net, site_pos, recovery, site_res, products, revised, rated_share, hours, bats):
    """What the site is asked in interval j, the commitments, and each asset's full-activation energy
    (up, down) in MWh."""
    committed = tuple((p, float(site_res[p][j])) for p in products if site_res[p][j] > 1e-9)
    net = float(site_net[j] + recovery[j])
    if revised or recovery[j]:
        wishes = Wishes(intraday_mw=net, day_ahead_mw=float(site_pos[j]), reserves=committed)
    else:
        wishes = Wishes(day_ahead_mw=net, reserves=committed)
    band = []
    for i in range(len(bats)):
        up = sum(mw * rated_share[i] * hours[p] for p, mw in committed if headroom(p)[0])
        down = sum(mw * rated_share[i] * hours[p] for p, mw in committed if headroom(p)[1])
        band.append((up, down))
    return wishes, committed, band


def _recover(out, j, rec, plants, planned_stored, site_net, site_res, total_energy, free_power, bats):
    """At the start of interval j: trade the SoC's deviation from the plan back `lead` intervals on."""
    target = j + rec.lead_intervals
    if target >= out.recovery.size:
        return
    dev = sum(p.soc * p.energy_mwh for p in plants) - planned_stored[j]
    eta_d = float(np.mean([b.discharge_efficiency for b in bats]))
    eta_c = float(np.mean([b.charge_efficiency for b in bats]))
    for k in range(j, target):  # trades already placed will move the SoC too
        r = out.recovery[k] * out.interval_h
        dev -= r / eta_d if r > 0 else r * eta_c
    if abs(dev) <= rec.deadband_frac * total_energy:
        return
    mw = (dev * eta_d if dev > 0 else dev / eta_c) / out.interval_h
    held = sum(float(site_res[p][target]) for p in site_res)
    cap = rec.max_share * max(0.0, free_power - held - abs(float(site_net[target])))
    mw = min(max(mw, -cap), cap)
    if abs(mw) >= 1e-4:  # a trade is at least 0.1 kW (what the reserves leave free may be nothing)
        out.recovery[target] = mw


def intervention(c: Command) -> str | None:
    """Why a command is not what the schedule asked (None: it is)."""
    by = c.decided_by
    if by == "state":
        return f"state:{c.mode}"
    if by == "ramp":
        return "ramp"
    if c.reasons and any(r.startswith("reserve headroom short") for r in c.reasons):
        return "reserve_headroom_short"
    last = c.steps[-1]
    if by == "reserves" or by in _SCHEDULE_LAYERS and not last.note.endswith("clipped"):
        return None  # what the schedule asked (a plan that uses all its headroom leaves a point)
    if by == "limits":
        return "limits"
    x = last.lo
    for s in c.steps[:-1]:  # the first layer that set the bound the point was clipped to
        if s.hi == x or s.lo == x:
            if s.layer != "limits":
                return "reserve_headroom" if s.layer == "reserves" else s.layer
            side = "discharge by " if s.hi == x else "charge bound by "
            if "POI share" in s.note:
                return "poi_limit"
            k = s.note.find(side)
            return s.note[k + len(side):].split(",")[0].split(";")[0] if k >= 0 else "limits"
    return "limits"


def settle(trace: Trace, op: Operable, site: Site, prices: dict[str, np.ndarray], intraday: np.ndarray,
           spread: float, dt: float, penalty_multiple: float) -> dict[str, np.ndarray]:
    """The operable schedule through the one money model, per asset and interval. The site's
    generators are delivered as planned: the replay models the batteries' plant, not a PV / wind one."""
    net = trace.net + op.shares[:, None] * op.recovery[None, :]
    held = {p: np.where(op.non_delivery[p][None, :], 0.0, r) for p, r in trace.reserves.items()}
    asked = sum(op.activation.values(), np.zeros_like(op.delivered))
    generated, premium = generator_delivery(trace, prices["da"])  # generators: delivered as planned
    if generated:
        generated["generation_delivered"] = trace.generation
    delivery = Delivery(trace.position, net, op.discharge, held, delivered=op.delivered - asked,
                        charge=op.discharge - op.delivered, **generated)
    terms = Terms(prices["da"], {p: prices[p] for p in trace.reserves}, intraday, spread, premium=premium,
                  **Terms.wear_of(site.fleet))
    streams = money.settle(delivery, terms, dt)
    lost = sum((prices[p] * (trace.reserves[p] - held[p]) * dt for p in trace.reserves), np.zeros_like(net))
    if np.any(lost):  # on the batteries' rows; the generators' (after them) hold no reserve
        streams["reserve_penalty"] = np.zeros_like(streams["da"])
        streams["reserve_penalty"][:net.shape[0]] = -penalty_multiple * lost
    return streams


def summary_block(trace: Trace, op: Operable, streams: dict[str, np.ndarray], plan_revenue: float,
                  frequency: dict, dt: float) -> dict:
    """The `operable` block of summary.json."""
    revenue = float(money.revenue(streams).sum())
    by_stream = money.totals(streams)
    planned = trace.net
    asked = sum(op.activation.values(), np.zeros_like(op.delivered))
    reasons: dict[str, dict] = {}
    for _, why, start, end in op.interventions:
        r = reasons.setdefault(why, {"count": 0, "seconds": 0.0})
        r["count"] += 1
        r["seconds"] += end - start
    drift = op.soc.sum(axis=0) - trace.soc.sum(axis=0)
    failed = np.zeros(op.recovery.size, bool)
    for v in op.non_delivery.values():
        failed |= v
    total = sum(op.seconds.values()) or 1.0
    return {
        "revenue_eur": revenue,
        "profit_eur": revenue + by_stream.get("degradation", 0.0),
        "plan_revenue_eur": plan_revenue,
        "gap_eur": revenue - plan_revenue,
        "revenue_by_stream_eur": by_stream,
        "planned_mwh": float(np.abs(planned).sum() * dt),
        "delivered_mwh": float(np.abs(op.delivered).sum() * dt),
        "energy_mwh": {"planned_discharge": float(np.maximum(planned, 0).sum() * dt),
                       "planned_charge": float(np.maximum(-planned, 0).sum() * dt),
                       "delivered_discharge": float(op.discharge.sum() * dt),
                       "delivered_charge": float((op.discharge - op.delivered).sum() * dt)},
        # a plan that charges and discharges at once (an LP dumping energy at negative prices) moves
        # energy no plant can: the pipeline sees only the net
        "plan_simultaneous_intervals": int(np.count_nonzero((trace.charge > 1e-6) & (trace.discharge > 1e-6))),
        "delivery_error_mwh": float(np.abs((op.delivered - planned - asked).sum(axis=0) - op.recovery).sum() * dt),
        "reserve_activation_mwh": {p: float(a.sum() * dt) for p, a in op.activation.items()},
        "activation_delivered_mwh": float((op.delivered - planned).sum() * dt - op.recovery.sum() * dt),
        "limiter_interventions": dict(sorted(reasons.items())),
        "non_delivery_intervals": int(failed.sum()),
        "non_delivery_by_product": {p: int(v.sum()) for p, v in op.non_delivery.items()},
        "non_delivery_eur": float(sum(v.sum() for k, v in streams.items() if k == "reserve_penalty")),
        "reserve_band_exits": {"count": len(op.band_exits), "seconds": float(sum(e - s for _, s, e in op.band_exits))},
        "soc_drift_mwh": {"max_abs": float(np.abs(drift).max(initial=0.0)), "mean_abs": float(np.abs(drift).mean()),
                          "end": float(drift[-1]) if drift.size else 0.0},
        "soc_recovery": {"intervals": int(np.count_nonzero(op.recovery)), "mwh": float(np.abs(op.recovery).sum() * dt)},
        "frequency": frequency,
        "cycles": op.cycles,
        "timing": {"seconds": total, "seconds_per_battery_day":
                   total / max(op.delivered.shape[0] * op.delivered.shape[1] * dt / 24.0, 1e-9),
                   **{f"{k}_share": v / total for k, v in op.seconds.items()}},
    }


def frames(ts: pl.Series, trace: Trace, op: Operable) -> tuple[pl.DataFrame, pl.DataFrame]:
    """operable.parquet (per interval and asset) and interventions.csv (one row per intervention)."""
    A, T = op.delivered.shape
    share = op.shares
    frame = pl.DataFrame({
        "timestamp": pl.concat([ts] * A), "asset": np.repeat(trace.assets, T),
        "planned_mw": trace.net.ravel(), "delivered_mw": op.delivered.ravel(),
        "recovery_mw": (share[:, None] * op.recovery[None, :]).ravel(),
        **{f"activation_{p}_mw": a.ravel() for p, a in op.activation.items()},
        "soc_planned_mwh": trace.soc.ravel(), "soc_delivered_mwh": op.soc.ravel(),
        **{f"non_delivery_{p}": np.tile(v, A) for p, v in op.non_delivery.items()},
    })
    ev = op.interventions
    events = pl.DataFrame({"asset": [e[0] for e in ev], "reason": [e[1] for e in ev],
                           "start_utc": [int(e[2] * 1e6) for e in ev], "end_utc": [int(e[3] * 1e6) for e in ev],
                           "seconds": [float(e[3] - e[2]) for e in ev]},
                          schema={"asset": pl.String, "reason": pl.String, "start_utc": pl.Int64,
                                  "end_utc": pl.Int64, "seconds": pl.Float64})
    events = events.with_columns(pl.from_epoch(pl.col(c), "us").dt.replace_time_zone("UTC") for c in ("start_utc", "end_utc"))
    return frame, events
