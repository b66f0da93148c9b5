"""Capacity fade: calendar ageing by time, SoC and temperature; cycle ageing per rainflow cycle by
depth of discharge, mean SoC and C-rate.

Two published parameter sets, each the cell-level life model that NREL's BLAST-Lite
(https://github.com/NREL/BLAST-Lite, BSD-3) fitted to a public ageing study:

- `lfp`: a large-format 250 Ah prismatic LFP/graphite cell made for stationary storage (energy /
  power 6 h^-1), tested at NREL: Gasper et al., J. Energy Storage 73 (2023) 109042,
  https://doi.org/10.1016/j.est.2023.109042. Calendar fade grows as t^0.526 with an Arrhenius rate
  that also rises as the anode potential falls (high SoC); cycle fade as EFC^0.828 with a rate
  linear in the cycle's depth of discharge and C-rate. The fit found no mean-SoC effect on cycle
  fade (the cells aged alike at every tested mean SoC), so it has none.
- `nmc`: Sanyo UR18650E NMC111/graphite (2.15 Ah), Schmalstieg et al., J. Power Sources 257 (2014)
  325, https://doi.org/10.1016/j.jpowsour.2014.02.012. Calendar fade grows as t^0.75 with a rate set
  by the open-circuit voltage (SoC) and temperature (Arrhenius); cycle fade as sqrt(Ah throughput)
  with a rate set by the cycle's mean voltage (mean SoC) and depth of discharge. No C-rate effect
  was fitted.

The equations and coefficients are BLAST-Lite's. What differs is how a week of operation becomes
stress: BLAST-Lite takes one depth of discharge per update (max - min SoC of the window); here every
rainflow cycle (ASTM E1049, `rainflow.cycles`) carries its own depth, mean SoC and C-rate, and the
week's cycle rate is their throughput-weighted mean. On a steady daily cycle both agree (a test
checks it against BLAST-Lite itself); on mixed operation (many shallow reserve cycles and one deep
arbitrage cycle) the per-cycle view does not charge shallow cycles as deep ones.
The models hold within their test ranges: LFP cycled at 10-45 C and at most 0.65 C charging, NMC at
35-50 C storage and 0-100 % DoD at 1 C.

States advance by "virtual time": the current fade is mapped back onto the trajectory of the
current stress rates and moved forward by the elapsed days (calendar) or throughput (cycle), so
a changing duty gives a continuous, path-dependent fade.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from .. import exact
from ..analytics.rainflow import cycles as rainflow_cycles
from ..errors import ConfigError

CHEMISTRIES = ("lfp", "nmc")


def anode_potential(soc: np.ndarray) -> np.ndarray:
    """Graphite anode potential vs Li (V) from SoC: Safari and Delacourt, J. Electrochem. Soc. 158
    (2011) A562, with the stoichiometry window of Schimpe et al. (2017), as used by BLAST-Lite."""
    x = 8.5e-3 + soc * (0.78 - 8.5e-3)
    return (0.6379 + 0.5416 * np.exp(-305.5309 * x) + 0.044 * np.tanh(-(x - 0.1958) / 0.1088)
            - 0.1978 * np.tanh((x - 1.0571) / 0.0854) - 0.6875 * np.tanh((x + 0.0117) / 0.0529)
            - 0.0175 * np.tanh((x - 0.5692) / 0.0875))


# Sanyo UR18650E open-circuit voltage vs SoC (Schmalstieg et al. 2014, as tabulated in BLAST-Lite)
_NMC_SOC = np.array([0, .008637153, .026779514, .044921875, .063064236, .081206597, .099348958, .117491319,
                     .135633681, .153776042, .171918403, .190060764, .208203125, .226345486, .244487847,
                     .262630208, .280772569, .298914931, .317057292, .335199653, .353342014, .371484375,
                     .389626736, .407769097, .425911458, .444053819, .462196181, .480338542, .498480903,
                     .516623264, .534765625, .552907986, .571050347, .589192708, .607335069, .625477431,
                     .643619792, .661762153, .679904514, .698046875, .716189236, .734331597, .752473958,
                     .770616319, .788758681, .806901042, .825043403, .843185764, .861328125, .879470486,
                     .897612847, .915755208, .933897569, .952039931, .970182292, .988324653, .998220486, 1])
_NMC_OCV = np.array([3.331, 3.345014187, 3.37917149, 3.411603677, 3.440585632, 3.466289865, 3.490268982,
                     3.511315401, 3.529946658, 3.547197821, 3.561688798, 3.574972194, 3.586357962, 3.597053683,
                     3.605506753, 3.613442288, 3.620342753, 3.626380661, 3.632073544, 3.63690387, 3.642079219,
                     3.646909545, 3.652084894, 3.657605266, 3.663470662, 3.670198615, 3.677444104, 3.686759732,
                     3.696420384, 3.708323686, 3.720572012, 3.734372943, 3.749553967, 3.765252525, 3.781123596,
                     3.797857224, 3.814590852, 3.832532062, 3.849783226, 3.866861877, 3.884458064, 3.900846669,
                     3.917752809, 3.934831461, 3.953462717, 3.971921462, 3.991415276, 4.011771649, 4.03195551,
                     4.05196686, 4.070770628, 4.087849279, 4.104237884, 4.120108955, 4.135980025, 4.152541142,
                     4.160649189, 4.162])


def nmc_voltage(soc: np.ndarray) -> np.ndarray:
    return np.interp(soc, _NMC_SOC, _NMC_OCV)


@dataclass(frozen=True)
class AgingState:
    """Fade so far as fractions of the nameplate capacity, and the stress history's totals."""

    calendar: float = 0.0
    cycle: float = 0.0
    days: float = 0.0
    efc: float = 0.0  # full equivalent cycles (discharged energy / capacity)

    @property
    def soh(self) -> float:
        return max(0.0, 1.0 - self.calendar - self.cycle)


