"""Schedules and money out of a solved formulation: polars frames, Parquet / CSV, summary.json."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from .. import artifacts
from ..markets import PRODUCTS
from ..markets import settlement as money
from ..markets.settlement import Delivery, Terms
from ..timegrid import iso, utc_series
from .blocks import Formulation

# revenue streams that are not market products: the generators' (markets.settlement)
STREAM_LABELS = {"generation_da": "generation on the day-ahead market", "feed_in_premium": "feed-in premium"}


@dataclass
class OptimizationResult:
    """`schedule`: one row per interval and asset; `site_schedule`: one row per interval."""

    schedule: pl.DataFrame
    site_schedule: pl.DataFrame
    summary: dict
    formulation: Formulation | None = field(default=None, repr=False)

    @property
    def revenue_eur(self) -> float:
        return self.summary["revenue_eur"]

    @property
    def status(self) -> str:
        return self.summary["status"]

    def write(self, out_dir: str | Path, formats: tuple[str, ...] = ("parquet",)) -> Path:
        """Write schedule.{parquet,csv}, site_schedule.{parquet,csv} and summary.json into out_dir."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        for fmt in formats:
            for name, frame in (("schedule", self.schedule), ("site_schedule", self.site_schedule)):
                artifacts.write(out / f"{name}.{fmt}", frame)
        artifacts.write(out / "summary.json", self.summary)
        return out

    def describe(self) -> str:
        s = self.summary
        lines = [
            f"site {s['site']} ({s['zone']}), {s['window']['start']} .. {s['window']['end']}, "
            f"{s['window']['intervals']} x {s['window']['resolution_min']} min, products {', '.join(s['products'])}",
            f"status {s['status']}; build {s['build_seconds']:.3f} s, solve {s['solve_seconds']:.3f} s ({s['backend']}, "
            f"{s.get('solved_as', 'one LP')})",
            f"revenue {s['revenue_eur']:,.2f} EUR",
        ]
        for p, v in s["revenue_by_product_eur"].items():
            label = PRODUCTS[p].label if p in PRODUCTS else STREAM_LABELS[p]
            lines.append(f"  {label:<34} {v:>14,.2f} EUR")
        if s["degradation_cost_eur"]:
            lines.append(f"  {'degradation cost':<34} {-s['degradation_cost_eur']:>14,.2f} EUR")
            lines.append(f"profit {s['profit_eur']:,.2f} EUR")
        for a, v in s["assets"].items():
            if "generated_mwh" in v:
                lines.append(f"  asset {a}: {v['revenue_eur']:,.2f} EUR, {v['generated_mwh']:,.1f} MWh generated, "
                             f"{v['curtailed_mwh']:,.1f} MWh curtailed, {v['into_batteries_mwh']:,.1f} MWh into batteries")
            else:
                lines.append(f"  asset {a}: {v['revenue_eur']:,.2f} EUR, {v['equivalent_full_cycles']:.1f} full cycles")
        for note in s.get("notes", []):
            lines.append(f"note: {note}")
        return "\n".join(lines)


