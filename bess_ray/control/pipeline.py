"""One control cycle for one site: `Controller.step(state, inputs) -> (state, commands)`.

Pure and deterministic: no I/O, no clock reads, no randomness; the same state and inputs give the
same commands, bit for bit (replays and property tests rely on it). The order of one cycle:

1. operator actions (stop, start, e-stop, acknowledge, maintenance) update the latched intents;
2. each asset's raw values are validated; the state machine moves on what they show;
3. the constraint limiter gives each operable asset its envelope and its share of the POI;
4. priority resolution narrows each asset's range: state > limits > reserve activation (droop on
   the measured frequency, headroom and energy kept) > obligations > intraday > day-ahead > idle;
5. the ramp limiter smooths the result, and the limits clip it once more (a limit beats the ramp);
6. one command per asset, with its id, valid-until, reasons and the chain of ranges.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cached_property
from typing import Literal

from .limits import Rating, envelope, poi_shares, ramp, reserve_base
from .measurements import (ALARM_BMS_TRIP, ALARM_ESTOP, ALARM_INVERTER_FAULT, DEVICE_FAULT, DEVICE_RUNNING,
                           DEVICE_STANDBY, REQUIRED, Envelope, Limits, Memory, Quality, Raw, Reading, Readings,
                           validate)
from ..markets import PRODUCTS
from .reserves import DROOPS, headroom
from .resolution import ZERO, Range, Resolver, Step
from .schedules import LAYERS, Wishes
from .states import AssetMode, Conditions, transition

_POWER_MOVES: frozenset[str] = frozenset({"power_mw"})
_NOTHING_MOVES: frozenset[str] = frozenset()
_NO_ACKS: frozenset[str | None] = frozenset()
_WITH_HZ = REQUIRED + ("frequency_hz",)
_HEADROOM = {p: headroom(p) for p in PRODUCTS}  # (needs up, needs down) by product, once
_LAYER_ATTRIBUTES = tuple((layer, f"{layer}_mw") for layer in LAYERS)
GOOD = Quality.GOOD
ActionKind = Literal["stop", "start", "estop", "ack", "maintenance", "end_maintenance"]


@dataclass(frozen=True)
class OperatorAction:
    """An operator's action; `asset` None means every asset of the site."""

    kind: ActionKind
    asset: str | None = None
    reason: str = ""
    id: str = ""


@dataclass(frozen=True)
class AssetState:
    mode: AssetMode = AssetMode()
    memory: Memory = Memory()
    last_mw: float = 0.0              # the last command sent
    off_track_since: float | None = None
    stop: str | None = None           # operator stop, latched until start
    estop: str | None = None          # operator e-stop, latched until acknowledged
    maintenance: str | None = None


@dataclass(frozen=True)
class Snapshot:
    """One immutable view of a site at one cycle: what each asset reported (validated), its mode,
    the frequency used, what the schedules asked and what was commanded. Queries read this and
    never touch the loop's working state."""

    cycle: int
    t: float
    assets: tuple[str, ...]
    modes: tuple[str, ...]
    readings: tuple[Readings, ...]
    frequency_hz: float | None
    wishes: Wishes
    commands: tuple["Command", ...]


@dataclass(frozen=True)
class SiteState:
    cycle: int = 0
    t: float | None = None
    assets: tuple[AssetState, ...] = ()
    snapshot: Snapshot | None = None  # the last cycle's view (not needed to step; kept for queries)


@dataclass(frozen=True)
class Inputs:
    """Everything one cycle sees besides its state: recorded whole by the replay."""

    now: float
    raw: tuple[Raw, ...]                       # one per battery, in the site's order
    wishes: Wishes = Wishes()
    actions: tuple[OperatorAction, ...] = ()
    write_errors: tuple[str | None, ...] = ()  # per battery: the last write was not confirmed, and why


@dataclass(frozen=True)
class Command:
    id: str
    asset: str
    cycle: int
    t: float
    setpoint_mw: float
    valid_until: float
    mode: str
    decided_by: str
    reasons: tuple[str, ...]
    steps: tuple[Step, ...]

    def describe(self) -> str:
        return (f"{self.asset}: {1000 * self.setpoint_mw:+9.1f} kW  {self.mode:<14} by {self.decided_by}"
                + (f"  [{'; '.join(self.reasons)}]" if self.reasons else ""))


