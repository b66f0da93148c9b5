"""Project finance of a storage asset: yearly cash flows, NPV, IRR, LCOS and payback.

Conventions: year 0 carries the capex; years 1..N the operating cash flows. Costs quoted in
today's money (opex, replacements) escalate with `inflation`; `discount_rate` is nominal. LCOS
follows Schmidt, Melchior, Hawkes and Staffell, "Projecting the Future Levelized Cost of
Electricity Storage Technologies", Joule 3 (2019): discounted lifetime cost (capex, opex,
charging, replacements) over discounted discharged energy, in EUR/MWh.
"""
from __future__ import annotations

import numpy as np
import polars as pl
from pydantic import Field

from ..config import StrictModel


class Finance(StrictModel):
    capex_eur_per_kwh: float = Field(0.0, ge=0, description="energy-related capex, EUR per kWh of nameplate")
    capex_eur_per_kw: float = Field(0.0, ge=0, description="power-related capex, EUR per kW")
    capex_eur_fixed: float = Field(0.0, ge=0, description="lump sum: grid connection, co-located PV / wind if counted")
    fixed_opex_eur_per_kw_year: float = Field(0.0, ge=0)
    fixed_opex_eur_year: float = Field(0.0, ge=0, description="lump sum a year, e.g. co-located PV O&M")
    variable_opex_eur_per_mwh: float = Field(0.0, ge=0, description="per MWh discharged")
    replacement_cost_eur_per_kwh: float = Field(0.0, ge=0, description="today's cost of replacing the cells")
    discount_rate: float = Field(0.07, gt=-0.99, le=1.0, description="nominal, per year")
    inflation: float = Field(0.02, gt=-0.5, le=0.5, description="escalates opex and replacement costs")

    def capex_eur(self, power_mw: float, energy_mwh: float) -> float:
        return 1000.0 * (self.capex_eur_per_kw * power_mw + self.capex_eur_per_kwh * energy_mwh) + self.capex_eur_fixed


def cash_flows(finance: Finance, power_mw: float, energy_mwh: float, revenue_eur, discharged_mwh,
               charging_cost_eur=None, replacements: dict[int, float] | None = None) -> pl.DataFrame:
    """One row per year 0..N: capex, revenue, opex, replacement, net and cumulative cash (EUR).

    `replacements` maps a year (1..N) to the MWh of cells bought in it (a replacement or an
    augmentation), paid at `replacement_cost_eur_per_kwh` escalated with inflation.

    `revenue_eur` is market revenue net of charging costs (as the optimiser reports it);
    `charging_cost_eur`, if given, is only used for LCOS and must not be subtracted again here.
    """
    revenue = np.asarray(revenue_eur, dtype=float)
    discharged = np.asarray(discharged_mwh, dtype=float)
    n = revenue.size
    if discharged.size != n:
        raise ValueError(f"discharged_mwh has {discharged.size} years, revenue_eur {n}")
    replacements = replacements or {}
    bad = [y for y in replacements if not 1 <= y <= n]
    if bad:
        raise ValueError(f"replacements in years {bad}, outside 1..{n}")
    years = np.arange(n + 1)
    escal = (1.0 + finance.inflation) ** np.maximum(years - 1, 0)
    capex = np.zeros(n + 1)
    capex[0] = finance.capex_eur(power_mw, energy_mwh)
    opex = np.r_[0.0, (finance.fixed_opex_eur_per_kw_year * 1000.0 * power_mw + finance.fixed_opex_eur_year) * escal[1:]
                 + finance.variable_opex_eur_per_mwh * discharged * escal[1:]]
    replacement = np.zeros(n + 1)
    for y, mwh in replacements.items():
        replacement[y] += finance.replacement_cost_eur_per_kwh * 1000.0 * mwh * escal[y]
    rev = np.r_[0.0, revenue]
    net = rev - capex - opex - replacement
    charging = np.r_[0.0, np.asarray(charging_cost_eur, dtype=float)] if charging_cost_eur is not None else np.zeros(n + 1)
    return pl.DataFrame({
        "year": years, "capex_eur": capex, "revenue_eur": rev, "opex_eur": opex, "replacement_eur": replacement,
        "charging_cost_eur": charging, "discharged_mwh": np.r_[0.0, discharged], "net_cash_eur": net,
        "cumulative_cash_eur": np.cumsum(net),
        "discount_factor": (1.0 + finance.discount_rate) ** -years.astype(float),
    })


def npv(rate: float, flows) -> float:
    flows = np.asarray(flows, dtype=float)
    return float((flows * (1.0 + rate) ** -np.arange(flows.size, dtype=float)).sum())


def irr(flows) -> float | None:
    """The rate at which NPV is zero, or None when the flows never change sign or no root is bracketed."""
    flows = np.asarray(flows, dtype=float)
    if not (flows.min() < 0 < flows.max()):
        return None
    lo, hi = -0.99, 10.0
    f_lo, f_hi = npv(lo, flows), npv(hi, flows)
    if np.sign(f_lo) == np.sign(f_hi):
        return None
    from scipy.optimize import brentq  # here, not at the top: scipy costs a config's import 0.5 s

    return float(brentq(npv, lo, hi, args=(flows,), xtol=1e-10, maxiter=500))


def lcos(table: pl.DataFrame) -> float | None:
    """Levelized cost of storage, EUR/MWh discharged (None without discharged energy)."""
    df = table["discount_factor"].to_numpy()
    cost = (table["capex_eur"] + table["opex_eur"] + table["replacement_eur"] + table["charging_cost_eur"]).to_numpy()
    energy = (table["discharged_mwh"].to_numpy() * df).sum()
    return float((cost * df).sum() / energy) if energy > 0 else None


def payback_years(table: pl.DataFrame) -> float | None:
    """Years until the cumulative (undiscounted) cash turns non-negative, interpolated in the year."""
    cum = table["cumulative_cash_eur"].to_numpy()
    after = np.flatnonzero(cum >= 0)
    after = after[after > 0]
    if after.size == 0:
        return None
    y = int(after[0])
    return float(y - 1 + (-cum[y - 1]) / (cum[y] - cum[y - 1])) if cum[y - 1] < 0 else float(y - 1)


def summarize(finance: Finance, table: pl.DataFrame) -> dict:
    flows = table["net_cash_eur"].to_numpy()
    return {"npv_eur": npv(finance.discount_rate, flows), "irr": irr(flows), "lcos_eur_mwh": lcos(table),
            "payback_years": payback_years(table), "capex_eur": float(table["capex_eur"][0])}
