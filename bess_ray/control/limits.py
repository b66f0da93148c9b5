"""The constraint limiter and the ramp limiter: the last word before a command.

Constraint limiter: the inverter's rating, the BMS's allowed charge / discharge power, the SoC limits
(no discharge at or below the minimum, no charge at or above the maximum, never past them within a
cycle), and the asset's share of the site's POI import / export limit. Reserve energy: while a reserve
is committed, the energy its full activation needs is kept, so that the base point may not take it.

Ramp limiter: the command moves at most `ramp_mw_per_s * dt` from the previous command, or from the
measured power when the asset (re)starts. A limit always wins over the ramp: when a limit drops
faster than the ramp allows, the command follows the limit, never the other way.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from .resolution import Range


@dataclass(frozen=True)
class Rating:
    """What the limiter knows of one battery (from its config)."""

    charge_mw: float
    discharge_mw: float
    energy_mwh: float
    charge_efficiency: float
    discharge_efficiency: float
    soc_min: float
    soc_max: float
    ramp_mw_per_s: float

    @classmethod
    def of(cls, battery, ramp_mw_per_s: float) -> "Rating":
        return cls(battery.charge_mw, battery.discharge_mw, battery.energy_mwh, battery.charge_efficiency,
                   battery.discharge_efficiency, battery.soc_min, battery.soc_max, ramp_mw_per_s)

    @property
    def max_mw(self) -> float:
        return max(self.charge_mw, self.discharge_mw)


def envelope(r: Rating, soc: float, charge_limit_mw: float, discharge_limit_mw: float, dt: float) -> tuple[Range, str]:
    """The asset's own limits (inverter, BMS, SoC), and which bound each side."""
    # energy that one cycle may move without crossing a SoC limit, as power
    room_dis = max(soc - r.soc_min, 0.0) * r.energy_mwh * r.discharge_efficiency * 3600.0 / dt
    room_cha = max(r.soc_max - soc, 0.0) * r.energy_mwh / r.charge_efficiency * 3600.0 / dt
    hi, hi_by = min((r.discharge_mw, "inverter"), (discharge_limit_mw, "bms"), (room_dis, "soc_min"))
    lo, lo_by = min((r.charge_mw, "inverter"), (charge_limit_mw, "bms"), (room_cha, "soc_max"))
    return Range(-lo, hi), f"charge bound by {lo_by}, discharge by {hi_by}"


def reserve_base(r: Rating, soc: float, up_mwh: float, down_mwh: float) -> Range:
    """The base point's range when the committed reserves' full-activation energy must stay
    available: `up_mwh` to discharge above soc_min, `down_mwh` to charge below soc_max (at the
    terminals)."""
    above = (soc - r.soc_min) * r.energy_mwh * r.discharge_efficiency
    below = (r.soc_max - soc) * r.energy_mwh / r.charge_efficiency
    hi = 0.0 if up_mwh > 0 and above <= up_mwh else float("inf")
    lo = 0.0 if down_mwh > 0 and below <= down_mwh else float("-inf")
    return Range(lo, hi)


def poi_shares(ranges: Sequence[Range], import_mw: float, export_mw: float) -> list[Range]:
    """Each asset's share of the POI: pro rata to what it can do now, so that the shares never add
    up to more than the POI in either direction."""
    can_export = can_import = 0.0
    for lo, hi in ranges:
        if hi > 0:
            can_export += hi
        if lo < 0:
            can_import -= lo
    ex = min(1.0, export_mw / can_export) if can_export > 0 else 0.0
    im = min(1.0, import_mw / can_import) if can_import > 0 else 0.0
    return [Range(min(lo, 0.0) * im, max(hi, 0.0) * ex) for lo, hi in ranges]


def ramp(r: Rating, previous_mw: float, dt: float) -> Range:
    step = r.ramp_mw_per_s * dt
    return Range(previous_mw - step, previous_mw + step)