@dataclass(frozen=True)
class Stress:
    """One period's operation, reduced to what the models need."""

    days: float
    efc: float
    soc: np.ndarray  # SoC fraction of the current capacity, per interval
    temperature_k: np.ndarray  # per interval (or one value)
    cycles: np.ndarray  # rainflow rows: range, mean, count, start, end
    c_rate: np.ndarray  # per cycle: its throughput / its duration, in capacities per hour


def stress(soc: np.ndarray, dt_hours: float, temperature_c, soh: float = 1.0) -> Stress:
    """Stress of a SoC series (fractions of the current capacity) at interval boundaries, `dt_hours`
    apart: n + 1 points span n intervals."""
    soc = np.clip(np.asarray(soc, dtype=float), 0.0, 1.0)
    c = rainflow_cycles(soc)
    duration_h = np.maximum((c[:, 4] - c[:, 3]) * dt_hours, dt_hours) if c.size else np.zeros(0)
    # a half cycle is one direction: its range at its C-rate; a full cycle goes both ways
    c_rate = c[:, 0] / (duration_h / (2.0 * c[:, 2])) if c.size else np.zeros(0)
    efc = float((c[:, 0] * c[:, 2]).sum()) * soh if c.size else 0.0  # Ah per nameplate Ah, as BLAST-Lite
    t_k = np.broadcast_to(np.asarray(temperature_c, dtype=float) + 273.15, soc.shape)
    return Stress((soc.size - 1) * dt_hours / 24.0, efc, soc, t_k, c, c_rate)


# Fade is kept to 1e-12 of capacity: the stress factors come from numpy's exp / tanh, whose last
# bits differ between CPUs (bess_ray/exact.py), and fade carries into every later week's capacity.
FADE_QUANTUM = 1e-12


def _power_advance(y0: float, dx: float, k: float, p: float) -> float:
    """y = k x^p, advanced by dx from the virtual x at which it equals y0 (to FADE_QUANTUM)."""
    if dx <= 0 or k <= 0:
        return y0
    x0 = (y0 / k) ** (1.0 / p) if y0 > 0 else 0.0
    return exact.quantize(k * (x0 + dx) ** p, FADE_QUANTUM)


def _weighted(values: np.ndarray, weights: np.ndarray) -> float:
    w = weights.sum()
    return float((values * weights).sum() / w) if w > 0 else 0.0


