"""The one money model: what a schedule earns, stream by stream, at given prices.

The optimiser's answer, the backtests (a forecast's plan on actual prices), the simulations (the
plan through the battery's physics) and the reconciliation of plans all settle through `settle`.
Each stream is EUR per row and interval; the rows are the batteries, then the generators:

- `da`: a battery's day-ahead position x the day-ahead price; `generation_da` the generators';
- `<reserve product>`: the capacity held x its price (EUR/MW/h) x hours;
- `intraday`: what the final plan trades against the day-ahead position, at the intraday price;
  the half spread is paid on the *site's* net trade (moving energy between assets crosses no
  spread) and shared by each row's part of the gross trade;
- `imbalance`: what was delivered off the plan (a derated battery, an SoC limit, real-time
  curtailment) at the day-ahead price, less a penalty on the site's net deviation, shared alike;
- `feed_in_premium`: the premium on generation that was exported (not charged into a battery);
- `auxiliary`: HVAC / BMS power bought at the day-ahead price (on the first row);
- `degradation`: the dispatch's wear, per MWh discharged and per MWh charged, negative. It is not
  cash: revenue leaves it out, profit takes it in, and simulations count ageing as replacements
  instead.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

EPS = 1e-6
NOT_CASH = ("degradation",)


@dataclass
class Delivery:
    """What a schedule sold and held, and what was delivered: MW per row and interval."""

    position: np.ndarray  # battery x T: the day-ahead position
    net: np.ndarray  # battery x T: the plan after intraday revisions
    discharge: np.ndarray  # battery x T: what the batteries discharged (degradation cost)
    reserves: dict[str, np.ndarray] = field(default_factory=dict)  # battery x T: capacity held
    delivered: np.ndarray | None = None  # battery x T: net really delivered; None = as planned
    generation: np.ndarray | None = None  # generator x T: the plan's output
    generation_position: np.ndarray | None = None  # generator x T: its day-ahead position
    generation_delivered: np.ndarray | None = None  # generator x T: after real-time curtailment
    exported: np.ndarray | None = None  # generator x T: the part that was exported (premium)
    charge: np.ndarray | None = None  # battery x T: what they charged (throughput cost)


@dataclass
class Terms:
    """The prices and rules the money is settled on (per interval unless said)."""

    da: np.ndarray  # EUR/MWh
    capacity: dict[str, np.ndarray] = field(default_factory=dict)  # EUR/MW/h per reserve product
    intraday: np.ndarray | None = None  # EUR/MWh; default: the day-ahead price (a proxy)
    spread: float = 0.0  # EUR/MWh, half the intraday bid-ask spread
    imbalance_penalty: float = 0.0  # EUR/MWh on the site's net deviation from the plan
    premium: np.ndarray | None = None  # generator x T, EUR/MWh on exported generation
    auxiliary_mw: float = 0.0
    degradation_eur_mwh: np.ndarray | None = None  # per battery, per MWh discharged
    degradation_charge_eur_mwh: np.ndarray | None = None  # per battery, per MWh charged

    @classmethod
    def wear_of(cls, fleet) -> dict:
        """The wear terms of a site's batteries (`config.Fleet`), as keyword arguments."""
        return {"degradation_eur_mwh": fleet.discharge_cost_eur_mwh,
                "degradation_charge_eur_mwh": fleet.charge_cost_eur_mwh}


def _shared(value_per_row: np.ndarray, qty: np.ndarray, rate: float) -> np.ndarray:
    """value_per_row less `rate` x |the site's net qty|, shared by each row's part of the gross."""
    if not rate:
        return value_per_row
    gross = np.abs(qty).sum(axis=0)
    share = np.divide(np.abs(qty), gross, out=np.zeros_like(qty), where=gross > EPS)
    return value_per_row - share * np.abs(qty.sum(axis=0)) * rate


def settle(d: Delivery, terms: Terms, dt: float) -> dict[str, np.ndarray]:
    """Revenue per stream, EUR per row (batteries, then generators) and interval."""
    A, T = d.position.shape
    G = 0 if d.generation is None else d.generation.shape[0]
    rows = lambda battery=None, generator=None: np.concatenate(  # noqa: E731
        [battery if battery is not None else np.zeros((A, T)), generator if generator is not None else np.zeros((G, T))])
    price = terms.da
    out = {"da": rows(price * d.position * dt)}
    if G:
        out["generation_da"] = rows(generator=price * d.generation_position * dt)
    for p, held in d.reserves.items():
        out[p] = rows(terms.capacity[p] * held * dt)

    planned = rows(d.net, d.generation)
    trade = planned - rows(d.position, d.generation_position)
    if np.any(np.abs(trade) > EPS):
        intraday = price if terms.intraday is None else terms.intraday
        out["intraday"] = _shared(trade * intraday * dt, trade, terms.spread * dt)
    if d.delivered is not None:
        off = rows(d.delivered, d.generation_delivered) - planned
        out["imbalance"] = _shared(off * price * dt, off, terms.imbalance_penalty * dt)
    if G and terms.premium is not None and np.any(terms.premium):
        out["feed_in_premium"] = rows(generator=terms.premium * d.exported * dt)
    if terms.auxiliary_mw:
        aux = np.zeros((A + G, T))
        aux[0] = -terms.auxiliary_mw * price * dt
        out["auxiliary"] = aux
    cost = np.zeros(A) if terms.degradation_eur_mwh is None else np.asarray(terms.degradation_eur_mwh, float)
    wear = cost[:, None] * d.discharge
    if terms.degradation_charge_eur_mwh is not None and np.any(terms.degradation_charge_eur_mwh):
        if d.charge is None:
            raise ValueError("a throughput cost needs the charged energy (Delivery.charge)")
        wear = wear + np.asarray(terms.degradation_charge_eur_mwh, float)[:, None] * d.charge
    out["degradation"] = rows(-wear * dt)
    return out


def revenue(streams: dict[str, np.ndarray]) -> np.ndarray:
    """Revenue per row and interval: every stream but those that are not cash."""
    return sum((v for k, v in streams.items() if k not in NOT_CASH), np.zeros_like(streams["da"]))


def totals(streams: dict[str, np.ndarray]) -> dict[str, float]:
    """EUR per stream over all rows and intervals."""
    return {k: float(v.sum()) for k, v in streams.items()}
