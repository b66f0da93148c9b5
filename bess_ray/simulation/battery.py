"""The battery as it behaves: plans from the optimiser are executed through this model.

Per battery and interval: power derated near the SoC limits (a piecewise-linear curve of the SoC
fraction), SoC limits on the capacity left after ageing, charge and discharge efficiency, standby
loss. Capacity is a set of cohorts (the original cells and any added by augmentation), each with
its own ageing state; every `soh_update_days` their fade is advanced from the SoC the battery
really went through, so the optimiser sees the shrinking battery. At end of life the cells are
replaced or augmented, or the battery runs on, per the policy. What the battery could not do that
the plan asked for is returned, interval by interval.

Auxiliary consumption (HVAC, BMS) is supplied through the POI and costed at the day-ahead price in
the settlement; it does not drain the cells.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numba import njit

from .. import exact
from ..config import Battery, Site
from .degradation import AgingState, model, stress


@njit(cache=True)
def _execute(charge, discharge, s0, cap, soc_min, soc_max, eta_c, eta_d, keep, p_c, p_d,
             c_x, c_y, d_x, d_y, dt):
    A, n = charge.shape
    out_c, out_d, out_s = np.empty((A, n)), np.empty((A, n)), np.empty((A, n))
    for i in range(A):
        s = s0[i]
        lo, hi = cap[i] * soc_min[i], cap[i] * soc_max[i]
        for t in range(n):
            frac = s / cap[i]
            c = min(charge[i, t], p_c[i] * np.interp(frac, c_x, c_y))
            d = min(discharge[i, t], p_d[i] * np.interp(frac, d_x, d_y))
            held = s * keep[i]
            c = max(min(c, (hi - held + d / eta_d[i] * dt) / (eta_c[i] * dt)), 0.0)
            d = max(min(d, (held + c * eta_c[i] * dt - lo) * eta_d[i] / dt), 0.0)
            s = held + (c * eta_c[i] - d / eta_d[i]) * dt
            if s > hi:  # capacity shrank below what is stored: the surplus is lost
                s = hi
            out_c[i, t], out_d[i, t], out_s[i, t] = c, d, s
    return out_c, out_d, out_s


@dataclass
class Cohort:
    """Cells bought together: nameplate MWh and their ageing."""

    mwh: float
    aging: AgingState = field(default_factory=AgingState)


@dataclass
class PlantState:
    """What carries from one period to the next: SoC (MWh) and the cohorts of each battery."""

    soc_mwh: np.ndarray
    cohorts: list[list[Cohort]]

    def capacity_mwh(self) -> np.ndarray:
        return np.array([sum(c.mwh * c.aging.soh for c in cs) for cs in self.cohorts])


@dataclass
class Event:
    interval: int  # index in the delivered series
    asset: str
    kind: str  # end_of_life | replacement | augmentation
    soh_before: float
    mwh_bought: float = 0.0


class BatteryPlant:
    """Executes plans for the batteries of a site; `site` is the site as it is now (aged)."""

    def __init__(self, site: Site, physics, dt_hours: float, temperature_c: np.ndarray,
                 state: PlantState | None = None):
        self.nameplate = site
        self.physics = physics  # simulate.config.BatteryModel
        self.dt = dt_hours
        self.temperature_c = temperature_c  # per interval of the period to deliver
        bats = site.batteries
        self.state = state or PlantState(np.array([b.energy_mwh * b.soc_initial for b in bats]),
                                         [[Cohort(b.energy_mwh)] for b in bats])
        self.aging_model = model(physics.chemistry)
        self.steps_per_update = max(int(round(physics.soh_update_days * 24 / dt_hours)), 1)
        self._history: list[np.ndarray] = []  # delivered SoC fractions since the last ageing update
        self._last_frac = self.state.soc_mwh / self.state.capacity_mwh()
        self.delivered = 0
        self.events: list[Event] = []
        self.soh_log: list[dict] = []  # one row per battery and ageing update
        self.eol_reported: set[str] = set()
        self.site = self._aged_site()
        arr = lambda attr: np.array([getattr(b, attr) for b in bats], dtype=float)  # noqa: E731
        self._const = (arr("soc_min"), arr("soc_max"), arr("charge_efficiency"), arr("discharge_efficiency"),
                       exact.power(1.0 - arr("standby_loss_per_hour"), dt_hours), arr("charge_mw"), arr("discharge_mw"))
        d = physics.derating
        self._curves = tuple(np.array(v, dtype=float) for v in (
            [x for x, _ in d.charge], [y for _, y in d.charge], [x for x, _ in d.discharge], [y for _, y in d.discharge]))

    def soh(self) -> np.ndarray:
        return self.state.capacity_mwh() / np.array([b.energy_mwh for b in self.nameplate.batteries])

    def _aged_site(self) -> Site:
        caps = self.state.capacity_mwh()
        it = iter(caps)
        assets = [a.model_copy(update={"energy_mwh": float(next(it))}) if isinstance(a, Battery) else a
                  for a in self.nameplate.assets]
        return self.nameplate.model_copy(update={"assets": assets})

    def deliver(self, charge: np.ndarray, discharge: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Execute the planned charge / discharge (asset x interval, MW) from the current state;
        returns what was done: charge, discharge and SoC at the end of each interval (MWh)."""
        n = charge.shape[1]
        out_c, out_d, out_s = (np.empty_like(charge) for _ in range(3))
        k = 0
        while k < n:  # in pieces that end at ageing updates, so each piece runs on the capacity it had
            room = self.steps_per_update - sum(h.shape[1] for h in self._history)
            m = min(room, n - k)
            cap = self.state.capacity_mwh()
            c, d, s = _execute(np.ascontiguousarray(charge[:, k:k + m]), np.ascontiguousarray(discharge[:, k:k + m]),
                               self.state.soc_mwh, cap, *self._const, *self._curves, self.dt)
            out_c[:, k:k + m], out_d[:, k:k + m], out_s[:, k:k + m] = c, d, s
            self.state.soc_mwh = s[:, -1].copy()
            self._history.append(s / cap[:, None])
            k += m
            self.delivered += m
            if m == room:
                self._age()
        return out_c, out_d, out_s

    def _age(self) -> None:
        """Advance every cohort's fade over the delivered period, then apply the end-of-life policy."""
        frac = np.concatenate([self._last_frac[:, None], *self._history], axis=1)
        self._history = []
        self._last_frac = frac[:, -1].copy()
        t0 = self.delivered - (frac.shape[1] - 1)
        temp = self.temperature_c[t0:self.delivered] if self.temperature_c.size > 1 else self.temperature_c
        temp = np.r_[temp[:1], temp] if temp.size > 1 else temp
        pm = self.physics
        for i, bat in enumerate(self.nameplate.batteries):
            for cohort in self.state.cohorts[i]:
                cohort.aging = self.aging_model.advance(cohort.aging, stress(frac[i], self.dt, temp, cohort.aging.soh))
            soh = self.soh()[i]
            self.soh_log.append({"interval": self.delivered - 1, "asset": bat.id, "soh": float(soh),
                                 "calendar_fade": float(np.mean([c.aging.calendar for c in self.state.cohorts[i]])),
                                 "cycle_fade": float(np.mean([c.aging.cycle for c in self.state.cohorts[i]])),
                                 "efc": float(self.state.cohorts[i][0].aging.efc)})
            if soh >= pm.end_of_life_soh:
                continue
            if pm.replacement == "replace":
                self.state.cohorts[i] = [Cohort(bat.energy_mwh)]
                self.events.append(Event(self.delivered - 1, bat.id, "replacement", float(soh), bat.energy_mwh))
            elif pm.replacement == "augment":
                add = (pm.augment_to_soh - soh) * bat.energy_mwh
                self.state.cohorts[i].append(Cohort(add))
                self.events.append(Event(self.delivered - 1, bat.id, "augmentation", float(soh), add))
            elif bat.id not in self.eol_reported:
                self.eol_reported.add(bat.id)
                self.events.append(Event(self.delivered - 1, bat.id, "end_of_life", float(soh)))
        cap = self.state.capacity_mwh()
        self.state.soc_mwh = np.minimum(self.state.soc_mwh, cap * self._const[1])
        self._last_frac = self.state.soc_mwh / cap
        self.site = self._aged_site()