class Lfp250AhPrismatic:
    """LFP/graphite, large-format 250 Ah prismatic stationary-storage cell (see the module docstring)."""

    chemistry = "lfp"
    p1, p2, p3, pcal = 8.37e+04, -5.21e+03, -3.56e+03, 0.526
    p4, p5, p6, p7, p8, pcyc = 4.38e-08, 1.55e-08, 1.68e-07, 2.19e+03, 1.55e+05, 0.828

    def cycle_rate(self, s: Stress) -> float:
        t_k = float(np.mean(s.temperature_k))
        k = (self.p4 + self.p5 * s.cycles[:, 0] + self.p6 * s.c_rate) * (np.exp(self.p7 / t_k) + np.exp(-self.p8 / t_k))
        return _weighted(k, s.cycles[:, 0] * s.cycles[:, 2])

    def advance(self, state: AgingState, s: Stress) -> AgingState:
        k_cal = float(np.mean(self.p1 * np.exp(self.p2 / s.temperature_k)
                              * np.exp(self.p3 * anode_potential(s.soc) / s.temperature_k)))
        cal = _power_advance(state.calendar, s.days, k_cal, self.pcal)
        cyc = _power_advance(state.cycle, s.efc, self.cycle_rate(s), self.pcyc) if s.cycles.size else state.cycle
        return replace(state, calendar=cal, cycle=cyc, days=state.days + s.days, efc=state.efc + s.efc)


class Nmc111Sanyo:
    """NMC111/graphite, Sanyo UR18650E 2.15 Ah (Schmalstieg et al. 2014)."""

    chemistry = "nmc"
    cell_ah = 2.15
    cal = (7.543, -23.75, -6976.0, 0.75)
    cyc = (7.348e-3, 3.667, 7.6e-4, 4.081e-3, 0.5)

    def cycle_rate(self, s: Stress) -> float:
        a, v0, c, d, _ = self.cyc
        v = nmc_voltage(s.cycles[:, 1])  # the cycle's mean SoC as its mean voltage
        beta = a * (v - v0) ** 2 + c + d * s.cycles[:, 0]
        return _weighted(beta, s.cycles[:, 0] * s.cycles[:, 2])

    def advance(self, state: AgingState, s: Stress) -> AgingState:
        a, b, e, p = self.cal
        alpha = float(np.mean((a * nmc_voltage(s.soc) + b) * 1e6 * np.exp(e / s.temperature_k)))
        cal = _power_advance(state.calendar, s.days, max(alpha, 0.0), p)
        cyc = state.cycle
        if s.cycles.size:
            ah = s.efc * 2.0 * self.cell_ah  # charge and discharge throughput of one cell
            cyc = _power_advance(state.cycle, ah, self.cycle_rate(s), self.cyc[4])
        return replace(state, calendar=cal, cycle=cyc, days=state.days + s.days, efc=state.efc + s.efc)


MODELS = {"lfp": Lfp250AhPrismatic, "nmc": Nmc111Sanyo}


def model(chemistry: str):
    try:
        return MODELS[chemistry]()
    except KeyError:
        raise ConfigError(f"unknown chemistry {chemistry!r}; known: {', '.join(MODELS)}") from None


def synthetic_soc(cycles_per_day: float, dod: float, c_rate: float, mean_soc: float = 0.5,
                  dt_hours: float = 0.25, days: int = 7) -> np.ndarray:
    """A SoC profile of `days` days with the given number of equal cycles a day (expected cycling)."""
    steps = int(round(24 / dt_hours))
    soc = np.full(days * steps + 1, mean_soc)
    if cycles_per_day <= 0 or dod <= 0:
        return soc
    n = int(np.ceil(cycles_per_day))
    depth = dod * cycles_per_day / n  # whole cycles a day, no deeper than dod, with the daily throughput
    ramp = max(int(round(depth / max(c_rate, 1e-6) / dt_hours)), 1)
    period = steps // n
    lo, hi = mean_soc - depth / 2, mean_soc + depth / 2
    for d in range(days):
        for k in range(n):
            t = d * steps + k * period
            up = np.linspace(lo, hi, ramp + 1)
            seg = np.r_[up, np.full(max(period // 2 - 2 * ramp, 0), hi), up[::-1]][: period]
            soc[t:t + seg.size] = seg
            soc[t + seg.size:(d * steps + (k + 1) * period)] = lo
    soc[-1] = lo  # the next week starts where this one did: weeks chain without an extra half cycle
    return np.clip(soc, 0.0, 1.0)
