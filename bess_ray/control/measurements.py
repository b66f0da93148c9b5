"""Measurements and their validation: every value carries a quality and the reason for it.

Device adapters hand over `Raw` values already in bess-ray's units and sign (MW, fractions, power > 0
is discharge); this module decides whether each can be trusted. The checks run in a fixed order and
the first that fails names the value's quality: missing / not implemented, not a number, out of
range, timestamp too old or in the future, implausible rate of change, frozen.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from types import MappingProxyType
from typing import Mapping, NamedTuple

# The control vocabulary of device states (adapters map their device's codes onto it).
DEVICE_OFF, DEVICE_STARTING, DEVICE_STANDBY, DEVICE_RUNNING, DEVICE_FAULT = 0, 1, 2, 3, 4
DEVICE_STATES = {DEVICE_OFF: "off", DEVICE_STARTING: "starting", DEVICE_STANDBY: "standby",
                 DEVICE_RUNNING: "running", DEVICE_FAULT: "fault"}
STATE_CODES = {name: code for code, name in DEVICE_STATES.items()}

# Alarm bits (adapters map their device's alarm words onto them).
ALARM_BMS_TRIP = 1        # the BMS opened its contactors or reports a fault
ALARM_INVERTER_FAULT = 2  # the inverter reports a fault
ALARM_ESTOP = 4           # the site's hard-wired emergency stop is pressed
ALARM_OVER_TEMPERATURE = 8

# Every asset reports these; `frequency_hz` is required only while a reserve is committed.
REQUIRED = ("power_mw", "soc", "charge_limit_mw", "discharge_limit_mw", "state", "alarms")
FIELDS = REQUIRED + ("frequency_hz",)


class Quality(str, Enum):
    GOOD = "good"
    MISSING = "missing"
    NOT_IMPLEMENTED = "not_implemented"
    INVALID = "invalid"
    OUT_OF_RANGE = "out_of_range"
    STALE = "stale"
    SKEWED = "skewed"
    IMPLAUSIBLE = "implausible_rate"
    FROZEN = "frozen"


@dataclass(frozen=True)
class Raw:
    """One read of one asset, in bess-ray units. `timestamp` is the device's own clock when it has
    one (seconds since the epoch, UTC), else None and `received` stands in; `error` says why a read
    failed (then `values` is empty)."""

    values: Mapping[str, float | None]
    received: float
    timestamp: float | None = None
    not_implemented: frozenset[str] = frozenset()
    error: str | None = None


class Reading(NamedTuple):  # a tuple: made 7 times per asset and cycle, and cheap that way
    value: float | None
    quality: Quality
    reason: str = ""

    @property
    def good(self) -> bool:
        return self.quality is Quality.GOOD


@dataclass(frozen=True)
class Readings:
    """One asset's validated values at one cycle."""

    t: float
    values: Mapping[str, Reading]

    def __getitem__(self, name: str) -> Reading:
        return self.values[name]

    def value(self, name: str) -> float:
        return self.values[name].value  # type: ignore[return-value]

    def problems(self, names=REQUIRED) -> tuple[str, ...]:
        """`name: quality (reason)` for every value in `names` that is not good, in field order."""
        values = self.values
        bad = [n for n in names if values[n][1] is not Quality.GOOD]
        return tuple(f"{n}: {r.quality.value}" + (f" ({r.reason})" if r.reason else "")
                     for n in bad if (r := values[n])) if bad else ()


@dataclass(frozen=True)
class Envelope:
    """Plausible ranges of one asset's values and how fast they may move."""

    max_abs_power_mw: float
    max_limit_mw: float
    soc_step: float           # largest plausible SoC change in one second (besides the fixed allowance)
    nominal_hz: float = 50.0
    _ranges: dict[str, tuple[float, float]] = field(init=False, repr=False, compare=False, default_factory=dict)

    @classmethod
    def of(cls, charge_mw: float, discharge_mw: float, energy_mwh: float, nominal_hz: float = 50.0) -> "Envelope":
        p = max(charge_mw, discharge_mw)
        return cls(max_abs_power_mw=1.2 * p + 0.01, max_limit_mw=2.0 * p + 0.01,
                   soc_step=3.0 * p / energy_mwh / 3600.0, nominal_hz=nominal_hz)

    def __post_init__(self):  # the ranges once, not on every check
        object.__setattr__(self, "_ranges", {
            "power_mw": (-self.max_abs_power_mw, self.max_abs_power_mw),
            "soc": (0.0, 1.0),
            "charge_limit_mw": (0.0, self.max_limit_mw),
            "discharge_limit_mw": (0.0, self.max_limit_mw),
            "state": (0.0, 4.0),
            "alarms": (0.0, 2.0 ** 16 - 1),
            "frequency_hz": (self.nominal_hz - 5.0, self.nominal_hz + 5.0),
        })

    def range(self, name: str) -> tuple[float, float]:
        return self._ranges[name]

    def max_step(self, name: str, dt: float) -> float | None:
        """The largest plausible change over dt seconds, or None when any change is plausible."""
        if name == "soc":
            return 0.005 + self.soc_step * dt
        if name == "frequency_hz":
            return 0.1 + 0.5 * dt  # 0.5 Hz/s is far beyond any measured RoCoF in a synchronous area
        return None


