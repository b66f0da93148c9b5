"""Example site constraints, named from a site file's `constraints` (docs/optimize.md).

Each function is called once per window the optimiser builds (a whole `optimize` window, each day
of a backtest, each case of a sweep) and adds rows through `rules`.
"""
import numpy as np

from bess_ray import site_constraint


@site_constraint
def evening_reserve(rules, fraction: float = 0.8, hour: int = 18):
    """At least `fraction` of every battery's energy stored through the local hour `hour` (a
    backup promise to the site's owner for the evening peak)."""
    t = np.flatnonzero(rules.hour == hour)
    for b, battery in enumerate(rules.batteries):
        rules.add(f"soc_{battery}", [(rules.soc[b, t], 1.0)], lo=fraction * rules.energy_mwh[b], t=t)


@site_constraint
def daily_discharge(rules, mwh: float):
    """At most `mwh` discharged by the whole site per local day (a warranty's throughput cap)."""
    day = np.broadcast_to(rules.day, rules.discharge.shape)
    rules.add("energy", [(rules.discharge, rules.dt_hours, day)], hi=mwh)
