"""One simulated battery, inverter and BMS: the physics behind the simulator's registers.

Plain Python with an explicit clock (`advance(now)`), so that the wire servers and the in-process
plan-versus-operable runs share it. Conventions: power > 0 is discharge (MW at the terminals); SoC is
a fraction of nameplate energy.

- SoC: charging stores P x eta_c, discharging takes P / eta_d, standby loss on what is stored.
- BMS: allowed charge / discharge power taper linearly to 0 over the last `taper` of SoC at either
  end, and are 0 when tripped. The plant never exceeds them, whatever it is told.
- Inverter: a setpoint takes effect after `response_delay_s`, then power ramps at `ramp_mw_per_s`.
- SunSpec 704 reversion: a setpoint written while `WSetRvrtTms` > 0 holds until that many seconds
  pass without a new write (or, once a controller heartbeat was seen, without a new one), then
  `WSetRvrt` applies.
"""
from __future__ import annotations

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
        """Integrate the physics from the plant's time to `now` (steps of at most 0.1 s)."""
        while self.t < now:
            dt = min(0.1, now - self.t)
            self._step(self.t + dt, dt)

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