@dataclass(frozen=True)
class Memory:
    """What validation remembers of an asset between cycles: the last raw value of each field and
    when it arrived, when each value last changed (device time) and which values had to move."""

    last: Mapping[str, tuple[float, float]] = field(default_factory=lambda: MappingProxyType({}))
    changed_at: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    moving: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Limits:
    max_age_s: float = 3.0
    max_skew_s: float = 2.0
    frozen_s: float = 10.0
    frozen_hz_s: float = 30.0  # the Nordic TSO signal holds each value about 10 s


def validate(raw: Raw, memory: Memory, envelope: Envelope, limits: Limits, now: float,
             moving: frozenset[str] = frozenset()) -> tuple[Readings, Memory]:
    """Validate one read. `moving` names the values that must change (power while a non-zero
    setpoint applies); a value that stays bit-identical longer than the frozen limit is frozen."""
    t = raw.timestamp if raw.timestamp is not None else raw.received
    if raw.error is not None:
        missing = _new(Reading, (None, Quality.MISSING, raw.error))
        return (Readings(t, MappingProxyType(dict.fromkeys(FIELDS, missing))),
                Memory(memory.last, memory.changed_at, moving))
    age = now - t
    readings: dict[str, Reading] = {}
    last = dict(memory.last)
    changed = dict(memory.changed_at)
    ranges = envelope._ranges
    received = raw.received
    values, absent, was_moving = raw.values, raw.not_implemented, memory.moving
    stale, skewed = age > limits.max_age_s, -age > limits.max_skew_s
    for name in FIELDS:  # the checks in order; the first that fails names the quality
        if absent and name in absent:
            readings[name] = _new(Reading, (None, Quality.NOT_IMPLEMENTED, "the device does not implement it"))
            continue
        v = values.get(name)
        if v is None:
            readings[name] = _new(Reading, (None, Quality.MISSING, "no value"))
            continue
        v = float(v)
        if v - v != 0.0:  # inf or nan
            readings[name] = _new(Reading, (None, Quality.INVALID, f"{v} is not a number"))
            continue
        previous = last.get(name)
        if previous is None or previous[0] != v or (name in moving and name not in was_moving):
            changed[name] = t  # a value that starts having to move is watched from now on
        last[name] = (v, received)
        lo, hi = ranges[name]
        if not lo <= v <= hi:
            readings[name] = _new(Reading, (v, Quality.OUT_OF_RANGE, f"{v:g} outside {lo:g}..{hi:g}"))
        elif stale:
            readings[name] = _new(Reading, (v, Quality.STALE, f"{age:.1f} s old (limit {limits.max_age_s:g} s)"))
        elif skewed:
            readings[name] = _new(Reading, (v, Quality.SKEWED, f"timestamp {-age:.1f} s in the future"))
        elif previous is not None and name in _STEPPED and (step := envelope.max_step(
                name, dt := max(received - previous[1], 0.0))) is not None and abs(v - previous[0]) > step:
            readings[name] = _new(Reading, (v, Quality.IMPLAUSIBLE,
                                            f"changed by {v - previous[0]:+.4g} in {dt:.1f} s (limit {step:.4g})"))
        elif (name == "frequency_hz" or name in moving) and (held := t - changed[name]) >= (
                limit := limits.frozen_hz_s if name == "frequency_hz" else limits.frozen_s):
            readings[name] = _new(Reading, (v, Quality.FROZEN, f"unchanged for {held:.0f} s (limit {limit:g} s)"))
        else:
            readings[name] = _new(Reading, (v, Quality.GOOD, ""))
    return (Readings(t, MappingProxyType(readings)),
            Memory(MappingProxyType(last), MappingProxyType(changed), moving))


_new = tuple.__new__  # a NamedTuple without its Python-level __new__: made 7 times per asset and cycle
_STEPPED = frozenset(name for name in FIELDS if Envelope.of(1, 1, 1).max_step(name, 1.0) is not None)
