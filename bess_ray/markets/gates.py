"""Gate closures: when each product for delivery day D must be decided, and when its price is known.

Times used (local clock time of `tz`, on day D-1), each configurable per backtest:

- FCR (FCR cooperation): D-1 08:00 CET. Source: FCR cooperation market design, daily D-1 auction
  with 4-hour products since 1 July 2020 (regelleistung.net, ENTSO-E EB GL FCR page).
- aFRR capacity (Germany): D-1 09:00 CET. Source: regelleistung.net, daily aFRR capacity auction
  with 4-hour products since 2 November 2020.
- Day-ahead (SDAC): D-1 12:00 CET. Source: SDAC / EPEX and Nord Pool day-ahead auction.
- Nordic FCR-N / FCR-D: D-1 18:00 local. Source: the TSOs' D-1 hourly FCR markets (Svenska
  kraftnät, Energinet, Fingrid), whose results are published the evening before delivery.

A price becomes visible `PUBLICATION_DELAY` after its gate (auction results), so a forecast made
at a gate sees every earlier day's cleared prices and none of day D's.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import polars as pl

from ..errors import ConfigError

PUBLICATION_DELAY = timedelta(hours=1)


@dataclass(frozen=True)
class Gate:
    name: str
    products: tuple[str, ...]
    hour: float  # local clock time on D-1 (or D-days_before)
    tz: str = "Europe/Berlin"
    days_before: int = 1


DEFAULT_GATES = (
    Gate("fcr_auction", ("fcr",), 8.0),
    Gate("afrr_auction", ("afrr_up", "afrr_down"), 9.0),
    Gate("day_ahead", ("da",), 12.0),
    Gate("nordic_fcr_auction", ("fcr_n", "fcr_d_up", "fcr_d_down"), 18.0, tz="Europe/Stockholm"),
)


def gates_for(products, gates=DEFAULT_GATES) -> list[Gate]:
    """The gates that commit the given products, in time order on D-1 (UTC offsets of CET/CEST are
    equal for all CE and Nordic zones, so the local hour orders them)."""
    out = []
    for g in gates:
        mine = tuple(p for p in g.products if p in products)
        if mine:
            out.append(Gate(g.name, mine, g.hour, g.tz, g.days_before))
    missing = set(products) - {p for g in out for p in g.products}
    if missing:
        raise ConfigError(f"no gate closes {', '.join(sorted(missing))}")
    return sorted(out, key=lambda g: (-g.days_before, g.hour))


def gate_instants(day_starts_local: pl.Series, gate: Gate) -> np.ndarray:
    """UTC instants (datetime64[us]) of `gate` for delivery days given as local dates."""
    local = (day_starts_local.cast(pl.Datetime("us")) - timedelta(days=gate.days_before)
             + timedelta(hours=gate.hour))
    return local.dt.replace_time_zone(gate.tz).dt.convert_time_zone("UTC").dt.replace_time_zone(None).to_numpy()

