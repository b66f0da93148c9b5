"""One simulated battery, inverter and BMS: the physics behind the simulator's registers.

Plain Python with an explicit clock (`advance(now)`), so that the wire servers and the in-process
plan-versus-operable runs share it. Conventions: power > 0 is discharge (MW at the terminals); SoC is
a fraction of nameplate energy.

- SoC: charging stores P x eta_c, discharging takes P / eta_d, standby loss on what is stored.
- BMS: allowed charge / discharge power taper linearly to 0 over the last `taper` of SoC at either
  end, and are 0 when tripped. The plant never exceeds them, whatever it is told.
- Inverter: a setpoint takes effect after `response_delay_s`, then power ramps at `ramp_mw_per_s`.
- Integration: exact (a linear ramp, then constant power) from event to event while neither the BMS
  taper nor a reversion timer can act; in steps of 0.1 s otherwise. The exact path is what makes a
  year of seconds in-process affordable; both give the same physics.
- SunSpec 704 reversion: a setpoint written while `WSetRvrtTms` > 0 holds until that many seconds
  pass without a new write (or, once a controller heartbeat was seen, without a new one), then
  `WSetRvrt` applies.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

# SunSpec 701 InvSt codes
INV_OFF, INV_STARTING, INV_RUNNING, INV_FAULT, INV_STANDBY = 0, 2, 3, 6, 7


@dataclass
class Plant:
    charge_mw: float
    discharge_mw: float
    energy_mwh: float
    charge_efficiency: float = 0.95
    discharge_efficiency: float = 0.95
    standby_loss_per_hour: float = 0.0
    soc: float = 0.5
    taper: float = 0.1
    response_delay_s: float = 0.2
    ramp_mw_per_s: float | None = None   # default: full power in one second
    t: float = 0.0

    power_mw: float = 0.0
    target_mw: float = 0.0                # what the inverter is heading for
    setpoint_mw: float = 0.0              # the accepted setpoint (WSet, bess-ray sign)
    setpoint_enabled: bool = False        # WSetEna
    reversion_mw: float = 0.0             # WSetRvrt
    reversion_s: int = 0                  # WSetRvrtTms, 0 = no reversion
    last_write: float = 0.0
    last_heartbeat: float = 0.0
    heartbeat: int = 0                    # the controller's last CtrlHb
    reverted: bool = False
    tripped: bool = False
    ignore_setpoints: bool = False
    ramp_factor: float = 1.0              # < 1: a slow ramp
    energy_in_mwh: float = 0.0
    energy_out_mwh: float = 0.0
    _pending: list[tuple[float, float]] = field(default_factory=list)

    @classmethod
    def of(cls, battery, **kw) -> "Plant":
        return cls(battery.charge_mw, battery.discharge_mw, battery.energy_mwh, battery.charge_efficiency,
                   battery.discharge_efficiency, battery.standby_loss_per_hour, soc=battery.soc_initial, **kw)

    @property
    def max_mw(self) -> float:
        return max(self.charge_mw, self.discharge_mw)

    def bms_limits(self) -> tuple[float, float]:
        """(allowed charge, allowed discharge) in MW, >= 0."""
        if self.tripped:
            return 0.0, 0.0
        if self.taper <= 0:
            return (self.charge_mw if self.soc < 1.0 else 0.0), (self.discharge_mw if self.soc > 0.0 else 0.0)
        cha = self.charge_mw * min(1.0, max(0.0, (1.0 - self.soc) / self.taper))
        dis = self.discharge_mw * min(1.0, max(0.0, self.soc / self.taper))
        return cha, dis

    def inverter_state(self) -> int:
        if self.tripped:
            return INV_FAULT
        return INV_RUNNING if abs(self.power_mw) > 1e-6 or abs(self.target_mw) > 1e-6 else INV_STANDBY

    def write_setpoint(self, mw: float, now: float) -> None:
        """A write of WSet (bess-ray sign). It restarts the reversion timer."""
        self.advance(now)
        self.setpoint_mw = mw
        self.last_write = now
        self.reverted = False
        if not self.ignore_setpoints:
            self._pending.append((now + self.response_delay_s, mw))

    def write_heartbeat(self, value: int, now: float) -> None:
        self.advance(now)
        if value != self.heartbeat:
            self.heartbeat = value
            self.last_heartbeat = now

    def reversion_remaining(self, now: float) -> float:
        if self.reversion_s <= 0 or self.reverted:
            return 0.0
        return max(0.0, self.reversion_s - (now - self.last_write))

    def heartbeat_lost(self, now: float) -> bool:
        """The controller wrote a heartbeat once and then stopped for the reversion time."""
        return self.reversion_s > 0 and self.last_heartbeat > 0 and now - self.last_heartbeat > self.reversion_s

    def advance(self, now: float) -> None:
        """Integrate the physics from the plant's time to `now`."""
        while self.t < now:
            if not self._segment(now):
                dt = min(0.1, now - self.t)
                self._step(self.t + dt, dt)

    def _segment(self, now: float) -> bool:
        """Integrate exactly to the next event (a pending setpoint, or `now`) when nothing but the
        ramp can act on the way: no reversion timer, no trip, and the SoC stays clear of the BMS
        taper whatever the power does. False: the caller steps instead."""
        if self.reversion_s > 0 or self.tripped:
            return False
        pending = self._pending
        while pending and pending[0][0] <= self.t:
            self.target_mw = pending.pop(0)[1]
        end = min(now, pending[0][0]) if pending else now
        d = end - self.t
        p0 = self.power_mw
        wanted = self.target_mw if self.setpoint_enabled else 0.0
        wanted = min(max(wanted, -self.charge_mw), self.discharge_mw)
        e = self.energy_mwh
        # the largest SoC excursion the segment can make, against the taper band
        reach = max(abs(p0), abs(wanted)) * d / 3600.0 / (e * min(self.discharge_efficiency, 1.0 / self.charge_efficiency))
        lo, hi = (self.taper, 1.0 - self.taper) if self.taper > 0 else (0.0, 1.0)
        if not lo <= self.soc - reach <= self.soc + reach <= hi:
            return False
        rate = (self.ramp_mw_per_s or self.max_mw) * self.ramp_factor
        if rate <= 0:  # a stuck inverter: power stays
            t_ramp, p1 = d, p0
        elif abs(wanted - p0) <= rate * d:  # reached within the segment, then held
            t_ramp, p1 = abs(wanted - p0) / rate, wanted
        else:
            t_ramp, p1 = d, p0 + math.copysign(rate * d, wanted - p0)
        out, into = _energy(p0, p1, t_ramp)
        o2, i2 = _energy(p1, p1, d - t_ramp)
        out, into = out + o2, into + i2
        stored = self.soc * e - out / self.discharge_efficiency + into * self.charge_efficiency
        stored *= 1.0 - self.standby_loss_per_hour * d / 3600.0
        self.soc = min(max(stored / e, 0.0), 1.0)
        self.energy_out_mwh += out
        self.energy_in_mwh += into
        self.power_mw = p1
        self.t = end
        return True

    def _step(self, t: float, dt: float) -> None:
        if self.reversion_s > 0 and not self.reverted and (self.reversion_remaining(t) <= 0 or self.heartbeat_lost(t)):
            self.reverted = True
            self.setpoint_mw = self.reversion_mw
            self._pending = [(t, self.reversion_mw)]  # the device's own fallback is not ignored
        while self._pending and self._pending[0][0] <= t:
            self.target_mw = self._pending.pop(0)[1]
        wanted = self.target_mw if (self.setpoint_enabled or self.reverted) else 0.0
        cha, dis = self.bms_limits()
        wanted = min(max(wanted, -cha, -self.charge_mw), dis, self.discharge_mw)
        step = (self.ramp_mw_per_s or self.max_mw) * self.ramp_factor * dt
        p = self.power_mw + min(max(wanted - self.power_mw, -step), step)
        p = min(max(p, -cha), dis)  # the BMS cuts at once, whatever the ramp
        h = dt / 3600.0
        stored = self.soc * self.energy_mwh
        if p >= 0:
            stored -= p * h / self.discharge_efficiency
            self.energy_out_mwh += p * h
        else:
            stored += -p * h * self.charge_efficiency
            self.energy_in_mwh += -p * h
        stored *= 1.0 - self.standby_loss_per_hour * h
        self.soc = min(max(stored / self.energy_mwh, 0.0), 1.0)
        self.power_mw = p
        self.t = t


def _energy(a: float, b: float, seconds: float) -> tuple[float, float]:
    """(MWh discharged, MWh charged) at the terminals by power moving linearly from a to b."""
    if seconds <= 0:
        return 0.0, 0.0
    h = seconds / 3600.0
    if a >= 0 and b >= 0:
        return (a + b) / 2 * h, 0.0
    if a <= 0 and b <= 0:
        return 0.0, -(a + b) / 2 * h
    cross = a / (a - b)  # share of the way at which power passes 0
    first, second = abs(a) / 2 * h * cross, abs(b) / 2 * h * (1 - cross)
    return (first, second) if a > 0 else (second, first)