@dataclass(frozen=True)
class Controller:
    """A site's static control parameters (from its operations config)."""

    site_id: str
    assets: tuple[str, ...]
    ratings: tuple[Rating, ...]
    envelopes: tuple[Envelope, ...]
    import_mw: float
    export_mw: float
    limits: Limits
    period_s: float
    follow_timeout_s: float
    follow_tolerance: float
    derate_below: float
    command_valid_s: float
    nominal_hz: float
    reserve_hours: tuple[tuple[str, float], ...]  # full-activation duration per reserve product

    @classmethod
    def of(cls, operation) -> "Controller":
        """From a `control.settings.Operation`."""
        c, site = operation.control, operation.site
        bats = site.batteries
        return cls(
            site_id=site.id, assets=tuple(b.id for b in bats),
            ratings=tuple(Rating.of(b, operation.ramp_mw_per_s(b)) for b in bats),
            envelopes=tuple(Envelope.of(b.charge_mw, b.discharge_mw, b.energy_mwh, c.nominal_hz) for b in bats),
            import_mw=site.poi.import_mw, export_mw=site.poi.export_mw,
            limits=Limits(c.max_age_s, c.max_skew_s, c.frozen_s), period_s=c.period_s,
            follow_timeout_s=c.follow_timeout_s, follow_tolerance=c.follow_tolerance,
            derate_below=c.derate_below, command_valid_s=c.command_valid_s, nominal_hz=c.nominal_hz,
            reserve_hours=tuple((p, site.markets.duration_h(p)) for p in sorted(DROOPS) + ["afrr_down", "afrr_up"]),
        )

    @cached_property
    def _hours(self) -> dict[str, float]:
        return dict(self.reserve_hours)

    def initial(self) -> SiteState:
        return SiteState(assets=tuple(AssetState() for _ in self.assets))

    def step(self, state: SiteState, inputs: Inputs) -> tuple[SiteState, tuple[Command, ...]]:
        now = inputs.now
        n = len(self.assets)
        if len(inputs.raw) != n:
            raise ValueError(f"{len(inputs.raw)} raw reads for {n} assets")
        dt = self.period_s if state.t is None else min(max(now - state.t, 1e-3), 2 * self.period_s)
        cycle = state.cycle + 1
        actions = inputs.actions
        if actions:
            assets = [self._apply_actions(a, self.assets[i], actions) for i, a in enumerate(state.assets)]
            acked = frozenset(a.asset for a in actions if a.kind == "ack")
        else:
            assets, acked = list(state.assets), _NO_ACKS
        reserves = dict(inputs.wishes.reserves)
        droop_committed = any(p in DROOPS and mw > 0 for p, mw in reserves.items())
        required = _WITH_HZ if droop_committed else REQUIRED
        write_errors = inputs.write_errors
        tolerance = self.follow_tolerance

        readings: list[Readings] = []
        modes: list[AssetMode] = []
        memories: list[Memory] = []
        off_tracks: list[float | None] = []
        for i, a in enumerate(assets):
            rating = self.ratings[i]
            moving = _POWER_MOVES if abs(a.last_mw) > tolerance * rating.max_mw else _NOTHING_MOVES
            r, memory = validate(inputs.raw[i], a.memory, self.envelopes[i], self.limits, now, moving)
            readings.append(r)
            problems = r.problems(required)
            write_error = write_errors[i] if i < len(write_errors) else None
            if write_error:
                problems += (f"write not confirmed: {write_error}",)
            off_track = self._off_track(a, r, rating, now)
            values = r.values
            state_code = _good(values["state"])
            bits = int(_good(values["alarms"]) or 0)
            cond = Conditions(
                "; ".join(problems) or None,
                state_code in (DEVICE_STANDBY, DEVICE_RUNNING),
                self._fault(r, bits, state_code, off_track, a, now) if bits or state_code == DEVICE_FAULT
                or off_track is not None else None,
                a.estop or ("emergency stop pressed" if bits & ALARM_ESTOP else None),
                self._derated(values, rating),
                a.stop, a.maintenance,
                bool(acked) and (None in acked or self.assets[i] in acked),
            )
            modes.append(transition(a.mode, cond, now))
            memories.append(memory)
            off_tracks.append(off_track)

        operable = [m.mode.operable for m in modes]
        own = []
        for i in range(n):
            if operable[i]:
                v = readings[i].values
                own.append(envelope(self.ratings[i], _value(v["soc"]), _value(v["charge_limit_mw"]),
                                    _value(v["discharge_limit_mw"]), dt))
            else:
                own.append((ZERO, ""))
        shares = poi_shares([e for e, _ in own], self.import_mw, self.export_mw)
        hz = [_value(f) for r in readings if (f := r.values["frequency_hz"]).quality is GOOD]
        frequency = hz[0] if len(hz) == 1 else _median(hz)
        activation = {p: DROOPS[p].activation(frequency, self.nominal_hz) if frequency is not None else 0.0
                      for p in reserves if p in DROOPS}
        rated = [self.ratings[i].max_mw if operable[i] else 0.0 for i in range(n)]

        resolvers: list[Resolver] = []
        offsets: list[float] = []
        notes: list[list[str]] = []
        for i, a in enumerate(assets):
            notes.append([])
            if not operable[i]:
                resolvers.append(Resolver("state", ZERO, f"{modes[i].mode.value}: {modes[i].reason}"))
                offsets.append(0.0)
                continue
            env, why = own[i]
            share = shares[i]
            limit = Range(max(env.lo, share.lo), min(env.hi, share.hi))
            if limit != env:
                why += f"; POI share {share.lo:.6g}..{share.hi:.6g} MW"
            res = Resolver("limits", limit, why)
            offset = self._reserves(res, i, readings[i], reserves, activation, rated, frequency, notes[i]) \
                if reserves else 0.0
            resolvers.append(res)
            offsets.append(offset)

        wishes = inputs.wishes
        for layer, attribute in _LAYER_ATTRIBUTES:
            site_mw = getattr(wishes, attribute)
            if site_mw is None:
                continue
            if all(r.decided for r in resolvers):  # a higher layer set every point: nothing left to ask
                break
            note = f"site {site_mw:.6g} MW"
            for i, part in enumerate(_split(site_mw, [r.range for r in resolvers], offsets, operable)):
                if operable[i]:
                    resolvers[i].target(layer, part + offsets[i], note)

        made: list[Command] = []
        valid_until = now + self.command_valid_s
        for i, a in enumerate(assets):
            resolution = resolvers[i].resolve(idle_mw=offsets[i])
            rating, setpoint = self.ratings[i], resolution.range.lo
            steps = resolution.steps
            mode = modes[i]
            if operable[i]:
                was_running = state.assets[i].mode.mode.operable
                start_from = a.last_mw if was_running else _value(readings[i].values["power_mw"])
                first = steps[0]  # the limits layer's range
                ramped = ramp(rating, start_from, dt).clip(setpoint)
                final = min(max(ramped, first.lo), first.hi)
                if final != setpoint:
                    note = (f"from {'last command' if was_running else 'measured power'} {start_from:.6g} MW"
                            + (", limit beats ramp" if final != ramped else ""))
                    steps += (Step("ramp", final, final, note),)
                setpoint = final
                reasons = tuple(notes[i])
            else:
                reasons = tuple(notes[i]) + (f"{mode.mode.value}: {mode.reason}",)
            setpoint += 0.0
            asset = self.assets[i]
            made.append(Command(
                f"{self.site_id}/{asset}/{cycle}", asset, cycle, now, setpoint, valid_until, mode.mode.value,
                "ramp" if steps[-1].layer == "ramp" else resolution.decided_by, reasons, steps))
            assets[i] = AssetState(mode, memories[i], setpoint, off_tracks[i], a.stop, a.estop, a.maintenance)
        commands = tuple(made)
        snapshot = Snapshot(cycle, now, self.assets, tuple([m.mode.value for m in modes]), tuple(readings),
                            frequency, inputs.wishes, commands)
        return SiteState(cycle, now, tuple(assets), snapshot), commands

    # -- the parts of one cycle ------------------------------------------------------------------

    @staticmethod
    def _apply_actions(a: AssetState, asset: str, actions) -> AssetState:
        for act in actions:
            if act.asset not in (None, asset):
                continue
            reason = f"operator {act.kind}" + (f": {act.reason}" if act.reason else "")
            if act.kind == "stop":
                a = replace(a, stop=reason)
            elif act.kind == "start":
                a = replace(a, stop=None)
            elif act.kind == "estop":
                a = replace(a, estop=reason)
            elif act.kind == "ack":  # releases an operator's e-stop; the state machine then needs its cause gone
                a = replace(a, estop=None)
            elif act.kind == "maintenance":
                a = replace(a, maintenance=reason)
            elif act.kind == "end_maintenance":
                a = replace(a, maintenance=None)
        return a

    def _off_track(self, a: AssetState, r: Readings, rating: Rating, now: float) -> float | None:
        """Since when the measured power misses the last command (None: on track or not judged)."""
        if not a.mode.mode.operable or not r["power_mw"].good:
            return None
        if abs(r.value("power_mw") - a.last_mw) <= self.follow_tolerance * rating.max_mw:
            return None
        return a.off_track_since if a.off_track_since is not None else now

    def _fault(self, r: Readings, bits: int, state_code, off_track: float | None, a: AssetState,
               now: float) -> str | None:
        causes = [text for hit, text in ((bits & ALARM_BMS_TRIP, "BMS trip"),
                                         (bits & ALARM_INVERTER_FAULT, "inverter fault alarm"),
                                         (state_code == DEVICE_FAULT, "device reports fault")) if hit]
        if off_track is not None and now - off_track >= self.follow_timeout_s:
            causes.append(f"device does not follow its setpoint: {r.value('power_mw'):.6g} MW measured against "
                          f"{a.last_mw:.6g} MW for {now - off_track:.0f} s")
        return "; ".join(causes) or None

    def _derated(self, values, rating: Rating) -> str | None:
        cha, dis = values["charge_limit_mw"], values["discharge_limit_mw"]
        if cha.quality is not GOOD or dis.quality is not GOOD:
            return None
        share = min(cha.value / rating.charge_mw, dis.value / rating.discharge_mw)
        return f"BMS limits below {100 * self.derate_below:.0f} % of rating" if share < self.derate_below else None

    def _reserves(self, res: Resolver, i: int, r: Readings, reserves: dict[str, float],
                  activation: dict[str, float], rated: list[float], frequency: float | None,
                  notes: list[str]) -> float:
        """Narrow to the base range the commitments leave, shifted by their activation; returns the
        activation (MW) that the lower layers' base points are offset by."""
        if not reserves or sum(rated) <= 0:
            return 0.0
        share = rated[i] / sum(rated)
        up = down = up_mwh = down_mwh = offset = 0.0
        hours = self._hours
        parts = []
        for product, site_mw in reserves.items():
            mw = site_mw * share
            needs_up, needs_down = _HEADROOM[product]
            if needs_up:
                up += mw
                up_mwh += mw * hours[product]
            if needs_down:
                down += mw
                down_mwh += mw * hours[product]
            if product in activation:
                offset += mw * activation[product]
                parts.append(f"{product} {mw:.6g} MW x {activation[product]:+.3f}")
        if parts:
            parts.append(f"at {frequency:.3f} Hz" if frequency is not None else "no frequency")
        lim = res.range
        base = reserve_base(self.ratings[i], r.value("soc"), up_mwh, down_mwh)
        lo, hi = max(lim.lo + down, base.lo), min(lim.hi - up, base.hi)
        note = ", ".join(parts) or "headroom kept"
        if hi < lo <= hi + 1e-9:  # a plan made to the edge (an LP's), off by rounding: it fits
            lo = hi
        if lo > hi:  # the commitment does not fit: deliver the activation as far as the limits allow
            notes.append(f"reserve headroom short: {up:.6g} MW up / {down:.6g} MW down in {lim.lo:.6g}..{lim.hi:.6g} MW")
            res.limit("reserves", Range(lim.clip(offset), lim.clip(offset)), note)
        else:
            res.limit("reserves", Range(lo + offset, hi + offset), note)
        return offset


def _split(site_mw: float, ranges: list[Range], offsets: list[float], operable: list[bool]) -> list[float]:
    """A site-level base point shared among operable assets pro rata to the room each has in its
    direction (after the activation they deliver)."""
    room = [(max(r.hi - o, 0.0) if site_mw >= 0 else max(o - r.lo, 0.0)) if ok else 0.0
            for r, o, ok in zip(ranges, offsets, operable)]
    total = sum(room)
    if total <= 0:
        return [0.0] * len(ranges)
    return [site_mw * x / total for x in room]


def _value(reading: Reading) -> float:
    """A good reading's value (the caller checked its quality)."""
    value = reading.value
    assert value is not None
    return value


def _good(reading: Reading) -> float | None:
    return reading.value if reading.quality is GOOD else None


def _median(values: list[float]) -> float | None:
    if not values:
        return None
    v = sorted(values)
    m = len(v) // 2
    return v[m] if len(v) % 2 else (v[m - 1] + v[m]) / 2.0