def build_result(f: Formulation, x: np.ndarray, status: str, build_seconds: float, solve_seconds: float,
                 backend: str, objective: float, extra: dict | None = None) -> OptimizationResult:
    lp = f.lp
    grid = f.market.grid
    A, T, dt = len(f.batteries), grid.periods, grid.dt_hours
    col = lambda cols: x[cols]  # noqa: E731 - column values, same shape as the handle
    charge, discharge, soc = col(f.charge), col(f.discharge), col(f.soc)
    net = discharge - charge
    reserves = {p: col(r)[:, f.block_of[p]] for p, r in f.reserve.items()}
    da = f.market.prices["da"]
    gens = f.generators
    G = len(gens.ids) if gens is not None else 0
    gen = col(f.generation) if G else np.zeros((0, T))
    into = col(f.to_battery) if G and f.to_battery is not None else np.zeros_like(gen)
    # the one money model: a perfect-foresight plan is its own day-ahead position, delivered as planned;
    # generation earns its premium on what was exported, not on what charged a battery
    streams = money.settle(Delivery(net, net, discharge, reserves, charge=charge,
                                    generation=gen if G else None, generation_position=gen, exported=gen - into),
                           Terms(da, {p: f.market.prices[p] for p in reserves}, premium=gens.premium(da) if G else None,
                                 **Terms.wear_of(f.site.fleet)), dt)
    deg = -streams.pop("degradation")
    revenue, total = streams, money.revenue(streams)

    ts = np.tile(grid.timestamps, A)
    ids = np.repeat([b.id for b in f.batteries], T)
    energy = f.site.fleet.energy_mwh[:, None]
    rows = slice(0, A)
    cols = {
        "timestamp": utc_series(ts),
        "asset": ids,
        "charge_mw": charge.ravel(), "discharge_mw": discharge.ravel(), "net_mw": net.ravel(),
        "soc_end_mwh": soc.ravel(), "soc_end_frac": (soc / energy).ravel(),
        **{f"reserve_{p}_mw": r.ravel() for p, r in reserves.items()},
        "price_da_eur_mwh": np.tile(da, A),
        **{f"revenue_{p}_eur": v[rows].ravel() for p, v in revenue.items()},
        "degradation_cost_eur": deg[rows].ravel(),
        "revenue_eur": total[rows].ravel(),
    }
    site_net = net.sum(axis=0) + gen.sum(axis=0)
    schedule = pl.DataFrame({**cols, "site_net_mw": np.tile(site_net, A)})
    if G:  # one row per generator and interval beside the batteries' (their battery columns null)
        rows = slice(A, A + G)
        available = gens.available_mw
        schedule = pl.concat([schedule, pl.DataFrame({
            "timestamp": utc_series(np.tile(grid.timestamps, G)),
            "asset": np.repeat(gens.ids, T), "net_mw": gen.ravel(),
            "generation_mw": gen.ravel(), "available_mw": available.ravel(),
            "curtailed_mw": (available - gen).ravel(), "to_battery_mw": into.ravel(),
            "price_da_eur_mwh": np.tile(da, G),
            **{f"revenue_{p}_eur": v[rows].ravel() for p, v in revenue.items()},
            "degradation_cost_eur": deg[rows].ravel(), "revenue_eur": total[rows].ravel(),
            "site_net_mw": np.tile(site_net, G)})], how="diagonal")
    site = pl.DataFrame({
        "timestamp": grid.series(),
        "net_mw": site_net,
        "import_mw": np.maximum(-site_net, 0.0), "export_mw": np.maximum(site_net, 0.0),
        **({"generation_mw": gen.sum(axis=0), "curtailed_mw": (gens.available_mw - gen).sum(axis=0)} if G else {}),
        **{f"reserve_{p}_mw": r.sum(axis=0) for p, r in reserves.items()},
        "price_da_eur_mwh": da,
        **{f"revenue_{p}_eur": v.sum(axis=0) for p, v in revenue.items()},
        "revenue_eur": total.sum(axis=0),
    })
    by_product = {p: float(v.sum()) for p, v in revenue.items()}
    rev = float(sum(by_product.values()))
    assets = {
        b.id: {
            "revenue_eur": float(total[i].sum()),
            "charged_mwh": float(charge[i].sum() * dt),
            "discharged_mwh": float(discharge[i].sum() * dt),
            "equivalent_full_cycles": float(discharge[i].sum() * dt / b.usable_mwh),
        }
        for i, b in enumerate(f.batteries)
    }
    for j, (g, energy) in enumerate(gens.energy_mwh(gen, into, dt).items() if G else ()):
        assets[g] = {"revenue_eur": float(total[A + j].sum()), **energy}
    summary = {
        "site": f.site.id, "zone": f.site.zone, "products": list(f.products),
        "window": {"start": iso(grid.start), "end": iso(grid.end), "resolution_min": grid.resolution_min,
                   "intervals": T},
        "status": status,
        "revenue_eur": rev,
        "revenue_by_product_eur": by_product,
        "degradation_cost_eur": float(deg.sum()),
        "profit_eur": rev - float(deg.sum()),
        "objective_eur": -(objective - lp.tie_break_of(x)),  # money: the tie-break only picks among equals
        "assets": assets,
        "backend": backend,
        "build_seconds": build_seconds,
        "solve_seconds": solve_seconds,
        "num_variables": lp.num_col, "num_constraints": lp.num_row,
        "data_sources": f.market.sources,
        **(extra or {}),
    }
    return OptimizationResult(schedule, site, summary, f)
