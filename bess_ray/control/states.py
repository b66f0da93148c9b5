"""The asset state machine: explicit transitions, each with a reason.

Only RUNNING and DERATED may move power; every other mode means 0 kW. FAULT and EMERGENCY_STOP are
latched: they are left only by an operator's acknowledgement, once their cause has cleared. A safe
stop caused by bad data recovers by itself after `RECOVER_CYCLES` good cycles in a row; one an
operator asked for waits for the operator's start.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import NamedTuple

RECOVER_CYCLES = 3


class Mode(str, Enum):
    OFFLINE = "OFFLINE"
    STARTING = "STARTING"
    STANDBY = "STANDBY"
    RUNNING = "RUNNING"
    DERATED = "DERATED"
    SAFE_STOP = "SAFE_STOP"
    EMERGENCY_STOP = "EMERGENCY_STOP"
    FAULT = "FAULT"
    MAINTENANCE = "MAINTENANCE"

    @property
    def operable(self) -> bool:
        return self in (Mode.RUNNING, Mode.DERATED)


class Conditions(NamedTuple):  # a tuple: one is made per asset and cycle
    """What the state machine sees of one asset in one cycle (all derived from validated data)."""

    data_problem: str | None = None    # a required value is not good, or the last write was not confirmed
    device_ready: bool = False         # the device reports standby or running
    fault: str | None = None           # device / BMS fault, or a device that does not follow its setpoint
    estop: str | None = None           # an operator's or the hard-wired emergency stop
    derated: str | None = None         # BMS limits below the derating share of rated power
    operator_stop: str | None = None   # an operator's stop (site or asset), with the operator's reason
    maintenance: str | None = None     # the asset is in maintenance (operator)
    acknowledged: bool = False         # an operator acknowledged this cycle


@dataclass(frozen=True)
class AssetMode:
    mode: Mode = Mode.OFFLINE
    reason: str = "not started"
    since: float = 0.0
    good_cycles: int = 0  # consecutive cycles without a data problem (up to RECOVER_CYCLES)


def transition(s: AssetMode, c: Conditions, now: float) -> AssetMode:
    """The next mode. Rules are checked in priority order; the first that applies decides."""
    # counted up to what recovery needs: in steady state the mode stays the very same object
    good = 0 if c.data_problem else min(s.good_cycles + 1, RECOVER_CYCLES)
    if good != s.good_cycles:
        s = AssetMode(s.mode, s.reason, s.since, good)  # not replace(): this runs every cycle

    def to(mode: Mode, reason: str) -> AssetMode:
        return s if mode is s.mode and reason == s.reason else AssetMode(mode, reason, now, good)

    m = s.mode
    if m is Mode.EMERGENCY_STOP:
        if c.acknowledged and not c.estop:
            return to(Mode.OFFLINE, "emergency stop acknowledged")
        return s
    if c.estop:
        return to(Mode.EMERGENCY_STOP, c.estop)
    if m is Mode.MAINTENANCE:
        return s if c.maintenance else to(Mode.OFFLINE, "maintenance ended")
    if c.maintenance:
        return to(Mode.MAINTENANCE, c.maintenance)
    if m is Mode.FAULT:
        if c.acknowledged and not c.fault:
            return to(Mode.OFFLINE, "fault acknowledged")
        return s
    if c.fault:
        return to(Mode.FAULT, c.fault)
    if c.data_problem:
        if m in (Mode.OFFLINE, Mode.SAFE_STOP):
            return s if m is Mode.SAFE_STOP else to(Mode.OFFLINE, c.data_problem)
        return to(Mode.SAFE_STOP, c.data_problem)
    if c.operator_stop:
        if m in (Mode.OFFLINE, Mode.STARTING):
            return s
        return to(Mode.SAFE_STOP, c.operator_stop)
    if m is Mode.OFFLINE:
        return to(Mode.STARTING, "measurements valid")
    if m is Mode.STARTING:
        return to(Mode.STANDBY, "device ready") if c.device_ready else s
    if m is Mode.SAFE_STOP:
        if good >= RECOVER_CYCLES:
            return to(Mode.STANDBY, f"recovered: {RECOVER_CYCLES} good cycles")
        return s
    if not c.device_ready:
        return to(Mode.STANDBY, "device not ready")
    if c.derated:
        return to(Mode.DERATED, c.derated)
    return to(Mode.RUNNING, "enabled" if m is Mode.STANDBY else "limits restored")
