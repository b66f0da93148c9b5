"""A user's own constraints, applied to every LP built for a site (`blocks.build`).

A site file names them:

    constraints:
      - function: my_rules.py:morning_reserve     # or an importable package.module:function
        params: {fraction: 0.8, hour: 7}

and the function, marked with `@bess_ray.site_constraint`, adds rows through the `Rules` it is
given, once per window: the whole window of `optimize`, each day (and re-plan) of a walk-forward
backtest, each case of a sweep, each trading flow. Because every path builds its LP through
`build`, the rule holds on all of them. Its rows form the family "user": an infeasibility they
cause is named by their label, never blamed on the SoC or the final-SoC rule.
"""
from __future__ import annotations

import re
from typing import TYPE_CHECKING

import numpy as np

from ..errors import ConfigError
from ..plugins import load_object
from ..timegrid import iso
from .lp import INF

if TYPE_CHECKING:
    from .blocks import Formulation

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class Rules:
    """One window's LP as a user's constraint sees it.

    Columns are integer arrays of LP columns, to be combined in `add`:
    `charge[b, t]`, `discharge[b, t]` (MW at the terminals, >= 0), `soc[b, t]` (MWh at the *end*
    of interval t), `soc_start[b]` (the fixed SoC the window starts from), `generation[g, t]` (MW
    of PV / wind fed in, or None), `reserve[product][b, block]` (MW held) with `block_of[product][t]`.
    b counts `batteries` (ids, in the site's order), g counts `generators`.

    Time, one value per interval: `timestamps` (UTC start), `local` (the zone's wall time),
    `hour` (local hour 0-23), `weekday` (0 = Monday), `day` (0-based local day within the
    window); `dt_hours` is the interval's length. A window may start mid-day (an intraday re-plan):
    select intervals by their time, never by their position.
    """

    def __init__(self, f: "Formulation", timezone: str, label: str) -> None:
        self._lp, self._label = f.lp, label
        self.batteries = [b.id for b in f.batteries]
        self.energy_mwh = np.array([b.energy_mwh for b in f.batteries])
        self.generators = [g.id for g in f.site.generators] if f.generation is not None else []
        self.charge, self.discharge, self.soc, self.soc_start = f.charge, f.discharge, f.soc, f.soc_start
        self.generation = f.generation
        self.reserve, self.block_of = dict(f.reserve), dict(f.block_of)
        grid = f.market.grid
        self.timestamps = grid.timestamps
        self.dt_hours = grid.dt_hours
        self.local = grid.local_times(timezone)
        self.hour = self.local.astype("datetime64[h]").astype(np.int64) % 24
        days = self.local.astype("datetime64[D]")
        self.weekday = (days.astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday
        self.day = (days - days[0]).astype(np.int64)
        self.added: list[str] = []

    def battery(self, battery_id: str) -> int:
        """The row of `battery_id` in the battery arrays."""
        try:
            return self.batteries.index(battery_id)
        except ValueError:
            raise ValueError(f"no battery {battery_id!r} at this site (batteries: {', '.join(self.batteries)})") from None

    def add(self, name: str, terms, lo=-INF, hi=INF, t=None) -> None:
        """Add rows lo <= sum of coef x column <= hi.

        Each term is `(columns, coef)`: entry i of `columns` goes to row i; or `(columns, coef,
        row)` with the row of each entry (sums: `row=rules.day` adds one row per day). `coef`, `lo`
        and `hi` broadcast. `t` says which interval each row belongs to (for messages); rows one
        per interval of the window are known to be so without it.
        """
        if not _NAME.match(str(name)):
            raise ValueError(f"row name {name!r}: letters, digits and _ only")
        full = f"{self._label}.{name}"
        if full in self._lp.row_groups:
            raise ValueError(f"rows {name!r} were added already")
        parsed, n = [], 0
        for k, term in enumerate(terms):
            if len(term) not in (2, 3):
                raise ValueError(f"{name}: term {k} must be (columns, coef) or (columns, coef, row)")
            cols = np.asarray(term[0])
            if not np.issubdtype(cols.dtype, np.integer) or (cols.size and (cols.min() < 0 or cols.max() >= self._lp.num_col)):
                raise ValueError(f"{name}: term {k}: columns must be taken from the rules' arrays (charge, soc, ...)")
            coef = _fit(term[1], cols.shape, f"{name}: term {k}: coef", float)
            if not np.all(np.isfinite(coef)):
                raise ValueError(f"{name}: term {k}: a coefficient is NaN or infinite")
            row = None
            if len(term) == 3:
                row = _fit(term[2], cols.shape, f"{name}: term {k}: row", None)
                if not np.issubdtype(row.dtype, np.integer) or (row.size and row.min() < 0):
                    raise ValueError(f"{name}: term {k}: row indices must be integers >= 0")
            n = max(n, cols.size if row is None else int(row.max(initial=-1)) + 1)
            parsed.append((row, cols, coef))
        if not parsed or n == 0:
            raise ValueError(f"{name}: no terms")
        for k, (row, cols, _) in enumerate(parsed):
            if row is None and cols.size != n:
                raise ValueError(f"{name}: term {k} has {cols.size} entries for {n} rows; give each entry its row")
        lo, hi = _fit(lo, (n,), f"{name}: lo", float), _fit(hi, (n,), f"{name}: hi", float)
        if np.any(np.isnan(lo)) or np.any(np.isnan(hi)) or np.any(lo > hi):
            raise ValueError(f"{name}: lo and hi must be numbers with lo <= hi")
        T = self.timestamps.size
        per_interval = t is None and n == T
        self._lp.add_rows(full, "user", n, parsed, lo=lo, hi=hi,
                          t=None if t is None else np.broadcast_to(np.asarray(t, int), (n,)),
                          axes=("t",) if per_interval else (), shape=(T,) if per_interval else ())
        self.added.append(full)


def _fit(value, shape: tuple[int, ...], what: str, dtype) -> np.ndarray:
    arr = np.asarray(value, dtype)
    try:
        return np.broadcast_to(arr, shape)
    except ValueError:
        raise ValueError(f"{what}: shape {arr.shape} does not fit {shape}") from None


def apply(f: "Formulation", timezone: str) -> list[str]:
    """Call each of the site's constraints on the built formulation; the row groups they added."""
    added = []
    for i, c in enumerate(f.site.constraints):
        rules = Rules(f, timezone, c.label)
        try:
            load_object(c.function)(rules, **c.params)
        except Exception as e:  # noqa: BLE001 - the user's code: named with its window, the run stops clearly
            raise ConfigError(f"site {f.site.id}: constraints[{i}] ({c.label}, {c.function}) failed on the window "
                              f"from {iso(rules.timestamps[0])}: {type(e).__name__}: {e}") from None
        added += rules.added
    return added
